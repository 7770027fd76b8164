"""The proxy chunk's byte stream: the HTTP body is cut into 256 KiB frames (half the
gRPC messages of 128 KiB; 100 concurrent 10 MiB chunks peaked at 466–549 MiB for edge + upload,
1 MiB frames at 1155 MiB, against a budget of 600) and written into the UploadChunk client
stream as they arrive, so the edge never holds a whole chunk. The stream runs under the upload
upstream's in-flight bound and the same gRPC → HTTP error mapping as unary calls. A tus upload's
bytes (PATCH, or a creation's body) stream the same way into WriteTus.

The body is read at the minimum rate (`edge.body`): a client that stops sending gets 408 and
its stream is cancelled, so the upload service records nothing of the chunk (the session stays
resumable). Each account may have `max_streams_per_user` chunk streams in flight on this edge
(`stream_slot`, for every route that streams an upload's bytes); the next is answered
429 TOO_MANY_STREAMS with Retry-After at once, before any byte is read."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import grpc
from aiohttp import web
from govault.upload.v1 import upload_pb2

from common.tokens import Identity
from edge.body import CLOSE_CODES, body
from edge.errors import ApiError
from edge.keys import SETTINGS
from edge.upstream import admitted, call_metadata, upstreams

FRAME_BYTES = 256 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024
# What a write into a stream the service already ended may raise; the call's status says why.
_STREAM_ENDED = (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError)
Msg = TypeVar("Msg", upload_pb2.UploadChunkRequest, upload_pb2.WriteTusRequest)
Resp = TypeVar("Resp", upload_pb2.UploadChunkResponse, upload_pb2.WriteTusResponse)


class StreamSlots:
    """Upload byte streams in flight per account on this edge, up to `per_user` (0: no cap)."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._held: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        if self.per_user and self._held[user_id] >= self.per_user:
            raise ApiError("TOO_MANY_STREAMS",
                           f"at most {self.per_user} chunk uploads of one account may be in "
                           "flight at a time; retry when one has finished", {"Retry-After": "1"})
        self._held[user_id] += 1
        try:
            yield
        finally:
            self._held[user_id] -= 1
            if not self._held[user_id]:
                del self._held[user_id]


STREAM_SLOTS = web.AppKey("stream_slots", StreamSlots)


def stream_slot(request: web.Request,
                identity: Identity) -> contextlib.AbstractContextManager[None]:
    """One of the account's stream slots for the block (429 TOO_MANY_STREAMS when none is free;
    the slots are made at start-up, `edge.app`)."""
    return request.app[STREAM_SLOTS].hold(identity.user_id)


async def _frames(request: web.Request, first: Msg, data: Callable[[bytes], Msg]
                  ) -> AsyncIterator[Msg]:
    yield first
    content = body(request)
    remaining = request.content_length
    while True:
        if remaining is not None:
            if remaining <= 0:
                return
            try:
                chunk = await content.readexactly(min(FRAME_BYTES, remaining))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    yield data(exc.partial)
                return
            remaining -= len(chunk)
        else:
            chunk = await content.read(FRAME_BYTES)
            if not chunk:
                return
        yield data(chunk)


async def _stream(request: web.Request, method: grpc.aio.StreamUnaryMultiCallable[Msg, Resp],
                  first: Msg, data: Callable[[bytes], Msg], identity: Identity,
                  timeout_s: float) -> Resp:
    """Writes the frames into the client stream ourselves (rather than handing grpc an
    iterator): when the service answers early (a rejected chunk), writing stops and the call's
    real status is returned instead of a write error."""
    with admitted(request, method, unary=False):
        stream = method(timeout=timeout_s, metadata=call_metadata(request, identity))
        try:
            async for frame in _frames(request, first, data):
                if stream.done():
                    break
                try:
                    await stream.write(frame)
                except _STREAM_ENDED:
                    break
            else:
                with contextlib.suppress(*_STREAM_ENDED):
                    await stream.done_writing()
        except BaseException:
            stream.cancel()
            raise
        try:
            return await stream
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the request itself is being cancelled (client gone, shutdown)
            # the call was cancelled under us: its channel broke (the service died)
            raise ApiError("UNAVAILABLE", "the upload service went away, retry the chunk",
                           {"Retry-After": "1"}) from None


async def _drain(request: web.Request) -> None:
    """Reads what the client is still sending after an early rejection, so it can read the
    error instead of a reset connection: at most 64 MiB, for at most `body_timeout_s`, at the
    minimum rate."""
    await asyncio.sleep(0)
    left = _DRAIN_LIMIT
    reader = body(request)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(request.app[SETTINGS].body_timeout_s):
            while left > 0:
                data = await reader.read(FRAME_BYTES)
                if not data:
                    return
                left -= len(data)


async def _send(request: web.Request, identity: Identity, streamed: Awaitable[Resp]) -> Resp:
    """Runs one upload byte stream in one of the account's stream slots; on an error answer,
    drains what the client is still sending before the error goes back (not when the client is
    the error: a body that stopped, a client gone)."""
    with stream_slot(request, identity):
        try:
            return await streamed
        except ApiError as exc:
            if exc.code not in CLOSE_CODES:
                await _drain(request)
            raise


async def send_chunk(request: web.Request, header: upload_pb2.ChunkHeader, identity: Identity,
                     timeout_s: float) -> upload_pb2.UploadChunkResponse:
    """Streams the request body as one chunk (UploadChunk)."""
    return await _send(request, identity, _stream(
        request, upstreams(request).upload.UploadChunk,
        upload_pb2.UploadChunkRequest(header=header), _chunk_data, identity, timeout_s))


async def send_tus(request: web.Request, header: upload_pb2.TusWriteHeader, identity: Identity,
                   timeout_s: float) -> upload_pb2.TusUpload:
    """Streams the request body as a tus upload's bytes (WriteTus), the same way."""
    answer = await _send(request, identity, _stream(
        request, upstreams(request).upload.WriteTus,
        upload_pb2.WriteTusRequest(header=header), _tus_data, identity, timeout_s))
    return answer.upload


def _chunk_data(data: bytes) -> upload_pb2.UploadChunkRequest:
    return upload_pb2.UploadChunkRequest(data=data)


def _tus_data(data: bytes) -> upload_pb2.WriteTusRequest:
    return upload_pb2.WriteTusRequest(data=data)
