"""Routes for the files area: listings, the caller's storage usage, one file, download links,
rename, delete, copy, shares, public links and shortcuts (wire-compatible with the original
GoVault, docs/design.md §3).

Each handler parses the request (ids must be UUIDs → 400; bodies decode into `edge.api.files`
models), makes one call to the files service and shapes the answer. Who may do what is the files
service's decision: a file the caller may not see answers 404 FILE_NOT_FOUND, one they may see
but not change 403. Anonymous callers are accepted only on GET /f/{id} and /f/{id}/download
(public files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc
from aiohttp import web
from govault.files.v1 import files_pb2, files_pb2_grpc

from edge.api import files as api
from edge.auth import optional_identity, require_identity
from edge.request import decode, query_int, read_body, read_model, uuid_param
from edge.shape import reply, timestamp
from edge.upstream import call, upstreams

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_ACCESS: dict[int, api.Access] = {
    files_pb2.ACCESS_PUBLIC: "public",
    files_pb2.ACCESS_VIEWER: "viewer",
    files_pb2.ACCESS_EDITOR: "editor",
    files_pb2.ACCESS_OWNER: "owner",
}
_PERMISSION_IN: dict[api.Permission, files_pb2.Permission.ValueType] = {
    "viewer": files_pb2.PERMISSION_VIEWER, "editor": files_pb2.PERMISSION_EDITOR}
_PERMISSION_OUT = {v: k for k, v in _PERMISSION_IN.items()}


# ------------------------------------------------------------------------------------ shaping
def file_summary(f: files_pb2.FileSummary) -> api.FileSummary:
    return api.FileSummary(
        file_id=f.file_id, owner_id=f.owner_id, name=f.name, mime_type=f.mime_type,
        size_bytes=f.size_bytes, checksum=f.checksum, created_at=timestamp(f.created_at),
        is_public=f.is_public, access=_ACCESS.get(f.access))


def share(s: files_pb2.Share) -> api.Share:
    return api.Share(user_id=s.user_id, email=s.email,
                     permission=_PERMISSION_OUT.get(s.permission),
                     created_at=timestamp(s.created_at))


def _files(request: web.Request) -> files_pb2_grpc.FilesServiceAsyncStub:
    return upstreams(request).files


def _file_id(request: web.Request) -> str:
    return uuid_param(request.match_info.get("file_id"), "file id")


async def _on_file(request: web.Request, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
                   message: Callable[..., Req]) -> Resp:
    """One call about the path's file (`message(file_id=...)`) for the signed-in caller."""
    file_id = _file_id(request)
    identity = await require_identity(request)
    return await call(request, method, message(file_id=file_id), identity=identity)


def _page_request(request: web.Request) -> files_pb2.PageRequest:
    return files_pb2.PageRequest(
        page=query_int(request, api.PAGE, 1), limit=query_int(request, api.LIMIT, 0))


_Page = files_pb2.ListOwnedResponse | files_pb2.ListSharedResponse | files_pb2.ListShortcutsResponse


def _page(answer: _Page) -> web.Response:
    return reply(api.Page(files=[file_summary(f) for f in answer.files], page=answer.page,
                          has_more=answer.has_more))


