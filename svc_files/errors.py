"""The files service's errors: one named constructor per stable code it raises (the code's
statuses are its entry in `common.errors.CODES`; the class is the code's kind there). Bad input
without a code of its own is a bare `InvalidArgument("…")`; a caller who may see a file but not
change it is `PermissionDenied`; a unique key taken (file id, storage key) is `AlreadyExists`;
a storage quota too small is `QuotaExceeded` (`rules.quota_exceeded`); the database, S3 or the
auth service unreachable is `Unavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable

from common.errors import InvalidArgument, NotFound, Unauthenticated


def file_not_found() -> NotFound:
    """Missing, deleted, or not visible to the caller (the same answer)."""
    return NotFound("file not found", "FILE_NOT_FOUND")


def share_not_found() -> NotFound:
    return NotFound("share not found", "SHARE_NOT_FOUND")


def sign_in_to_see() -> Unauthenticated:
    """An anonymous caller for a file that is not public, or does not exist (the same answer)."""
    return Unauthenticated("sign in to see this file")


def too_many_recipients(limit: int) -> InvalidArgument:
    return InvalidArgument(f"at most {limit} recipients per request", "TOO_MANY_RECIPIENTS")


def unknown_recipients(emails: Iterable[str]) -> InvalidArgument:
    return InvalidArgument("no account for: " + ", ".join(sorted(emails)), "UNKNOWN_RECIPIENTS")


def cannot_share_with_self() -> InvalidArgument:
    return InvalidArgument("you cannot share a file with yourself", "CANNOT_SHARE_WITH_SELF")
