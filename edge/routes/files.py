"""Routes for the files area: listings, one file, download links, rename, delete, copy, shares,
public links and shortcuts (wire-compatible with the original GoVault, DESIGN §3).

Each handler parses the request (ids must be UUIDs → 400), makes one call to the files service
and shapes the answer. Who may do what is the files service's decision: a file the caller may
not see answers 404 FILE_NOT_FOUND, one they may see but not change 403. Anonymous callers are
accepted only on GET /f/{id} and /f/{id}/download (public files).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from govault.files.v1 import files_pb2

from edge import openapi
from edge.auth import optional_identity, require_identity
from edge.calls import rpc
from edge.http import invalid, query_int, read_json, string, uuid_param
from edge.keys import SETTINGS
from edge.shape import timestamp

MAX_PAGE = 1_000_000
_ACCESS = {
    files_pb2.ACCESS_PUBLIC: "public",
    files_pb2.ACCESS_VIEWER: "viewer",
    files_pb2.ACCESS_EDITOR: "editor",
    files_pb2.ACCESS_OWNER: "owner",
}
_PERMISSION_IN = {"viewer": files_pb2.PERMISSION_VIEWER, "editor": files_pb2.PERMISSION_EDITOR}
_PERMISSION_OUT = {v: k for k, v in _PERMISSION_IN.items()}


# ------------------------------------------------------------------------------------ shaping
def file_summary(f: files_pb2.FileSummary) -> dict[str, Any]:
    return {
        "file_id": f.file_id,
        "owner_id": f.owner_id,
        "name": f.name,
        "mime_type": f.mime_type,
        "size_bytes": f.size_bytes,
        "checksum": f.checksum,
        "created_at": timestamp(f.created_at),
        "is_public": f.is_public,
        "access": _ACCESS.get(f.access),
    }


def share_json(s: files_pb2.Share) -> dict[str, Any]:
    return {
        "user_id": s.user_id,
        "email": s.email,
        "permission": _PERMISSION_OUT.get(s.permission),
        "created_at": timestamp(s.created_at),
    }


def _file_id(request: web.Request) -> str:
    return uuid_param(request.match_info.get("file_id"), "file id")


def _permission(value: str) -> int:
    # Unknown values go through as UNSPECIFIED: the service rejects them (400).
    return _PERMISSION_IN.get(value.strip().lower(), files_pb2.PERMISSION_UNSPECIFIED)


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, request.app[SETTINGS].max_json_bytes)


def _page_request(request: web.Request) -> files_pb2.PageRequest:
    page = query_int(request, "page", 1)
    limit = query_int(request, "limit", 0)
    if page > MAX_PAGE:
        raise invalid(f"page must be at most {MAX_PAGE}")
    if limit < 0 or limit > MAX_PAGE:
        raise invalid("limit must be a positive integer")
    return files_pb2.PageRequest(page=max(page, 1), limit=limit)


# ------------------------------------------------------------------------------------ lists
async def _list(request: web.Request, method: str, message: Any) -> web.Response:
    identity = await require_identity(request)
    reply = await rpc(request, "files", method, message, identity=identity)
    return web.json_response({
        "files": [file_summary(f) for f in reply.files],
        "page": reply.page,
        "has_more": reply.has_more,
    })


async def list_owned(request: web.Request) -> web.Response:
    return await _list(request, "ListOwned",
                       files_pb2.ListOwnedRequest(page=_page_request(request)))


async def list_shared(request: web.Request) -> web.Response:
    return await _list(request, "ListShared",
                       files_pb2.ListSharedRequest(page=_page_request(request)))


async def list_shortcuts(request: web.Request) -> web.Response:
    return await _list(request, "ListShortcuts",
                       files_pb2.ListShortcutsRequest(page=_page_request(request)))


# ------------------------------------------------------------------------------------ one file
async def get_file(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await optional_identity(request)
    reply = await rpc(request, "files", "GetFile", files_pb2.GetFileRequest(file_id=file_id),
                      identity=identity)
    return web.json_response(file_summary(reply.file))


async def download(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await optional_identity(request)
    reply = await rpc(request, "files", "GetDownloadUrl",
                      files_pb2.GetDownloadUrlRequest(file_id=file_id), identity=identity)
    return web.json_response({
        "download_url": reply.download_url,
        "expires_at": timestamp(reply.expires_at),
        "file_name": reply.file_name,
    })


async def rename(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    name = string(await _body(request), "name")
    await rpc(request, "files", "RenameFile",
              files_pb2.RenameFileRequest(file_id=file_id, name=name), identity=identity)
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    await rpc(request, "files", "DeleteFile", files_pb2.DeleteFileRequest(file_id=file_id),
              identity=identity)
    return web.Response(status=204)


async def copy(request: web.Request) -> web.Response:
    """The body is optional (the original sends none); `{"name"}` names the copy."""
    file_id = _file_id(request)
    identity = await require_identity(request)
    name = ""
    if request.body_exists and request.content_type == "application/json":
        name = string(await _body(request), "name", required=False)
    reply = await rpc(request, "files", "CopyFile",
                      files_pb2.CopyFileRequest(file_id=file_id, name=name), identity=identity)
    return web.json_response({"file_id": reply.file.file_id, "file": file_summary(reply.file)},
                             status=201)


# ------------------------------------------------------------------------------------ shares
async def add_shares(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    body = await _body(request)
    raw = body.get("recipients")
    if not isinstance(raw, list) or not raw:
        raise invalid("recipients must be a non-empty list of {email, permission}")
    recipients = []
    for item in raw:
        if not isinstance(item, dict):
            raise invalid("each recipient must be an object {email, permission}")
        recipients.append(files_pb2.ShareRecipient(
            email=string(item, "email"), permission=_permission(string(item, "permission"))
        ))
    reply = await rpc(request, "files", "AddShares",
                      files_pb2.AddSharesRequest(file_id=file_id, recipients=recipients),
                      identity=identity)
    return web.json_response({"shares": [share_json(s) for s in reply.shares]}, status=201)


async def list_shares(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    reply = await rpc(request, "files", "ListShares",
                      files_pb2.ListSharesRequest(file_id=file_id), identity=identity)
    return web.json_response([share_json(s) for s in reply.shares])


async def update_share(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    user_id = uuid_param(request.match_info.get("user_id"), "user id")
    identity = await require_identity(request)
    permission = _permission(string(await _body(request), "permission"))
    await rpc(request, "files", "UpdateShare",
              files_pb2.UpdateShareRequest(file_id=file_id, user_id=user_id,
                                           permission=permission),  # type: ignore[arg-type]
              identity=identity)
    return web.Response(status=204)


async def remove_share(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    user_id = uuid_param(request.match_info.get("user_id"), "user id")
    identity = await require_identity(request)
    await rpc(request, "files", "RemoveShare",
              files_pb2.RemoveShareRequest(file_id=file_id, user_id=user_id), identity=identity)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ links
async def create_public_link(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    reply = await rpc(request, "files", "CreatePublicLink",
                      files_pb2.CreatePublicLinkRequest(file_id=file_id), identity=identity)
    return web.json_response({"public_url": reply.public_url}, status=201)


async def delete_public_link(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    await rpc(request, "files", "DeletePublicLink",
              files_pb2.DeletePublicLinkRequest(file_id=file_id), identity=identity)
    return web.Response(status=204)


async def create_shortcut(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    reply = await rpc(request, "files", "CreateShortcut",
                      files_pb2.CreateShortcutRequest(file_id=file_id), identity=identity)
    return web.json_response({
        "shortcut_id": reply.shortcut_id,
        "file_id": reply.file_id,
        "created_at": timestamp(reply.created_at),
    }, status=201)


async def delete_shortcut(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    await rpc(request, "files", "DeleteShortcut",
              files_pb2.DeleteShortcutRequest(file_id=file_id), identity=identity)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/files/me/owned", list_owned)
    r.add_get("/api/files/me/shared", list_shared)
    r.add_get("/api/files/me/shortcuts", list_shortcuts)
    r.add_get("/api/files/f/{file_id}", get_file)
    r.add_patch("/api/files/f/{file_id}", rename)
    r.add_delete("/api/files/f/{file_id}", delete)
    r.add_get("/api/files/f/{file_id}/download", download)
    r.add_post("/api/files/f/{file_id}/copy", copy)
    r.add_post("/api/files/f/{file_id}/shares", add_shares)
    r.add_get("/api/files/f/{file_id}/shares", list_shares)
    r.add_patch("/api/files/f/{file_id}/shares/{user_id}", update_share)
    r.add_delete("/api/files/f/{file_id}/shares/{user_id}", remove_share)
    r.add_post("/api/files/f/{file_id}/public", create_public_link)
    r.add_delete("/api/files/f/{file_id}/public", delete_public_link)
    r.add_post("/api/files/f/{file_id}/shortcut", create_shortcut)
    r.add_delete("/api/files/f/{file_id}/shortcut", delete_shortcut)


# ------------------------------------------------------------------------------------ OpenAPI
_FILE_SUMMARY = {
    "type": "object",
    "required": ["file_id", "owner_id", "name", "mime_type", "size_bytes", "created_at",
                 "is_public"],
    "properties": {
        "file_id": {"type": "string", "format": "uuid"},
        "owner_id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "mime_type": {"type": "string"},
        "size_bytes": {"type": "integer", "format": "int64"},
        "checksum": {"type": "string", "description": "SHA-256 hex where measured"},
        "created_at": {"type": "string", "format": "date-time"},
        "is_public": {"type": "boolean"},
        "access": {"type": "string", "enum": ["owner", "editor", "viewer", "public"],
                   "description": "what the caller may do"},
    },
}
_PAGE = {
    "type": "object",
    "properties": {"files": {"type": "array", "items": _FILE_SUMMARY},
                   "page": {"type": "integer"}, "has_more": {"type": "boolean"}},
}
_SHARE = {
    "type": "object",
    "properties": {"user_id": {"type": "string", "format": "uuid"},
                   "email": {"type": "string"},
                   "permission": {"type": "string", "enum": ["viewer", "editor"]},
                   "created_at": {"type": "string", "format": "date-time"}},
}
_ID = {"name": "file_id", "in": "path", "required": True,
       "schema": {"type": "string", "format": "uuid"}}
_USER = {"name": "user_id", "in": "path", "required": True,
         "schema": {"type": "string", "format": "uuid"}}
_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
]
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_ANON_OK: list[dict[str, list[str]]] = [{"bearer": []}, {}]
_COMMON = {"400": openapi.error("malformed id or body"), "401": openapi.error("no or bad token")}
_VISIBLE = {**_COMMON, "404": openapi.error("no such file, or not visible to the caller")}
_CHANGE = {**_VISIBLE, "403": openapi.error("visible but not changeable by the caller")}


def _op(summary: str, ok: dict[str, Any], errors: dict[str, Any], *, params: list[Any],
        body: dict[str, Any] | None = None, security: list[Any] = _AUTH) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": summary, "tags": ["files"], "security": security,
                             "parameters": params, "responses": {**ok, **errors}}
    if body is not None:
        entry["requestBody"] = openapi.json_body(body)
    return entry


def _listing(what: str) -> dict[str, Any]:
    return {"get": _op(f"{what}, newest first", {"200": openapi.json_ok("a page", _PAGE)},
                       _COMMON, params=_PAGING)}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/files/me/owned": _listing("Files I own"),
    "/api/files/me/shared": _listing("Files shared with me"),
    "/api/files/me/shortcuts": _listing("My shortcuts (files I can still see)"),
    "/api/files/f/{file_id}": {
        "get": _op("One file (anonymous allowed for public files)",
                   {"200": openapi.json_ok("the file", _FILE_SUMMARY)}, _VISIBLE,
                   params=[_ID], security=_ANON_OK),
        "patch": _op("Rename (owner or editor)", {"204": {"description": "renamed"}}, _CHANGE,
                     params=[_ID], body={"type": "object", "required": ["name"],
                                         "properties": {"name": {"type": "string",
                                                                 "maxLength": 255}}}),
        "delete": _op("Delete (owner); the object is removed from S3",
                      {"204": {"description": "deleted"}}, _CHANGE, params=[_ID]),
    },
    "/api/files/f/{file_id}/download": {
        "get": _op("Presigned download URL (anonymous allowed for public files)",
                   {"200": openapi.json_ok("a presigned GET", {
                       "type": "object",
                       "properties": {"download_url": {"type": "string"},
                                      "expires_at": {"type": "string", "format": "date-time"},
                                      "file_name": {"type": "string"}}})},
                   _VISIBLE, params=[_ID], security=_ANON_OK),
    },
    "/api/files/f/{file_id}/copy": {
        "post": _op("Copy into a new file owned by the caller (any reader may copy)",
                    {"201": openapi.json_ok("copied", {
                        "type": "object", "properties": {"file_id": {"type": "string"},
                                                         "file": _FILE_SUMMARY}})},
                    _VISIBLE, params=[_ID]),
    },
    "/api/files/f/{file_id}/shares": {
        "post": _op("Share by email (owner; all or nothing; UNKNOWN_RECIPIENTS names the "
                    "emails without an account; sharing again updates the permission)",
                    {"201": openapi.json_ok("shared", {
                        "type": "object", "properties": {"shares": {"type": "array",
                                                                    "items": _SHARE}}})},
                    _CHANGE, params=[_ID], body={
                        "type": "object", "required": ["recipients"],
                        "properties": {"recipients": {"type": "array", "items": {
                            "type": "object", "required": ["email", "permission"],
                            "properties": {"email": {"type": "string"},
                                           "permission": {"type": "string",
                                                          "enum": ["viewer", "editor"]}}}}}}),
        "get": _op("List shares (owner)",
                   {"200": openapi.json_ok("shares", {"type": "array", "items": _SHARE})},
                   _CHANGE, params=[_ID]),
    },
    "/api/files/f/{file_id}/shares/{user_id}": {
        "patch": _op("Change a share's permission (owner; 404 SHARE_NOT_FOUND)",
                     {"204": {"description": "updated"}}, _CHANGE, params=[_ID, _USER],
                     body={"type": "object", "required": ["permission"],
                           "properties": {"permission": {"type": "string",
                                                         "enum": ["viewer", "editor"]}}}),
        "delete": _op("Revoke a share (owner; 404 SHARE_NOT_FOUND)",
                      {"204": {"description": "revoked"}}, _CHANGE, params=[_ID, _USER]),
    },
    "/api/files/f/{file_id}/public": {
        "post": _op("Make public (owner; idempotent)",
                    {"201": openapi.json_ok("public", {
                        "type": "object", "properties": {"public_url": {"type": "string"}}})},
                    _CHANGE, params=[_ID]),
        "delete": _op("Make private (owner; idempotent)", {"204": {"description": "private"}},
                      _CHANGE, params=[_ID]),
    },
    "/api/files/f/{file_id}/shortcut": {
        "post": _op("Add a shortcut (any reader; creating it again returns the existing one)",
                    {"201": openapi.json_ok("the shortcut", {
                        "type": "object",
                        "properties": {"shortcut_id": {"type": "string"},
                                       "file_id": {"type": "string"},
                                       "created_at": {"type": "string",
                                                      "format": "date-time"}}})},
                    _VISIBLE, params=[_ID]),
        "delete": _op("Remove my shortcut (idempotent: 204 even when there was none)",
                      {"204": {"description": "removed"}}, _COMMON, params=[_ID]),
    },
}
