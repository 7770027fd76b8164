"""The files service's own named errors. The tree itself is `common.errors`; the codes used here:

    InvalidArgument     INVALID_ARGUMENT, UNKNOWN_RECIPIENTS, TOO_MANY_RECIPIENTS,
                        CANNOT_SHARE_WITH_SELF
    Unauthenticated     UNAUTHENTICATED (no caller / no service credential; an anonymous caller
                        for a file that is not public or does not exist)
    PermissionDenied    PERMISSION_DENIED (may see the file, may not change it)
    NotFound            FILE_NOT_FOUND (missing, deleted, or not visible), SHARE_NOT_FOUND
    AlreadyExists       ALREADY_EXISTS (a unique key taken: file id, storage key)
    Unavailable         UNAVAILABLE (database pool exhausted, S3 or auth unreachable)
"""

from __future__ import annotations

from common.errors import NotFound, Unauthenticated


def file_not_found() -> NotFound:
    return NotFound("file not found", "FILE_NOT_FOUND")


def share_not_found() -> NotFound:
    return NotFound("share not found", "SHARE_NOT_FOUND")


def sign_in_to_see() -> Unauthenticated:
    """An anonymous caller for a file that is not public, or does not exist (the same answer)."""
    return Unauthenticated("sign in to see this file", "UNAUTHENTICATED")
