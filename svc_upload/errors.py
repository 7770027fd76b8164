"""The upload service's own named errors. The tree itself is `common.errors`; the codes used:

    GoVaultError (common.errors; code from CODES)
    ├── InvalidArgument      bad name/size, CHECKSUM_MISMATCH, CHUNK_* , PART_*, FILE_TOO_LARGE;
    │                        tus: UPLOAD_CHECKSUM_MISMATCH, UPLOAD_LENGTH_EXCEEDED,
    │                        LENGTH_REQUIRED, CHECKSUM_ALGORITHM_UNSUPPORTED,
    │                        UPLOAD_METADATA_INVALID
    ├── FailedPrecondition   PARTS_MISSING, PART_TOO_SMALL, PART_NOT_UPLOADED
    ├── NotFound             UPLOAD_NOT_FOUND (also: someone else's session)
    ├── Conflict             UPLOAD_ABORTED, UPLOAD_EXPIRED, UPLOAD_FAILED, UPLOAD_IN_PROGRESS,
    │                        different bytes for an already completed chunk; tus:
    │                        UPLOAD_OFFSET_MISMATCH, UPLOAD_LOCKED
    └── Unavailable          the store, the database or the files service is unreachable

    common.s3.StoreRefused (raised by s3.py, acted on by completion.py and proxy.py)
    ├── EntityTooSmall       a non-last part is under S3's 5 MiB minimum
    ├── InvalidPart          a reported part/ETag does not exist in the store
    └── NoSuchUpload         the multipart upload id is unknown (completed or aborted)
"""

from __future__ import annotations

from common.errors import NotFound


def not_found() -> NotFound:
    """The same answer for a missing session and someone else's (existence is not leaked)."""
    return NotFound("upload session not found", "UPLOAD_NOT_FOUND")
