"""File rules both services apply (the upload service names and stores new files; the files
service renames, copies and registers them): one storage-key scheme, one file-name check, one
MIME guess, one UUID check, S3's part limits, and the one record of a new file (`NewFile`, the
RegisterFile request written once: `to_pb` on the upload side, `from_pb` on the files side).
No I/O."""

from __future__ import annotations

import mimetypes
import re
import uuid
from dataclasses import dataclass

from govault.files.v1 import files_pb2

from common.errors import InvalidArgument

MAX_NAME_CHARS = 255
# Limits the public API states (edge/api: /openapi.json) and the services enforce, written once.
# A deployment may lower the first two (GOVAULT_UPLOAD_MAX_FILE_SIZE_BYTES,
# GOVAULT_FILES_MAX_SHARE_RECIPIENTS), never raise them past what the description promises.
MAX_FILE_SIZE_BYTES = 50 * 1024**3
MAX_SHARE_RECIPIENTS = 10
DEFAULT_MIME = "application/octet-stream"

# S3's multipart limits, which every upload obeys (a proxy upload's chunks become parts too):
# every part but the last at least 5 MiB, none above 5 GiB, at most 10,000 of them. Stated here
# once; the client library and the web page ship apart and keep copies, which
# tests/unit/common/test_s3_limits.py holds to these.
MIB = 1024 * 1024
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PART_BYTES = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000
# What surrounds a part's ETag as a client reports it and is dropped: ASCII white space and
# quotes. Spelled out, not `\s`: Python's `\s` and str.strip() also take \x1c-\x1f and \x85,
# the JSON Schema (ECMAScript) `\s` of /openapi.json does not, and the two must agree.
ETAG_SPACE = " \t\n\v\f\r"
# Unicode's control characters (general category Cc) are exactly these 65 code points: a
# pattern finds one without a per-character category lookup (tests/unit/common/test_files.py).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


STORAGE_PREFIX = "users/"  # every object GoVault writes is under it


def storage_key(owner_id: str, file_id: str) -> str:
    """Where a file's bytes live in the bucket."""
    return f"{STORAGE_PREFIX}{owner_id}/{file_id}"


def validate_file_name(name: str, field: str = "name") -> str:
    """1–255 characters, not blank, no path separators, no control characters, not . or .."""
    if not name or not name.strip():
        raise InvalidArgument(f"{field} must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"{field} must be at most {MAX_NAME_CHARS} characters")
    if "/" in name or "\\" in name:
        raise InvalidArgument(f"{field} must not contain / or \\")
    if CONTROL_CHARACTER.search(name):
        raise InvalidArgument(f"{field} must not contain control characters")
    if name in {".", ".."}:
        raise InvalidArgument(f"{field} must not be . or ..")
    return name


def guess_mime(name: str, declared: str = "") -> str:
    """The declared type when it looks like one (`type/subtype[; params]`), else a guess from the
    name, else application/octet-stream. Never an error: a registration must not fail over it."""
    declared = declared.strip()
    if (declared and len(declared) <= 255 and "/" in declared.split(";", 1)[0]
            and not CONTROL_CHARACTER.search(declared)):
        return declared
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_MIME


def validate_uuid(value: str, field: str) -> str:
    """The canonical (lower-case, hyphenated) form of a UUID, or InvalidArgument."""
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{field} must be a UUID") from None


@dataclass(frozen=True)
class NewFile:
    """A file to record: registered by an upload (`upload_id`) or made by a copy (None)."""

    upload_id: str | None
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    storage_key: str

    def to_pb(self) -> files_pb2.RegisterFileRequest:
        return files_pb2.RegisterFileRequest(
            upload_id=self.upload_id or "", file_id=self.file_id, owner_id=self.owner_id,
            name=self.name, mime_type=self.mime_type, size_bytes=self.size_bytes,
            checksum=self.checksum, storage_key=self.storage_key)

    @classmethod
    def from_pb(cls, message: files_pb2.RegisterFileRequest) -> NewFile:
        return cls(upload_id=message.upload_id, file_id=message.file_id,
                   owner_id=message.owner_id, name=message.name, mime_type=message.mime_type,
                   size_bytes=message.size_bytes, checksum=message.checksum,
                   storage_key=message.storage_key)
