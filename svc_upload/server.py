"""gRPC ⇄ domain for the upload service: converts protobuf to calls on `UploadService` and
results back; domain errors become statuses in the shared interceptor. Nothing else: the process
is wired in __main__.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Generic, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from govault.upload.v1 import upload_pb2, upload_pb2_grpc

from common.errors import GoVaultError, InvalidArgument
from common.grpc.identity import caller
from common.grpc.metadata import TUS_UPLOAD, Context
from common.grpc.timestamps import timestamp_pb
from common.logging import get_logger
from common.tokens import TokenVerifier
from svc_upload.models import MULTIPART, PROXY, TUS, Part, Session
from svc_upload.service import UploadService
from svc_upload.tus import TusUploads, TusView
from svc_upload.tus_bytes import CHECKSUMS

log = get_logger(__name__)

DRAIN_LIMIT_BYTES = 128 * 1024 * 1024
# A client stream's messages: a header frame, then data frames.
Frame = TypeVar("Frame", upload_pb2.UploadChunkRequest, upload_pb2.WriteTusRequest)

STATES = {
    "pending": upload_pb2.UPLOAD_STATE_PENDING,
    "uploading": upload_pb2.UPLOAD_STATE_UPLOADING,
    "completing": upload_pb2.UPLOAD_STATE_COMPLETING,
    "completed": upload_pb2.UPLOAD_STATE_COMPLETED,
    "failed": upload_pb2.UPLOAD_STATE_FAILED,
    "aborted": upload_pb2.UPLOAD_STATE_ABORTED,
    "expired": upload_pb2.UPLOAD_STATE_EXPIRED,
}
METHODS = {PROXY: upload_pb2.UPLOAD_METHOD_PROXY, MULTIPART: upload_pb2.UPLOAD_METHOD_MULTIPART,
           TUS: upload_pb2.UPLOAD_METHOD_TUS}


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    return timestamp_pb(value)


def _parts(parts: list[tuple[int, str]]) -> list[upload_pb2.PartUrl]:
    return [upload_pb2.PartUrl(part_number=n, url=url) for n, url in parts]


class UploadServicer(upload_pb2_grpc.UploadServiceServicer):
    def __init__(self, service: UploadService, tus: TusUploads, verifier: TokenVerifier,
                 max_file_size_bytes: int) -> None:
        self._service = service
        self._tus = tus
        self._verifier = verifier
        self._max_file_size_bytes = max_file_size_bytes

    async def CreateProxySession(self, request: upload_pb2.CreateProxySessionRequest,
                                 context: Context
                                 ) -> upload_pb2.CreateProxySessionResponse:
        identity = await caller(context, self._verifier)
        chunk_size = (request.chunk_size_bytes if request.HasField("chunk_size_bytes")
                      else None)
        new = await self._service.create_proxy_session(identity.user_id, request.file_name,
                                                       request.file_size_bytes, chunk_size)
        s = new.session
        return upload_pb2.CreateProxySessionResponse(
            upload_uuid=s.upload_uuid, total_chunks=s.total_chunks,
            chunk_size_bytes=s.part_size_bytes, expires_at=_ts(s.expires_at))

    async def UploadChunk(self, request_iterator: AsyncIterator[upload_pb2.UploadChunkRequest],
                          context: Context) -> upload_pb2.UploadChunkResponse:
        identity = await caller(context, self._verifier)
        frames = request_iterator.__aiter__()
        header = (await _header(frames)).header
        reader = _Data(frames)
        try:
            result = await self._service.upload_chunk(
                identity.user_id, header.upload_uuid, header.chunk_index,
                header.checksum_sha256, header.content_length, reader.data())
        except GoVaultError:
            # Let the client finish writing before the status goes out: a client still
            # writing into a finished call sees a transport error instead of this status.
            await reader.drain()
            raise
        return upload_pb2.UploadChunkResponse(
            upload_uuid=result.upload_uuid, chunk_index=result.chunk_index,
            state=STATES[result.state], file_id=result.file_id,
            received_bytes=result.received_bytes, checksum_sha256=result.checksum_sha256)

    # tus ----------------------------------------------------------------------------------

    async def CreateTusUpload(self, request: upload_pb2.CreateTusUploadRequest,
                              context: Context) -> upload_pb2.CreateTusUploadResponse:
        identity = await caller(context, self._verifier)
        length = request.length_bytes if request.HasField("length_bytes") else None
        view = await self._tus.create(identity.user_id, request.file_name, length,
                                      request.mime_type, request.metadata)
        return upload_pb2.CreateTusUploadResponse(upload=_tus_upload(view))

    async def WriteTus(self, request_iterator: AsyncIterator[upload_pb2.WriteTusRequest],
                       context: Context) -> upload_pb2.WriteTusResponse:
        identity = await caller(context, self._verifier)
        frames = request_iterator.__aiter__()
        header = (await _header(frames)).header
        length = header.length_bytes if header.HasField("length_bytes") else None

        async def created(upload_uuid: str) -> None:
            await context.send_initial_metadata(((TUS_UPLOAD, upload_uuid),))

        reader = _Data(frames)
        try:
            if header.HasField("create"):
                new = header.create
                view = await self._tus.create_and_write(
                    identity.user_id, new.file_name,
                    new.length_bytes if new.HasField("length_bytes") else None, new.mime_type,
                    new.metadata, header.content_length, header.checksum_algorithm,
                    header.checksum, reader.data(), created)
            else:
                view = await self._tus.write(
                    identity.user_id, header.upload_uuid, header.offset_bytes,
                    header.content_length, length, header.checksum_algorithm, header.checksum,
                    reader.data())
        except GoVaultError:
            await reader.drain()  # as for a chunk: the status after what is still coming
            raise
        return upload_pb2.WriteTusResponse(upload=_tus_upload(view))

    async def GetTusUpload(self, request: upload_pb2.GetTusUploadRequest,
                           context: Context) -> upload_pb2.GetTusUploadResponse:
        identity = await caller(context, self._verifier)
        view = await self._tus.info(identity.user_id, request.upload_uuid)
        return upload_pb2.GetTusUploadResponse(upload=_tus_upload(view))

    async def GetTusLimits(self, request: upload_pb2.GetTusLimitsRequest,
                           context: Context) -> upload_pb2.GetTusLimitsResponse:
        return upload_pb2.GetTusLimitsResponse(max_size_bytes=self._max_file_size_bytes,
                                               checksum_algorithms=sorted(CHECKSUMS))

    async def GetStatus(self, request: upload_pb2.GetStatusRequest,
                        context: Context) -> upload_pb2.GetStatusResponse:
        identity = await caller(context, self._verifier)
        status = await self._service.get_status(identity.user_id, request.upload_uuid)
        s = status.session
        return upload_pb2.GetStatusResponse(
            upload_uuid=s.upload_uuid, state=STATES[s.state], method=METHODS[s.method],
            total_chunks=s.total_chunks, received=status.received,
            file_id=s.file_id if s.state == "completed" else "",
            expires_at=_ts(s.expires_at), file_name=s.file_name,
            file_size_bytes=s.file_size_bytes, chunk_size_bytes=s.part_size_bytes)

    async def CreateMultipartSession(self, request: upload_pb2.CreateMultipartSessionRequest,
                                     context: Context
                                     ) -> upload_pb2.CreateMultipartSessionResponse:
        identity = await caller(context, self._verifier)
        new = await self._service.create_multipart_session(
            identity.user_id, request.file_name, request.file_size_bytes,
            request.part_size_bytes)
        s = new.session
        return upload_pb2.CreateMultipartSessionResponse(
            upload_uuid=s.upload_uuid, total_chunks=s.total_chunks,
            storage_upload_id=s.storage_upload_id or "", parts=_parts(new.parts),
            expires_at=_ts(s.expires_at), part_size_bytes=s.part_size_bytes,
            urls_expire_at=_ts(new.urls_expire_at))

    async def RegisterPart(self, request: upload_pb2.RegisterPartRequest,
                           context: Context) -> upload_pb2.RegisterPartResponse:
        identity = await caller(context, self._verifier)
        result = await self._service.register_part(
            identity.user_id, request.upload_uuid, request.part_number, request.size_bytes,
            request.etag)
        return upload_pb2.RegisterPartResponse(
            upload_uuid=result.upload_uuid, part_number=result.part_number,
            registered_parts=result.registered_parts, total_chunks=result.total_chunks)

    async def PresignParts(self, request: upload_pb2.PresignPartsRequest,
                           context: Context) -> upload_pb2.PresignPartsResponse:
        identity = await caller(context, self._verifier)
        result = await self._service.presign_parts(identity.user_id, request.upload_uuid,
                                                   list(request.part_numbers))
        return upload_pb2.PresignPartsResponse(parts=_parts(result.parts),
                                               expires_at=_ts(result.expires_at))

    async def CompleteMultipart(self, request: upload_pb2.CompleteMultipartRequest,
                                context: Context
                                ) -> upload_pb2.CompleteMultipartResponse:
        identity = await caller(context, self._verifier)
        listed = [Part(p.part_number, p.etag, p.size_bytes, None) for p in request.parts]
        s = await self._service.complete_multipart(identity.user_id, request.upload_uuid, listed)
        return _complete_response(s)

    async def Abort(self, request: upload_pb2.AbortRequest,
                    context: Context) -> upload_pb2.AbortResponse:
        identity = await caller(context, self._verifier)
        await self._service.abort(identity.user_id, request.upload_uuid)
        return upload_pb2.AbortResponse()


async def _drain(frames: AsyncIterator[Frame],
                 limit_bytes: int = DRAIN_LIMIT_BYTES) -> None:
    try:
        async for message in frames:
            limit_bytes -= len(message.data)
            if limit_bytes < 0:
                return
    except Exception:  # the client went away: nothing to wait for
        return


async def _header(frames: AsyncIterator[Frame]) -> Frame:
    try:
        first = await frames.__anext__()
    except StopAsyncIteration:
        raise InvalidArgument("the stream must start with a header frame") from None
    if first.WhichOneof("frame") != "header":
        raise InvalidArgument("the stream must start with a header frame")
    return first


class _Data(Generic[Frame]):
    """The data frames after the header: their bytes, each read shielded. A read cancelled
    mid-way breaks the call (the client then gets INTERNAL, not the status), and the S3 client
    cancels its body writer when the store answers before taking the whole body (MinIO out of
    space, issue 22): the read in progress is finished before `drain`."""

    def __init__(self, frames: AsyncIterator[Frame]) -> None:
        self._frames: AsyncIterator[Frame] = frames
        self._reading: asyncio.Future[Frame] | None = None

    async def data(self) -> AsyncIterator[bytes]:
        while True:
            read = asyncio.ensure_future(anext(self._frames))
            read.add_done_callback(_retrieved)
            self._reading = read
            try:
                message = await asyncio.shield(read)
            except StopAsyncIteration:
                return
            if message.WhichOneof("frame") != "data":
                raise InvalidArgument("only data frames may follow the header")
            yield message.data

    async def drain(self) -> None:
        """What the client is still sending, read (bounded) before the status goes out."""
        if self._reading is not None:
            with contextlib.suppress(BaseException):
                await self._reading
        await _drain(self._frames)


def _retrieved(read: asyncio.Future[Any]) -> None:
    """A read nobody awaits any more (its call was cancelled) does not log its error."""
    if not read.cancelled():
        read.exception()


def _tus_upload(view: TusView) -> upload_pb2.TusUpload:
    s = view.session
    return upload_pb2.TusUpload(
        upload_uuid=s.upload_uuid, offset_bytes=view.offset, length_bytes=view.length,
        state=STATES[s.state], expires_at=_ts(s.expires_at), metadata=view.metadata,
        file_id=s.file_id if s.state == "completed" else "",
        checksum=s.result_checksum or "")


def _complete_response(s: Session) -> upload_pb2.CompleteMultipartResponse:
    return upload_pb2.CompleteMultipartResponse(
        upload_uuid=s.upload_uuid, file_id=s.file_id, size_bytes=s.result_size_bytes or 0,
        checksum=s.result_checksum or "", file_name=s.file_name, state=STATES[s.state])

