"""The files service over gRPC with the service credential (the files-service seam):
RegisterFile, and the quota reservations of upload sessions (ReserveQuota, ReleaseQuota)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from govault.files.v1 import files_pb2, files_pb2_grpc

from common.files import NewFile
from common.grpc.client import rpc_error_to_domain
from common.grpc.metadata import current_request_id, outgoing_metadata

Resp = TypeVar("Resp")


class GrpcFilesRegistry:
    def __init__(self, stub: files_pb2_grpc.FilesServiceAsyncStub, service_token: str,
                 timeout_s: float) -> None:
        self._stub = stub
        self._service_token = service_token
        self._timeout_s = timeout_s

    async def _call(self, method: Callable[..., Awaitable[Resp]], request: object) -> Resp:
        metadata = outgoing_metadata(service_token=self._service_token,
                                     request_id=current_request_id())
        try:
            return await method(request, timeout=self._timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error_to_domain(exc, "files") from None

    async def register_file(self, registration: NewFile) -> str:
        response = await self._call(self._stub.RegisterFile, registration.to_pb())
        return str(response.file.file_id)

    async def reserve_quota(self, user_id: str, upload_uuid: str, size_bytes: int) -> None:
        """QuotaExceeded (413) when the owner's quota cannot hold the session."""
        await self._call(self._stub.ReserveQuota, files_pb2.ReserveQuotaRequest(
            user_id=user_id, upload_uuid=upload_uuid, bytes=size_bytes))

    async def release_quota(self, upload_uuid: str) -> int:
        response = await self._call(self._stub.ReleaseQuota,
                                    files_pb2.ReleaseQuotaRequest(upload_uuid=upload_uuid))
        return int(response.released_bytes)
