"""The proxy chunk's byte stream: the HTTP body is cut into 256 KiB frames (half the
gRPC messages of 128 KiB; 100 concurrent 10 MiB chunks peaked at 466–549 MiB for edge + upload,
1 MiB frames at 1155 MiB, against a budget of 600) and written into the UploadChunk client
stream as they arrive, so the edge never holds a whole chunk. The stream runs under the upload
upstream's in-flight bound and the same gRPC → HTTP error mapping as unary calls. A tus upload's
bytes (PATCH, or a creation's body) stream the same way into WriteTus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

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
Msg = TypeVar("Msg", upload_pb2.UploadChunkRequest, upload_pb2.WriteTusRequest)
Resp = TypeVar("Resp", upload_pb2.UploadChunkResponse, upload_pb2.WriteTusResponse)


async def _frames(request: web.Request, first: Msg, data: Callable[[bytes], Msg]
                  ) -> AsyncIterator[Msg]:
    yield first
    content = request.content
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
    async with admitted(request, method, unary=False):
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
        return await _stream(request, upstreams(request).upload.UploadChunk,
                             upload_pb2.UploadChunkRequest(header=header), _chunk_data,
                             identity, timeout_s)
    except ApiError:
        await _drain(request)
        raise


async def send_tus(request: web.Request, header: upload_pb2.TusWriteHeader, identity: Identity,
                   timeout_s: float) -> upload_pb2.TusUpload:
    """Streams the request body as a tus upload's bytes (WriteTus), the same way."""
    try:
        answer = await _stream(request, upstreams(request).upload.WriteTus,
                               upload_pb2.WriteTusRequest(header=header), _tus_data, identity,
                               timeout_s)
        return answer.upload
    except ApiError:
        await _drain(request)
        raise


def _chunk_data(data: bytes) -> upload_pb2.UploadChunkRequest:
    return upload_pb2.UploadChunkRequest(data=data)


def _tus_data(data: bytes) -> upload_pb2.WriteTusRequest:
    return upload_pb2.WriteTusRequest(data=data)
