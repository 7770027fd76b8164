"""tus 1.0 at the edge (resumable uploads by the open protocol: tus-js-client, Uppy, tuspy, …):
core, creation, creation-with-upload, creation-defer-length, termination, checksum, expiration.
Parse the tus headers → one RPC (a creation with a body too: its WriteTus creates the upload)
→ the tus headers back; the rules (offsets, parts, the durability of every acknowledged offset)
live in the upload service (svc_upload/tus.py). The bearer token is the rest of the API's; an
upload's URL works for its owner only (anyone else: 404).

Errors keep the API's error body; their status is their code's in the catalog
(`common.errors.CODES`, which gives the tus codes tus's statuses), and the service's codes for
an upload that takes no more bytes become UPLOAD_GONE (410), a length past the maximum
UPLOAD_LENGTH_EXCEEDED (413). Every answer carries Tus-Resumable.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from email.utils import format_datetime

from aiohttp import web
from govault.upload.v1 import upload_pb2

from common.grpc.metadata import TUS_UPLOAD
from common.tokens import Identity
from edge.api import tus as api
from edge.api.base import INT64_MAX, UUID_PATTERN
from edge.auth import require_identity
from edge.body import client_allowance_s
from edge.errors import ApiError
from edge.keys import SETTINGS
from edge.shape import timestamp_datetime
from edge.streaming import send_tus
from edge.upstream import call, upstreams

EXTENSIONS = ("creation", "creation-with-upload", "creation-defer-length", "termination",
              "checksum", "expiration")
# What the service answers, in tus's words: an upload that takes no more bytes is gone (410),
# a length past the maximum is too large (413).
_TUS_CODES = {"UPLOAD_EXPIRED": "UPLOAD_GONE", "UPLOAD_ABORTED": "UPLOAD_GONE",
              "UPLOAD_FAILED": "UPLOAD_GONE", "FILE_TOO_LARGE": "UPLOAD_LENGTH_EXCEEDED"}
FILE_ID = "GoVault-File-Id"
_METADATA = re.compile(api.METADATA_PATTERN)
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_UUID = re.compile(UUID_PATTERN)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answers(handler: Handler) -> Handler:
    """Every answer with Tus-Resumable; errors with their catalog status, in tus's words."""
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as exc:
            code = _TUS_CODES.get(exc.code, exc.code)
            raise ApiError(code, exc.message,
                           {**exc.headers, "Tus-Resumable": api.VERSION}) from None
        response.headers["Tus-Resumable"] = api.VERSION
        return response
    return answer


# headers -----------------------------------------------------------------------------------


def _require_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != api.VERSION:
        raise ApiError("TUS_VERSION_UNSUPPORTED", "Tus-Resumable must be 1.0.0",
                       {"Tus-Version": api.VERSION})


