"""Routes for uploads (wire-compatible with the original GoVault): proxy sessions and chunks,
direct-to-S3 multipart sessions, status and abort. Decode → one RPC → shape; rules live in the
upload service. Chunk bodies stream into the UploadChunk client stream (`edge.streaming`)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from govault.upload.v1 import upload_pb2

from edge.api import uploads as api
from edge.auth import require_identity
from edge.body import client_allowance_s
from edge.errors import ApiError
from edge.keys import SETTINGS
from edge.request import invalid, query_int, read_model, uuid_param
from edge.shape import reply, timestamp
from edge.streaming import send_chunk
from edge.upstream import call, upstreams


def _state(value: upload_pb2.UploadState.ValueType) -> str:
    return upload_pb2.UploadState.Name(value).removeprefix("UPLOAD_STATE_").lower()


def _method(value: upload_pb2.UploadMethod.ValueType) -> str:
    return upload_pb2.UploadMethod.Name(value).removeprefix("UPLOAD_METHOD_").lower()


def _parts(parts: Iterable[upload_pb2.PartUrl]) -> list[api.PartUrl]:
    return [api.PartUrl(part_number=p.part_number, url=p.url) for p in parts]


# proxy --------------------------------------------------------------------------------------


async def proxy_session(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.ProxySession)
    chunk_size = body.chunk_size_bytes if isinstance(body.chunk_size_bytes, int) else None
    limit = request.app[SETTINGS].max_chunk_bytes
    if chunk_size is not None and chunk_size > limit:
        raise invalid(f"chunk_size_bytes must be at most {limit} (this edge's chunk body limit)",
                      "CHUNK_TOO_LARGE")
    message = upload_pb2.CreateProxySessionRequest(file_name=body.file_name,
                                                   file_size_bytes=body.file_size_bytes,
                                                   chunk_size_bytes=chunk_size)
    answer = await call(request, upstreams(request).upload.CreateProxySession, message,
                        identity=identity)
    return reply(api.ProxySessionReply(
        upload_uuid=answer.upload_uuid, total_chunks=answer.total_chunks,
        chunk_size_bytes=answer.chunk_size_bytes, expires_at=timestamp(answer.expires_at)))


def _chunk_index(request: web.Request) -> int:
    if not request.query.get("id"):
        raise invalid("query parameter id must be a chunk index (0, 1, …)", "CHUNK_OUT_OF_RANGE")
    return query_int(request, api.CHUNK_ID, 0, code="CHUNK_OUT_OF_RANGE")


async def proxy_chunk(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    settings = request.app[SETTINGS]
    index = _chunk_index(request)
    upload_uuid = uuid_param(request.headers.get("Upload-UUID"), "Upload-UUID header")
    length = request.content_length
    if length is not None and length > settings.max_chunk_bytes:
        raise ApiError("PAYLOAD_TOO_LARGE",
                       f"a chunk must be at most {settings.max_chunk_bytes} bytes")
    header = upload_pb2.ChunkHeader(
        upload_uuid=upload_uuid, chunk_index=index,
        checksum_sha256=request.headers.get("Checksum", "").strip(),
        content_length=-1 if length is None else length)
    # the service's time, plus what a client at the minimum rate may take to send the body
    deadline_s = settings.upload_rpc_timeout_s + client_allowance_s(
        settings, settings.max_chunk_bytes if length is None else length)
    answer = await send_chunk(request, header, identity, deadline_s)
    return reply(api.ChunkReply(
        status=_state(answer.state),
        upload_uuid=answer.upload_uuid, chunk_index=answer.chunk_index,
        received_bytes=answer.received_bytes, checksum=answer.checksum_sha256,
        file_id=answer.file_id))


# status -------------------------------------------------------------------------------------


async def status(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    upload_uuid = uuid_param(request.query.get("upload_uuid"), "upload_uuid")
    answer = await call(request, upstreams(request).upload.GetStatus,
                        upload_pb2.GetStatusRequest(upload_uuid=upload_uuid), identity=identity)
    return reply(api.Status(
        upload_uuid=answer.upload_uuid, status=_state(answer.state),
        upload_method=_method(answer.method),
        total_chunks=answer.total_chunks, received=list(answer.received),
        uploaded_chunks=list(answer.received),
        expires_at=timestamp(answer.expires_at), file_name=answer.file_name,
        file_size_bytes=answer.file_size_bytes, chunk_size_bytes=answer.chunk_size_bytes,
        file_id=answer.file_id))


# multipart ----------------------------------------------------------------------------------


async def multipart_session(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.MultipartSession)
    message = upload_pb2.CreateMultipartSessionRequest(
        file_name=body.file_name, file_size_bytes=body.file_size_bytes,
        part_size_bytes=body.part_size_bytes)
    answer = await call(request, upstreams(request).upload.CreateMultipartSession, message,
                        identity=identity)
    return reply(api.MultipartSessionReply(
        upload_uuid=answer.upload_uuid, total_chunks=answer.total_chunks,
        storage_upload_id=answer.storage_upload_id, parts=_parts(answer.parts),
        expires_at=timestamp(answer.expires_at), part_size_bytes=answer.part_size_bytes,
        urls_expire_at=timestamp(answer.urls_expire_at)))


async def multipart_part(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.Part)
    message = upload_pb2.RegisterPartRequest(
        upload_uuid=body.upload_uuid, part_number=body.part_number, size_bytes=body.size_bytes,
        etag=body.etag)
    answer = await call(request, upstreams(request).upload.RegisterPart, message,
                        identity=identity)
    return reply(api.PartReply(
        upload_uuid=answer.upload_uuid, part_number=answer.part_number,
        registered_parts=answer.registered_parts, total_chunks=answer.total_chunks))


async def multipart_presign(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.Presign)
    message = upload_pb2.PresignPartsRequest(upload_uuid=body.upload_uuid,
                                             part_numbers=body.part_numbers)
    answer = await call(request, upstreams(request).upload.PresignParts, message,
                        identity=identity)
    return reply(api.PresignReply(parts=_parts(answer.parts),
                                  expires_at=timestamp(answer.expires_at)))


async def multipart_complete(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.Complete)
    listed = [upload_pb2.ListedPart(part_number=p.part_number, etag=p.etag,
                                    size_bytes=p.size_bytes) for p in body.parts]
    answer = await call(request, upstreams(request).upload.CompleteMultipart,
                        upload_pb2.CompleteMultipartRequest(upload_uuid=body.upload_uuid,
                                                            parts=listed),
                        identity=identity,
                        timeout_s=request.app[SETTINGS].upload_rpc_timeout_s)
    return reply(api.CompleteReply(
        file_id=answer.file_id, size_bytes=answer.size_bytes, checksum=answer.checksum,
        upload_uuid=answer.upload_uuid, status=_state(answer.state),
        file_name=answer.file_name))


async def abort(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await read_model(request, api.Upload)
    await call(request, upstreams(request).upload.Abort,
               upload_pb2.AbortRequest(upload_uuid=body.upload_uuid), identity=identity)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    for operation, handler in (
            (api.PROXY_SESSION, proxy_session), (api.PROXY_CHUNK, proxy_chunk),
            (api.STATUS, status), (api.MULTIPART_SESSION, multipart_session),
            (api.MULTIPART_PART, multipart_part), (api.MULTIPART_PRESIGN, multipart_presign),
            (api.MULTIPART_COMPLETE, multipart_complete), (api.ABORT, abort)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
