"""Request and response models of the files area, and its operations."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from common.files import MAX_NAME_CHARS, MAX_SHARE_RECIPIENTS
from edge.api.auth import Email
from edge.api.base import (
    END,
    FILE_NAME_BODY,
    INT32_MAX,
    UUID_PATTERN,
    FileName,
    Model,
    Operation,
    Param,
    Timestamp,
    Uuid,
)

# The files service answers "page is out of range" beyond this.
PAGE_MAX = 1_000_000
Permission = Literal["viewer", "editor"]
Access = Literal["owner", "editor", "viewer", "public"]


class FileSummary(Model):
    file_id: Uuid
    owner_id: Uuid
    name: str
    mime_type: str
    size_bytes: int
    created_at: Timestamp
    is_public: bool
    checksum: Annotated[str, msgspec.Meta(description="SHA-256 hex where measured")]
    access: Annotated[Access | None,
                      msgspec.Meta(description="what the caller may do")]


class Page(Model):
    files: list[FileSummary]
    page: int
    has_more: bool


class DownloadUrl(Model):
    download_url: str
    expires_at: Timestamp
    file_name: str


class Rename(Model):
    name: FileName


class CopyBody(Model):
    name: Annotated[str, msgspec.Meta(
        pattern=rf"^(?:{END}|{FILE_NAME_BODY})", max_length=MAX_NAME_CHARS,
        description="the copy's name (empty or absent: the same name)")] = ""


class Copied(Model):
    file_id: Uuid
    file: FileSummary


class Usage(Model):
    used_bytes: Annotated[int, msgspec.Meta(
        description="bytes of the caller's files (copies count; files shared with them do not)")]
    reserved_bytes: Annotated[int, msgspec.Meta(
        description="bytes held by the caller's open upload sessions")]
    quota_bytes: Annotated[int, msgspec.Meta(description="the caller's quota; 0 = unlimited")]
    files: Annotated[int, msgspec.Meta(description="how many files the caller owns")]


class Recipient(Model):
    email: Email
    permission: Permission


class AddShares(Model):
    recipients: Annotated[list[Recipient], msgspec.Meta(
        min_length=1, max_length=MAX_SHARE_RECIPIENTS,
        description=f"at most {MAX_SHARE_RECIPIENTS} per request (a deployment may set fewer, "
                    "answered 400 TOO_MANY_RECIPIENTS)")]


class Share(Model):
    user_id: Uuid
    email: str
    permission: Permission | None
    created_at: Timestamp


class Shares(Model):
    shares: list[Share]


class UpdateShare(Model):
    permission: Permission


class PublicLink(Model):
    public_url: str


class Shortcut(Model):
    shortcut_id: str
    file_id: str
    created_at: Timestamp


_ID_SCHEMA = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
FILE_ID = Param("file_id", "path", _ID_SCHEMA, required=True)
USER_ID = Param("user_id", "path", _ID_SCHEMA, required=True)
PAGE = Param("page", "query",
             {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1},
             allow_empty=True)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
              description="page size (default and cap set by the server)",
              allow_empty=True)
PAGING = (PAGE, LIMIT)
_VISIBLE = {404: "no such file, or not visible to the caller (FILE_NOT_FOUND)"}
# Anonymous reads: a file that is not public, or does not exist, asks for a token (a signed-in
# caller without access still gets 404, so existence is not leaked).
_READ = {**_VISIBLE, 401: "invalid or expired access token, or none presented for a file that "
                          "is not public or does not exist (UNAUTHENTICATED, with "
                          "WWW-Authenticate: Bearer realm=\"govault\")"}
_CHANGE = {**_VISIBLE, 403: "visible but not changeable by the caller"}
_SHARE = {**_CHANGE, 404: "no such file or share (FILE_NOT_FOUND, SHARE_NOT_FOUND)"}


def _listing(path: str, what: str) -> Operation:
    return Operation("get", path, f"{what}, newest first", "files", ok=Page, params=PAGING)


LIST_OWNED = _listing("/api/files/me/owned", "Files I own")
LIST_SHARED = _listing("/api/files/me/shared", "Files shared with me")
LIST_SHORTCUTS = _listing("/api/files/me/shortcuts", "My shortcuts (files I can still see)")
USAGE = Operation(
    "get", "/api/files/me/usage",
    "My storage usage and quota: an upload session or a copy that would take used + reserved "
    "past a non-zero quota is refused with 413 QUOTA_EXCEEDED", "files", ok=Usage)
_F = "/api/files/f/{file_id}"
GET = Operation("get", _F, "One file (anonymous allowed for public files)", "files",
                ok=FileSummary, params=(FILE_ID,), errors=_READ, auth="optional")
RENAME = Operation("patch", _F, "Rename (owner or editor)", "files", ok_status=204, body=Rename,
                   params=(FILE_ID,), errors=_CHANGE)
DELETE = Operation("delete", _F, "Delete (owner); the object is removed from S3", "files",
                   ok_status=204, params=(FILE_ID,), errors=_CHANGE)
DOWNLOAD = Operation("get", _F + "/download",
                     "Presigned download URL (anonymous allowed for public files)", "files",
                     ok=DownloadUrl, params=(FILE_ID,), errors=_READ, auth="optional")
COPY = Operation("post", _F + "/copy",
                 "Copy into a new file owned by the caller (any reader may copy)", "files",
                 ok_status=201, ok=Copied, body=CopyBody, body_required=False,
                 params=(FILE_ID,),
                 errors={**_VISIBLE, 413: "the body is too large (PAYLOAD_TOO_LARGE), or the "
                         "caller's storage quota cannot hold the copy (QUOTA_EXCEEDED: the "
                         "message says how much is free)"})
ADD_SHARES = Operation(
    "post", _F + "/shares", "Share by email (owner; all or nothing; UNKNOWN_RECIPIENTS names the "
    "emails without an account; sharing again updates the permission)", "files",
    ok_status=201, ok=Shares, body=AddShares, params=(FILE_ID,), errors=_CHANGE)
LIST_SHARES = Operation("get", _F + "/shares", "List shares (owner)", "files", ok=Share,
                        ok_list=True, params=(FILE_ID,), errors=_CHANGE)
UPDATE_SHARE = Operation("patch", _F + "/shares/{user_id}", "Change a share's permission (owner)",
                         "files", ok_status=204, body=UpdateShare, params=(FILE_ID, USER_ID),
                         errors=_SHARE)
REMOVE_SHARE = Operation("delete", _F + "/shares/{user_id}", "Revoke a share (owner)", "files",
                         ok_status=204, params=(FILE_ID, USER_ID), errors=_SHARE)
MAKE_PUBLIC = Operation("post", _F + "/public", "Make public (owner; idempotent)", "files",
                        ok_status=201, ok=PublicLink, params=(FILE_ID,), errors=_CHANGE)
MAKE_PRIVATE = Operation("delete", _F + "/public", "Make private (owner; idempotent)", "files",
                         ok_status=204, params=(FILE_ID,), errors=_CHANGE)
ADD_SHORTCUT = Operation(
    "post", _F + "/shortcut", "Add a shortcut (any reader; creating it again returns the "
    "existing one)", "files", ok_status=201, ok=Shortcut, params=(FILE_ID,), errors=_VISIBLE)
REMOVE_SHORTCUT = Operation(
    "delete", _F + "/shortcut", "Remove my shortcut (idempotent: 204 even when there was none)",
    "files", ok_status=204, params=(FILE_ID,))

OPERATIONS = (LIST_OWNED, LIST_SHARED, LIST_SHORTCUTS, USAGE, GET, RENAME, DELETE, DOWNLOAD, COPY,
              ADD_SHARES, LIST_SHARES, UPDATE_SHARE, REMOVE_SHARE, MAKE_PUBLIC, MAKE_PRIVATE,
              ADD_SHORTCUT, REMOVE_SHORTCUT)
