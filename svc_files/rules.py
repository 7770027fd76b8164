"""The files rules that need nothing but their arguments: who may do what with a file (the access
matrix) and the validators. No I/O here; service.py applies them.

Access matrix (`access_for`): owner → OWNER; a share → EDITOR or VIEWER; a public file → PUBLIC;
anyone else (and anonymous callers of private files) → NONE.

| operation                        | needs            | otherwise                         |
|----------------------------------|------------------|-----------------------------------|
| GetFile, GetDownloadUrl          | PUBLIC (anon ok) | 404 FILE_NOT_FOUND                |
| CopyFile, CreateShortcut         | PUBLIC + a user  | 404                               |
| RenameFile                       | EDITOR           | 403 if visible, else 404          |
| DeleteFile, shares, public link  | OWNER            | 403 if visible, else 404          |
| DeleteShortcut                   | a user           | idempotent: 204 whatever existed  |
"""

from __future__ import annotations

from common.errors import InvalidArgument, PermissionDenied
from svc_files.errors import file_not_found, sign_in_to_see
from svc_files.models import EDITOR, PERMISSIONS, Access, FileGrant, FileView

MAX_EMAIL_CHARS = 320


def access_for(grant: FileGrant, caller_id: str | None) -> Access:
    file = grant.file
    if caller_id is not None and caller_id == file.owner_id:
        return Access.OWNER
    if caller_id is not None and grant.share_permission == EDITOR:
        return Access.EDITOR
    if caller_id is not None and grant.share_permission is not None:
        return Access.VIEWER
    if file.is_public:
        return Access.PUBLIC
    return Access.NONE


def require_access(grant: FileGrant | None, caller_id: str | None, needed: Access) -> FileView:
    """The caller's view of the file, or 404 when they may not see it / 403 when they may see it
    but not do this. An anonymous caller who may not see it (not public, or no such file) is
    asked to sign in instead: 401, so a browser can prompt; a signed-in user still gets 404."""
    access = Access.NONE if grant is None else access_for(grant, caller_id)
    if access == Access.NONE and caller_id is None:
        raise sign_in_to_see()
    if grant is None or access == Access.NONE:
        raise file_not_found()
    if access < needed:
        raise PermissionDenied(
            "only the owner may do this" if needed == Access.OWNER
            else "you may view this file but not change it"
        )
    return FileView(grant.file, access)








def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    local, at, domain = normalized.partition("@")
    if not at or not local or not domain or len(normalized) > MAX_EMAIL_CHARS:
        raise InvalidArgument(f"not an email address: {email!r}")
    return normalized


def validate_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise InvalidArgument("permission must be viewer or editor")
    return permission