def _size(request: web.Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not _DIGITS.match(raw.strip()) or int(raw) > INT64_MAX:
        raise ApiError("INVALID_ARGUMENT", f"{name} must be a non-negative integer")
    return int(raw)


def _upload_id(request: web.Request) -> str:
    value = request.match_info["upload_uuid"]
    if not _UUID.match(value):
        raise ApiError("UPLOAD_NOT_FOUND", "no such upload")
    return value.lower()


def _metadata(raw: str) -> dict[str, str]:
    """Upload-Metadata's pairs, values decoded (UTF-8 text)."""
    if not raw.strip():
        return {}
    if not _METADATA.match(raw.strip()):
        raise ApiError("UPLOAD_METADATA_INVALID",
                       "Upload-Metadata must be comma-separated `key base64value` pairs")
    found: dict[str, str] = {}
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        try:
            found[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError("UPLOAD_METADATA_INVALID",
                           f"the Upload-Metadata value of {key!r} is not base64 of UTF-8 "
                           "text") from None
    return found


def _checksum(request: web.Request) -> tuple[str, bytes]:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return "", b""
    algorithm, _, value = raw.strip().partition(" ")
    if algorithm not in ("sha1", "sha256"):
        raise ApiError("CHECKSUM_ALGORITHM_UNSUPPORTED",
                       "Upload-Checksum: the algorithms are sha1 and sha256")
    try:
        return algorithm, base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ApiError("INVALID_ARGUMENT", "Upload-Checksum: the digest must be base64") from None


def _expires(upload: upload_pb2.TusUpload) -> dict[str, str]:
    """Upload-Expires while unfinished; once completed, the file it became (GoVault-File-Id,
    beside the tus headers: the id the rest of the API knows the file by)."""
    if upload.state == upload_pb2.UPLOAD_STATE_COMPLETED:
        return {FILE_ID: upload.file_id}
    expires = timestamp_datetime(upload.expires_at)
    return {"Upload-Expires": format_datetime(expires, usegmt=True)} if expires else {}


def _location(upload_uuid: str) -> str:
    return api.BASE + upload_uuid


# writing ------------------------------------------------------------------------------------


async def _write(request: web.Request, identity: Identity, upload_uuid: str, offset: int,
                 length: int | None, create: upload_pb2.CreateTusUploadRequest | None = None,
                 told: dict[str, str] | None = None) -> upload_pb2.TusUpload:
    """The request's body at `offset` (a PATCH), or (`create`) a new upload's first bytes, the
    service's initial metadata in `told`."""
    content_length = request.content_length
    if content_length is None:
        raise ApiError("LENGTH_REQUIRED", "the body needs a Content-Length")
    algorithm, digest = _checksum(request)
    header = upload_pb2.TusWriteHeader(
        upload_uuid=upload_uuid, offset_bytes=offset, content_length=content_length,
        length_bytes=length, checksum_algorithm=algorithm, checksum=digest, create=create)
    settings = request.app[SETTINGS]
    # the service's time, plus what a client at the minimum rate may take to send the body
    timeout = settings.upload_rpc_timeout_s + client_allowance_s(settings, content_length)
    return await send_tus(request, header, identity, timeout, told)


def _offset_octet_stream(request: web.Request) -> None:
    if request.content_type != api.OFFSET_OCTET_STREAM:
        raise ApiError("UNSUPPORTED_MEDIA_TYPE",
                       f"the body must be {api.OFFSET_OCTET_STREAM}")


# handlers -----------------------------------------------------------------------------------


@_answers
async def discover(request: web.Request) -> web.Response:
    limits = await call(request, upstreams(request).upload.GetTusLimits,
                        upload_pb2.GetTusLimitsRequest())
    return web.Response(status=204, headers={
        "Tus-Version": api.VERSION, "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(limits.max_size_bytes),
        "Tus-Checksum-Algorithm": ",".join(limits.checksum_algorithms)})


@_answers
async def create(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    _require_version(request)
    length = _size(request, "Upload-Length")
    deferred = request.headers.get("Upload-Defer-Length")
    if deferred is not None and deferred.strip() != "1":
        raise ApiError("INVALID_ARGUMENT", "Upload-Defer-Length must be 1")
    if (length is None) == (deferred is None):
        raise ApiError("UPLOAD_LENGTH_MISSING",
                       "send either Upload-Length or Upload-Defer-Length: 1")
    if "Upload-Concat" in request.headers:
        raise ApiError("INVALID_ARGUMENT", "concatenation is not supported (Tus-Extension)")
    metadata = request.headers.get("Upload-Metadata", "")
    pairs = _metadata(metadata)
    with_body = bool(request.content_length) or request.content_type == api.OFFSET_OCTET_STREAM
    if with_body:
        _offset_octet_stream(request)
    new = upload_pb2.CreateTusUploadRequest(
        file_name=pairs.get("filename") or pairs.get("name") or "untitled", length_bytes=length,
        mime_type=pairs.get("filetype") or pairs.get("type") or "", metadata=metadata)
    if with_body:  # one call creates the upload and writes the body
        told: dict[str, str] = {}
        try:
            upload = await _write(request, identity, "", 0, None, create=new, told=told)
        except ApiError as exc:
            if TUS_UPLOAD not in told:
                raise
            # the upload exists: the client may resume it
            raise ApiError(exc.code, exc.message,
                           {**exc.headers, "Location": _location(told[TUS_UPLOAD])}) from None
    else:
        upload = (await call(request, upstreams(request).upload.CreateTusUpload, new,
                             identity=identity)).upload
    headers = {"Location": _location(upload.upload_uuid), **_expires(upload)}
    if with_body or upload.offset_bytes:
        headers["Upload-Offset"] = str(upload.offset_bytes)
    return web.Response(status=201, headers=headers)


@_answers
async def head(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    _require_version(request)
    upload = (await call(request, upstreams(request).upload.GetTusUpload,
                         upload_pb2.GetTusUploadRequest(upload_uuid=_upload_id(request)),
                         identity=identity,
                         timeout_s=request.app[SETTINGS].upload_rpc_timeout_s)).upload
    headers = {"Upload-Offset": str(upload.offset_bytes), "Cache-Control": "no-store",
               **_expires(upload)}
    if upload.HasField("length_bytes"):
        headers["Upload-Length"] = str(upload.length_bytes)
    else:
        headers["Upload-Defer-Length"] = "1"
    if upload.metadata:
        headers["Upload-Metadata"] = upload.metadata
    return web.Response(status=200, headers=headers)


@_answers
async def patch(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    _require_version(request)
    upload_uuid = _upload_id(request)
    _offset_octet_stream(request)
    offset = _size(request, "Upload-Offset")
    if offset is None:
        raise ApiError("INVALID_ARGUMENT", "Upload-Offset is required")
    upload = await _write(request, identity, upload_uuid, offset,
                          _size(request, "Upload-Length"))
    return web.Response(status=204, headers={"Upload-Offset": str(upload.offset_bytes),
                                             **_expires(upload)})


@_answers
async def terminate(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    _require_version(request)
    await call(request, upstreams(request).upload.Abort,
               upload_pb2.AbortRequest(upload_uuid=_upload_id(request)), identity=identity)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    for operation, handler in ((api.DISCOVER, discover), (api.CREATE, create),
                               (api.HEAD, head), (api.PATCH, patch),
                               (api.TERMINATE, terminate)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
