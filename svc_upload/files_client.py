"""FilesService.RegisterFile over gRPC with the service credential (the files-service seam)."""

from __future__ import annotations

import grpc
from govault.files.v1 import files_pb2_grpc

from common.files import NewFile
from common.grpc.client import current_request_id, outgoing_metadata, rpc_error_to_domain


class GrpcFilesRegistry:
    def __init__(self, stub: files_pb2_grpc.FilesServiceAsyncStub, service_token: str,
                 timeout_s: float) -> None:
        self._stub = stub
        self._service_token = service_token
        self._timeout_s = timeout_s

    async def register_file(self, registration: NewFile) -> str:
        request = registration.to_pb()
        metadata = outgoing_metadata(service_token=self._service_token,
                                     request_id=current_request_id())
        try:
            response = await self._stub.RegisterFile(request, timeout=self._timeout_s,
                                                     metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error_to_domain(exc, "files") from None
        return str(response.file.file_id)

