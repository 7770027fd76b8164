"""Routes for uploads (wire-compatible with the original GoVault): proxy sessions and chunks,
direct-to-S3 multipart sessions, status and abort. Parse → one RPC → shape; rules live in the
upload service. Chunk bodies stream into the UploadChunk client stream as they arrive (128 KiB
frames: measured to keep 100 concurrent 10 MiB chunks well under the RSS budget), so the edge
never holds a whole chunk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web
from govault.upload.v1 import upload_pb2

from edge import openapi
from edge.auth import require_identity
from edge.calls import client_ip, request_id, rpc
from edge.errors import ApiError
from edge.http import integer, invalid, read_json, string, uuid_param
from edge.keys import SETTINGS, UPSTREAMS
from edge.shape import timestamp
from edge.upstreams import call_metadata, guarded

FRAME_BYTES = 128 * 1024
_DRAIN_LIMIT = 64 * 1024 * 1024


def _state(value: int) -> str:
    return upload_pb2.UploadState.Name(value).removeprefix("UPLOAD_STATE_").lower()


def _method(value: int) -> str:
    return upload_pb2.UploadMethod.Name(value).removeprefix("UPLOAD_METHOD_").lower()


def _parts(parts: Any) -> list[dict[str, Any]]:
    return [{"part_number": p.part_number, "url": p.url} for p in parts]


# proxy --------------------------------------------------------------------------------------


async def proxy_session(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_json(request, request.app[SETTINGS].max_json_bytes)
    reply = await rpc(request, "upload", "CreateProxySession",
                      upload_pb2.CreateProxySessionRequest(
                          file_name=string(body, "file_name"),
                          file_size_bytes=integer(body, "file_size_bytes")),
                      identity=identity)
    return web.json_response({
        "upload_uuid": reply.upload_uuid,
        "total_chunks": reply.total_chunks,
        "chunk_size_bytes": reply.chunk_size_bytes,
        "expires_at": timestamp(reply.expires_at),
    })


def _chunk_index(request: web.Request) -> int:
    raw = request.query.get("id")
    if raw is None or not raw.strip().isdigit():
        raise invalid("query parameter id must be a chunk index (0, 1, …)", "CHUNK_OUT_OF_RANGE")
    return int(raw)


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


async def _stream_chunk(request: web.Request, header: upload_pb2.ChunkHeader, timeout_s: float,
                        metadata: tuple[tuple[str, str], ...]) -> upload_pb2.UploadChunkResponse:
    """Writes the frames into the client stream ourselves (rather than handing grpc an
    iterator): when the service answers early (a rejected chunk), writing stops and the call's
    real status is returned instead of a write error."""
    call = request.app[UPSTREAMS].upload.UploadChunk(timeout=timeout_s, metadata=metadata)
    try:
        async for frame in _frames(request, header):
            if call.done():
                break
            try:
                await call.write(frame)
            except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
                break
        else:
            with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError,
                                     asyncio.InvalidStateError):
                await call.done_writing()
    except BaseException:
        call.cancel()
        raise
    return await call  # type: ignore[no-any-return]


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


async def proxy_chunk(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    settings = request.app[SETTINGS]
    index = _chunk_index(request)
    upload_uuid = uuid_param(request.headers.get("Upload-UUID"), "Upload-UUID header")
    length = request.content_length
    if length is not None and length > settings.max_chunk_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE",
                       f"a chunk must be at most {settings.max_chunk_bytes} bytes")
    header = upload_pb2.ChunkHeader(
        upload_uuid=upload_uuid, chunk_index=index,
        checksum_sha256=request.headers.get("Checksum", "").strip(),
        content_length=-1 if length is None else length)
    upstreams = request.app[UPSTREAMS]
    metadata = call_metadata(request_id(request), identity.token, client_ip(request))
    try:
        reply = await guarded(
            upstreams.by_name["upload"],
            lambda: _stream_chunk(request, header, settings.upload_rpc_timeout_s, metadata))
    except ApiError:
        await _drain(request)
        raise
    state = _state(reply.state)
    body: dict[str, Any] = {"status": state, "upload_uuid": reply.upload_uuid,
                            "chunk_index": reply.chunk_index,
                            "received_bytes": reply.received_bytes,
                            "checksum": reply.checksum_sha256}
    if reply.file_id:
        body["file_id"] = reply.file_id
    return web.json_response(body)


# status -------------------------------------------------------------------------------------


async def status(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    upload_uuid = uuid_param(request.query.get("upload_uuid"), "upload_uuid")
    reply = await rpc(request, "upload", "GetStatus",
                      upload_pb2.GetStatusRequest(upload_uuid=upload_uuid), identity=identity)
    body: dict[str, Any] = {
        "upload_uuid": reply.upload_uuid,
        "status": _state(reply.state),
        "upload_method": _method(reply.method),
        "total_chunks": reply.total_chunks,
        "received": list(reply.received),
        "expires_at": timestamp(reply.expires_at),
        "file_name": reply.file_name,
        "file_size_bytes": reply.file_size_bytes,
        "chunk_size_bytes": reply.chunk_size_bytes,
    }
    if reply.file_id:
        body["file_id"] = reply.file_id
    return web.json_response(body)


# multipart ----------------------------------------------------------------------------------


async def multipart_session(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_json(request, request.app[SETTINGS].max_json_bytes)
    reply = await rpc(request, "upload", "CreateMultipartSession",
                      upload_pb2.CreateMultipartSessionRequest(
                          file_name=string(body, "file_name"),
                          file_size_bytes=integer(body, "file_size_bytes"),
                          part_size_bytes=integer(body, "part_size_bytes")),
                      identity=identity)
    return web.json_response({
        "upload_uuid": reply.upload_uuid,
        "total_chunks": reply.total_chunks,
        "storage_upload_id": reply.storage_upload_id,
        "parts": _parts(reply.parts),
        "expires_at": timestamp(reply.expires_at),
        "part_size_bytes": reply.part_size_bytes,
        "urls_expire_at": timestamp(reply.urls_expire_at),
    })


async def multipart_part(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_json(request, request.app[SETTINGS].max_json_bytes)
    reply = await rpc(request, "upload", "RegisterPart",
                      upload_pb2.RegisterPartRequest(
                          upload_uuid=uuid_param(string(body, "upload_uuid"), "upload_uuid"),
                          part_number=integer(body, "part_number"),
                          size_bytes=integer(body, "size_bytes"),
                          etag=string(body, "etag")),
                      identity=identity)
    return web.json_response({
        "upload_uuid": reply.upload_uuid,
        "part_number": reply.part_number,
        "registered_parts": reply.registered_parts,
        "total_chunks": reply.total_chunks,
    })


async def multipart_presign(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_json(request, request.app[SETTINGS].max_json_bytes)
    numbers = body.get("part_numbers", [])
    if not isinstance(numbers, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise invalid("part_numbers must be a list of integers")
    if len(numbers) > 10_000:
        raise invalid("at most 10,000 part numbers")
    reply = await rpc(request, "upload", "PresignParts",
                      upload_pb2.PresignPartsRequest(
                          upload_uuid=uuid_param(string(body, "upload_uuid"), "upload_uuid"),
                          part_numbers=numbers),
                      identity=identity)
    return web.json_response({"parts": _parts(reply.parts),
                              "expires_at": timestamp(reply.expires_at)})


async def multipart_complete(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    settings = request.app[SETTINGS]
    body = await read_json(request, settings.max_json_bytes)
    reply = await rpc(request, "upload", "CompleteMultipart",
                      upload_pb2.CompleteMultipartRequest(
                          upload_uuid=uuid_param(string(body, "upload_uuid"), "upload_uuid")),
                      identity=identity, timeout_s=settings.upload_rpc_timeout_s)
    return web.json_response({
        "file_id": reply.file_id,
        "size_bytes": reply.size_bytes,
        "checksum": reply.checksum,
        "upload_uuid": reply.upload_uuid,
        "status": _state(reply.state),
        "file_name": reply.file_name,
    })


async def abort(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_json(request, request.app[SETTINGS].max_json_bytes)
    await rpc(request, "upload", "Abort",
              upload_pb2.AbortRequest(
                  upload_uuid=uuid_param(string(body, "upload_uuid"), "upload_uuid")),
              identity=identity)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/upload/proxy/session", proxy_session)
    app.router.add_post("/api/upload/proxy/chunk", proxy_chunk)
    app.router.add_get("/api/upload/status", status)
    app.router.add_post("/api/upload/multipart/session", multipart_session)
    app.router.add_post("/api/upload/multipart/part", multipart_part)
    app.router.add_post("/api/upload/multipart/presign", multipart_presign)
    app.router.add_post("/api/upload/multipart/complete", multipart_complete)
    app.router.add_post("/api/upload/abort", abort)


# OpenAPI ------------------------------------------------------------------------------------

_UUID = {"type": "string", "format": "uuid"}
_TS = {"type": "string", "format": "date-time"}
_PARTS = {"type": "array", "items": {"type": "object", "properties": {
    "part_number": {"type": "integer"}, "url": {"type": "string"}}}}
_COMMON_ERRORS = {
    "400": openapi.error("invalid input (codes such as INVALID_ARGUMENT, FILE_TOO_LARGE)"),
    "401": openapi.error("missing or invalid access token"),
    "404": openapi.error("no such upload session (or not the caller's): UPLOAD_NOT_FOUND"),
    "409": openapi.error("the session cannot take this (UPLOAD_ABORTED, UPLOAD_EXPIRED, "
                         "UPLOAD_FAILED, UPLOAD_IN_PROGRESS, CONFLICT)"),
    "503": openapi.error("a backend is unavailable; retry"),
}


def _op(summary: str, ok: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, ok_status: str = "200") -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": summary, "tags": ["uploads"],
                             "security": [{"bearer": []}],
                             "responses": {ok_status: ok, **_COMMON_ERRORS}}
    if body is not None:
        entry["requestBody"] = body
    if params:
        entry["parameters"] = params
    return entry


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/upload/proxy/session": {"post": _op(
        "Start a proxy upload (the server fixes the chunk size)",
        openapi.json_ok("session", _obj(upload_uuid=_UUID, total_chunks={"type": "integer"},
                                        chunk_size_bytes={"type": "integer"}, expires_at=_TS)),
        body=openapi.json_body(_obj(file_name={"type": "string", "maxLength": 255},
                                    file_size_bytes={"type": "integer", "minimum": 1})))},
    "/api/upload/proxy/chunk": {"post": _op(
        "Send chunk `id` (0-based) as the raw body; the response to the chunk that completes "
        "the upload is sent after the file is stored and registered",
        openapi.json_ok("chunk stored", _obj(
            status={"type": "string", "enum": ["uploading", "completed"]},
            upload_uuid=_UUID, chunk_index={"type": "integer"},
            received_bytes={"type": "integer"},
            checksum={"type": "string", "description": "hex SHA-256 of the chunk"},
            file_id={"type": "string", "description": "present when completed"})),
        body={"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}},
        params=[
            {"name": "id", "in": "query", "required": True, "schema": {"type": "integer"}},
            {"name": "Upload-UUID", "in": "header", "required": True, "schema": _UUID},
            {"name": "Checksum", "in": "header", "required": False,
             "schema": {"type": "string"},
             "description": "hex SHA-256 of the chunk; a mismatch → 400 CHECKSUM_MISMATCH"},
        ])},
    "/api/upload/status": {"get": _op(
        "Where an upload stands (received chunk indexes or part numbers)",
        openapi.json_ok("status", _obj(
            upload_uuid=_UUID, status={"type": "string"},
            upload_method={"type": "string", "enum": ["proxy", "multipart"]},
            total_chunks={"type": "integer"},
            received={"type": "array", "items": {"type": "integer"}},
            file_id={"type": "string"}, expires_at=_TS)),
        params=[{"name": "upload_uuid", "in": "query", "required": True, "schema": _UUID}])},
    "/api/upload/multipart/session": {"post": _op(
        "Start a direct-to-S3 multipart upload; returns presigned part URLs",
        openapi.json_ok("session", _obj(
            upload_uuid=_UUID, total_chunks={"type": "integer"},
            storage_upload_id={"type": "string"}, parts=_PARTS, expires_at=_TS,
            part_size_bytes={"type": "integer"}, urls_expire_at=_TS)),
        body=openapi.json_body(_obj(file_name={"type": "string"},
                                    file_size_bytes={"type": "integer"},
                                    part_size_bytes={"type": "integer"})))},
    "/api/upload/multipart/part": {"post": _op(
        "Report a part's ETag (idempotent; a new ETag replaces the old one)",
        openapi.json_ok("registered", _obj(upload_uuid=_UUID, part_number={"type": "integer"},
                                           registered_parts={"type": "integer"},
                                           total_chunks={"type": "integer"})),
        body=openapi.json_body(_obj(upload_uuid=_UUID, part_number={"type": "integer"},
                                    size_bytes={"type": "integer"}, etag={"type": "string"})))},
    "/api/upload/multipart/presign": {"post": _op(
        "Fresh presigned URLs for parts (empty list: every part not yet registered)",
        openapi.json_ok("URLs", _obj(parts=_PARTS, expires_at=_TS)),
        body=openapi.json_body(_obj(upload_uuid=_UUID, part_numbers={
            "type": "array", "items": {"type": "integer"}})))},
    "/api/upload/multipart/complete": {"post": _op(
        "Complete the upload (idempotent: repeating it returns the same file). checksum is "
        "S3's multipart ETag",
        openapi.json_ok("completed", _obj(file_id={"type": "string"},
                                          size_bytes={"type": "integer"},
                                          checksum={"type": "string"}, upload_uuid=_UUID,
                                          status={"type": "string"})),
        body=openapi.json_body(_obj(upload_uuid=_UUID)))},
    "/api/upload/abort": {"post": _op(
        "Abort an upload (the S3 multipart upload is aborted)",
        {"description": "aborted"}, body=openapi.json_body(_obj(upload_uuid=_UUID)),
        ok_status="204")},
}
