"""The proxy chunk's byte stream: the HTTP body is cut into 256 KiB frames (half the
gRPC messages of 128 KiB; 100 concurrent 10 MiB chunks peaked at 466–549 MiB for edge + upload,
1 MiB frames at 1155 MiB, against a budget of 600) and written into the UploadChunk client
stream as they arrive, so the edge never holds a whole chunk. The stream runs under the upload
upstream's in-flight bound and the same gRPC → HTTP error mapping as unary calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from aiohttp import web
from govault.upload.v1 import upload_pb2

from common.tokens import Identity
from edge.errors import ApiError
from edge.upstream import admitted, call_metadata, upstreams

FRAME_BYTES = 256 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024
# What a write into a stream the service already ended may raise; the call's status says why.
_STREAM_ENDED = (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError)


async def _frames(request: web.Request, header: upload_pb2.ChunkHeader
                  ) -> AsyncIterator[upload_pb2.UploadChunkRequest]:
    yield upload_pb2.UploadChunkRequest(header=header)
    content = request.content
    remaining = request.content_length
    while True:
        if remaining is not None:
            if remaining <= 0:
                return
            try:
                data = await content.readexactly(min(FRAME_BYTES, remaining))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    yield upload_pb2.UploadChunkRequest(data=exc.partial)
                return
            remaining -= len(data)
        else:
            data = await content.read(FRAME_BYTES)
            if not data:
                return
        yield upload_pb2.UploadChunkRequest(data=data)


async def _stream_chunk(request: web.Request, header: upload_pb2.ChunkHeader,
                        identity: Identity, timeout_s: float) -> upload_pb2.UploadChunkResponse:
    """Writes the frames into the client stream ourselves (rather than handing grpc an
    iterator): when the service answers early (a rejected chunk), writing stops and the call's
    real status is returned instead of a write error."""
    method = upstreams(request).upload.UploadChunk
    async with admitted(request, method, unary=False):
        stream = method(timeout=timeout_s, metadata=call_metadata(request, identity))
        try:
            async for frame in _frames(request, header):
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
    """Reads what the client is still sending after an early rejection (bounded), so it can
    read the error instead of a reset connection."""
    await asyncio.sleep(0)
    left = _DRAIN_LIMIT
    with contextlib.suppress(Exception):
        while left > 0:
            data = await request.content.read(FRAME_BYTES)
            if not data:
                return
            left -= len(data)


async def send_chunk(request: web.Request, header: upload_pb2.ChunkHeader, identity: Identity,
                     timeout_s: float) -> upload_pb2.UploadChunkResponse:
    """Streams the request body as one chunk; on an error answer, drains what the client is
    still sending before the error goes back."""
    try:
        return await _stream_chunk(request, header, identity, timeout_s)
    except ApiError:
        await _drain(request)
        raise
