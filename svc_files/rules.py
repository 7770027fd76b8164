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

import re

from common.errors import InvalidArgument, PermissionDenied, QuotaExceeded
from svc_files.errors import file_not_found, sign_in_to_see
from svc_files.models import EDITOR, PERMISSIONS, Access, FileGrant, FileView, Usage

MAX_EMAIL_CHARS = 320
INT64_MAX = 2**63 - 1
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


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



def parse_size(text: str | int) -> int:
    """Bytes from `1073741824`, `50GiB`, `1.5 TB`, `512MiB` (binary units *iB, decimal KB/MB/GB/
    TB); `0` and `unlimited` mean no quota. ValueError for anything else."""
    if isinstance(text, int):
        value = text
    elif text.strip().lower() == "unlimited":
        return 0
    else:
        match = _SIZE.match(text.lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(f"not a size: {text!r} (examples: 1048576, 512MiB, 50GiB, 1TB)")
        value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"size out of range: {text!r}")
    return value


def format_bytes(n: int) -> str:
    """`1.5 GiB`, `512 B`: binary units, one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def quota_exceeded(usage: Usage, wanted: int) -> QuotaExceeded:
    """The 413 answer: what was asked, what is free, and the quota."""
    free = usage.free_bytes or 0
    return QuotaExceeded(
        f"storage quota exceeded: {format_bytes(wanted)} ({wanted} bytes) requested, "
        f"{format_bytes(free)} ({free} bytes) free of {format_bytes(usage.quota_bytes)} "
        f"({format_bytes(usage.used_bytes)} stored, {format_bytes(usage.reserved_bytes)} "
        "reserved by open uploads); delete files or ask the operator for a larger quota")


def fits(usage: Usage, wanted: int) -> bool:
    """Whether `wanted` more bytes fit (the rule the store's conditional updates apply)."""
    return usage.quota_bytes == 0 or (
        usage.used_bytes + usage.reserved_bytes + wanted <= usage.quota_bytes)
