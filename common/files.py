"""File rules both services apply (the upload service names and stores new files; the files
service renames, copies and registers them): one storage-key scheme, one file-name check, one
MIME guess, one UUID check. No I/O."""

from __future__ import annotations

import mimetypes
import unicodedata
import uuid

from common.errors import InvalidArgument

MAX_NAME_CHARS = 255
DEFAULT_MIME = "application/octet-stream"


def storage_key(owner_id: str, file_id: str) -> str:
    """Where a file's bytes live in the bucket."""
    return f"users/{owner_id}/{file_id}"


def validate_file_name(name: str, field: str = "name") -> str:
    """1–255 characters, not blank, no path separators, no control characters, not . or .."""
    if not name or not name.strip():
        raise InvalidArgument(f"{field} must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"{field} must be at most {MAX_NAME_CHARS} characters")
    if "/" in name or "\\" in name:
        raise InvalidArgument(f"{field} must not contain / or \\")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidArgument(f"{field} must not contain control characters")
    if name in {".", ".."}:
        raise InvalidArgument(f"{field} must not be . or ..")
    return name


def guess_mime(name: str, declared: str = "") -> str:
    """The declared type when it looks like one (`type/subtype[; params]`), else a guess from the
    name, else application/octet-stream. Never an error: a registration must not fail over it."""
    declared = declared.strip()
    if (declared and len(declared) <= 255 and "/" in declared.split(";", 1)[0]
            and not any(unicodedata.category(ch) == "Cc" for ch in declared)):
        return declared
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_MIME


def validate_uuid(value: str, field: str) -> str:
    """The canonical (lower-case, hyphenated) form of a UUID, or InvalidArgument."""
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{field} must be a UUID") from None