# ------------------------------------------------------------------------------------ lists
async def list_owned(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    message = files_pb2.ListOwnedRequest(page=_page_request(request))
    answer = await call(request, _files(request).ListOwned, message, identity=identity)
    return _page(answer)


async def list_shared(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    message = files_pb2.ListSharedRequest(page=_page_request(request))
    answer = await call(request, _files(request).ListShared, message, identity=identity)
    return _page(answer)


async def list_shortcuts(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    message = files_pb2.ListShortcutsRequest(page=_page_request(request))
    answer = await call(request, _files(request).ListShortcuts, message,
                        identity=identity)
    return _page(answer)


async def usage(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    answer = await call(request, _files(request).GetUsage, files_pb2.GetUsageRequest(),
                        identity=identity)
    u = answer.usage
    return reply(api.Usage(used_bytes=u.used_bytes, reserved_bytes=u.reserved_bytes,
                           quota_bytes=u.quota_bytes, files=u.files))


# ------------------------------------------------------------------------------------ one file
async def get_file(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await optional_identity(request)
    answer = await call(request, _files(request).GetFile,
                        files_pb2.GetFileRequest(file_id=file_id), identity=identity)
    return reply(file_summary(answer.file))


async def download(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await optional_identity(request)
    answer = await call(request, _files(request).GetDownloadUrl,
                        files_pb2.GetDownloadUrlRequest(file_id=file_id), identity=identity)
    return reply(api.DownloadUrl(download_url=answer.download_url,
                                 expires_at=timestamp(answer.expires_at),
                                 file_name=answer.file_name))


async def rename(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    body = await read_model(request, api.Rename)
    await call(request, _files(request).RenameFile,
               files_pb2.RenameFileRequest(file_id=file_id, name=body.name), identity=identity)
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    await _on_file(request, _files(request).DeleteFile, files_pb2.DeleteFileRequest)
    return web.Response(status=204)


async def copy(request: web.Request) -> web.Response:
    """The body is optional (the original sends none); `{"name"}` names the copy."""
    file_id = _file_id(request)
    identity = await require_identity(request)
    name = ""
    if request.body_exists and request.content_type == "application/json":
        name = decode(await read_body(request), api.CopyBody).name
    answer = await call(request, _files(request).CopyFile,
                        files_pb2.CopyFileRequest(file_id=file_id, name=name), identity=identity)
    copied = file_summary(answer.file)
    return reply(api.Copied(file_id=copied.file_id, file=copied), status=201)


# ------------------------------------------------------------------------------------ shares
async def add_shares(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    identity = await require_identity(request)
    body = await read_model(request, api.AddShares)
    recipients = [files_pb2.ShareRecipient(email=r.email, permission=_PERMISSION_IN[r.permission])
                  for r in body.recipients]
    answer = await call(request, _files(request).AddShares,
                        files_pb2.AddSharesRequest(file_id=file_id, recipients=recipients),
                        identity=identity)
    return reply(api.Shares(shares=[share(s) for s in answer.shares]), status=201)


async def list_shares(request: web.Request) -> web.Response:
    answer = await _on_file(request, _files(request).ListShares, files_pb2.ListSharesRequest)
    return reply([share(s) for s in answer.shares])


async def update_share(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    user_id = uuid_param(request.match_info.get("user_id"), "user id")
    identity = await require_identity(request)
    body = await read_model(request, api.UpdateShare)
    message = files_pb2.UpdateShareRequest(file_id=file_id, user_id=user_id,
                                           permission=_PERMISSION_IN[body.permission])
    await call(request, _files(request).UpdateShare, message, identity=identity)
    return web.Response(status=204)


async def remove_share(request: web.Request) -> web.Response:
    file_id = _file_id(request)
    user_id = uuid_param(request.match_info.get("user_id"), "user id")
    identity = await require_identity(request)
    await call(request, _files(request).RemoveShare,
               files_pb2.RemoveShareRequest(file_id=file_id, user_id=user_id), identity=identity)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ links
async def create_public_link(request: web.Request) -> web.Response:
    answer = await _on_file(request, _files(request).CreatePublicLink,
                            files_pb2.CreatePublicLinkRequest)
    return reply(api.PublicLink(public_url=answer.public_url), status=201)


async def delete_public_link(request: web.Request) -> web.Response:
    await _on_file(request, _files(request).DeletePublicLink, files_pb2.DeletePublicLinkRequest)
    return web.Response(status=204)


async def create_shortcut(request: web.Request) -> web.Response:
    answer = await _on_file(request, _files(request).CreateShortcut,
                            files_pb2.CreateShortcutRequest)
    return reply(api.Shortcut(shortcut_id=answer.shortcut_id, file_id=answer.file_id,
                              created_at=timestamp(answer.created_at)), status=201)


async def delete_shortcut(request: web.Request) -> web.Response:
    await _on_file(request, _files(request).DeleteShortcut, files_pb2.DeleteShortcutRequest)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    for operation, handler in (
            (api.LIST_OWNED, list_owned), (api.LIST_SHARED, list_shared),
            (api.LIST_SHORTCUTS, list_shortcuts), (api.USAGE, usage), (api.GET, get_file),
            (api.RENAME, rename),
            (api.DELETE, delete), (api.DOWNLOAD, download), (api.COPY, copy),
            (api.ADD_SHARES, add_shares), (api.LIST_SHARES, list_shares),
            (api.UPDATE_SHARE, update_share), (api.REMOVE_SHARE, remove_share),
            (api.MAKE_PUBLIC, create_public_link), (api.MAKE_PRIVATE, delete_public_link),
            (api.ADD_SHORTCUT, create_shortcut), (api.REMOVE_SHORTCUT, delete_shortcut)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
