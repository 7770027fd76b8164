"""FilesService.RegisterFile over gRPC with the service credential (the files-service seam)."""

from __future__ import annotations

import grpc
from govault.files.v1 import files_pb2, files_pb2_grpc

from common.errors import CODES, ERROR_CODE_KEY
from common.identity import current_request_id, outgoing_metadata
from svc_upload.errors import (
    FailedPrecondition,
    GoVaultError,
    InvalidArgument,
    Unavailable,
)
from svc_upload.seams import FileRegistration


class GrpcFilesRegistry:
    def __init__(self, stub: files_pb2_grpc.FilesServiceStub, service_token: str,
                 timeout_s: float) -> None:
        self._stub = stub
        self._service_token = service_token
        self._timeout_s = timeout_s

    async def register_file(self, registration: FileRegistration) -> str:
        request = files_pb2.RegisterFileRequest(
            upload_id=registration.upload_id,
            file_id=registration.file_id,
            owner_id=registration.owner_id,
            name=registration.name,
            mime_type=registration.mime_type,
            size_bytes=registration.size_bytes,
            checksum=registration.checksum,
            storage_key=registration.storage_key,
        )
        metadata = outgoing_metadata(service_token=self._service_token,
                                     request_id=current_request_id())
        try:
            response = await self._stub.RegisterFile(request, timeout=self._timeout_s,
                                                     metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            raise _domain_error(exc) from None
        return str(response.file.file_id)


def _domain_error(exc: grpc.aio.AioRpcError) -> GoVaultError:
    trailers = {item.key: item.value for item in (exc.trailing_metadata() or ())}
    code = trailers.get(ERROR_CODE_KEY)
    code = code if isinstance(code, str) and code in CODES else None
    status = exc.code()
    message = f"the files service refused the registration: {exc.details()}"
    if status == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message, code)
    if status == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(message, code)
    return Unavailable("the files service is unavailable, retry shortly")
