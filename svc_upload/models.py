"""The ledger's domain types, shared by service.py (rules) and store.py (SQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PROXY = "proxy"
MULTIPART = "multipart"
TUS = "tus"

PENDING = "pending"
UPLOADING = "uploading"
COMPLETING = "completing"
COMPLETED = "completed"
FAILED = "failed"
ABORTED = "aborted"
EXPIRED = "expired"

ACTIVE = (PENDING, UPLOADING)  # still accepting chunks/parts
FINAL = (COMPLETED, FAILED, ABORTED, EXPIRED)


@dataclass(frozen=True)
class Session:
    upload_uuid: str
    owner_id: str
    method: str
    file_name: str
    file_size_bytes: int
    part_size_bytes: int
    total_chunks: int
    file_id: str
    storage_key: str
    storage_upload_id: str | None
    state: str
    created_at: datetime
    expires_at: datetime
    claim_token: str | None = None
    claimed_at: datetime | None = None
    result_size_bytes: int | None = None
    result_checksum: str | None = None
    mime_type: str | None = None
    failure_reason: str | None = None
    # False: a proxy session whose client did not say its chunk size; the first chunk tells it
    chunk_size_fixed: bool = True

    def expected_part_size(self, part_number: int) -> int:
        """Bytes expected for 1-based part `part_number` (the last one may be shorter)."""
        if part_number < self.total_chunks:
            return self.part_size_bytes
        return self.file_size_bytes - self.part_size_bytes * (self.total_chunks - 1)


@dataclass(frozen=True)
class Part:
    part_number: int  # 1-based (proxy chunk index + 1)
    etag: str
    size_bytes: int
    sha256: str | None


@dataclass(frozen=True)
class TusState:
    """A tus session's own row: the offset and where its bytes are (svc_upload/tus.py)."""

    received_bytes: int  # the Upload-Offset: recorded parts + tail
    length_deferred: bool
    metadata: str  # Upload-Metadata as sent
    tail_key: str | None  # the temporary object holding the bytes after the last part
    tail_bytes: int
    tail_sha256: str | None
    next_part: int
    writer_token: str | None
