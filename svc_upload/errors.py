"""The upload service's errors: one named constructor per stable code it raises (the code's
statuses are its entry in `common.errors.CODES`; the class is the code's kind there). Generic
refusals without a code of their own are raised as the bare classes (`InvalidArgument("…")`,
`Conflict("…")`); the store, the database or the files service being unreachable is
`Unavailable`.

    common.s3.StoreRefused (raised by s3.py, acted on by completion.py and proxy.py)
    ├── EntityTooSmall       a non-last part is under S3's 5 MiB minimum
    ├── InvalidPart          a reported part/ETag does not exist in the store
    └── NoSuchUpload         the multipart upload id is unknown (completed or aborted)
"""

from __future__ import annotations

from common.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound


def not_found() -> NotFound:
    """The same answer for a missing session and someone else's (existence is not leaked)."""
    return NotFound("upload session not found", "UPLOAD_NOT_FOUND")


def upload_not_active(message: str) -> FailedPrecondition:
    """The session cannot take this operation: the other upload method's, or one that needs
    an active (or a complete) upload."""
    return FailedPrecondition(message, "UPLOAD_NOT_ACTIVE")


def upload_aborted() -> Conflict:
    return Conflict("the upload was aborted", "UPLOAD_ABORTED")


def upload_expired() -> Conflict:
    return Conflict("the upload session expired", "UPLOAD_EXPIRED")


def upload_failed(message: str = "the upload failed") -> Conflict:
    return Conflict(message, "UPLOAD_FAILED")


def upload_in_progress(message: str) -> Conflict:
    """Another request is completing the upload (or moved its state) right now."""
    return Conflict(message, "UPLOAD_IN_PROGRESS")


def file_too_large(max_bytes: int) -> InvalidArgument:
    return InvalidArgument(f"file_size_bytes must be at most {max_bytes}", "FILE_TOO_LARGE")


def checksum_mismatch() -> InvalidArgument:
    return InvalidArgument("the chunk does not match its checksum", "CHECKSUM_MISMATCH")


def chunk_out_of_range(message: str) -> InvalidArgument:
    return InvalidArgument(message, "CHUNK_OUT_OF_RANGE")


def chunk_too_large(message: str) -> InvalidArgument:
    return InvalidArgument(message, "CHUNK_TOO_LARGE")


def chunk_size_mismatch(message: str) -> InvalidArgument:
    return InvalidArgument(message, "CHUNK_SIZE_MISMATCH")


def part_out_of_range(message: str) -> InvalidArgument:
    return InvalidArgument(message, "PART_OUT_OF_RANGE")


def part_size_mismatch(message: str) -> InvalidArgument:
    return InvalidArgument(message, "PART_SIZE_MISMATCH")


def part_too_small(message: str) -> FailedPrecondition:
    """A part under S3's 5 MiB minimum that is not the last: asked for at session creation, or
    found by the store at completion (where the session goes back to uploading: fixable)."""
    return FailedPrecondition(message, "PART_TOO_SMALL")


def parts_missing(message: str) -> FailedPrecondition:
    return FailedPrecondition(message, "PARTS_MISSING")


def part_not_uploaded() -> FailedPrecondition:
    return FailedPrecondition("a registered part was not found in the store with the reported "
                              "ETag: re-upload it, register it again, then complete",
                              "PART_NOT_UPLOADED")


# tus 1.0 (svc_upload/tus.py, tus_bytes.py); the edge turns each into the status tus asks for.

def length_required() -> InvalidArgument:
    return InvalidArgument("the body needs a Content-Length", "LENGTH_REQUIRED")


def upload_length_exceeded(message: str) -> InvalidArgument:
    return InvalidArgument(message, "UPLOAD_LENGTH_EXCEEDED")


def upload_metadata_invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message, "UPLOAD_METADATA_INVALID")


def checksum_algorithm_unsupported(algorithm: str) -> InvalidArgument:
    return InvalidArgument(f"unsupported checksum algorithm {algorithm!r} (sha1, sha256)",
                           "CHECKSUM_ALGORITHM_UNSUPPORTED")


def upload_checksum_mismatch(message: str) -> InvalidArgument:
    """tus's `Upload-Checksum` did not match: nothing of that PATCH is kept (answered 460)."""
    return InvalidArgument(message, "UPLOAD_CHECKSUM_MISMATCH")


def upload_offset_mismatch(offset: int, asked: int) -> Conflict:
    return Conflict(f"the upload's offset is {offset}, not {asked}", "UPLOAD_OFFSET_MISMATCH")


def upload_locked(message: str) -> Conflict:
    """Another request holds the upload's write lock (answered 423)."""
    return Conflict(message, "UPLOAD_LOCKED")
