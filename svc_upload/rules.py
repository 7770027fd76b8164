"""Upload rules that need nothing but their arguments: names, sizes, ids, checksums, why a
session can take no more, which parts are missing. No I/O here (no grpc, psycopg or minio); the
operations in service.py, proxy.py, multipart.py and completion.py apply them.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime

from common.errors import GoVaultError, InvalidArgument
from common.files import MIB, S3_MAX_PART_BYTES, S3_MAX_PARTS, S3_MIN_PART_BYTES
from svc_upload import errors
from svc_upload.config import UploadRules
from svc_upload.models import ABORTED, ACTIVE, EXPIRED, FAILED, PROXY, Part, Session

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")




def validate_size(size: int, max_bytes: int) -> int:
    if size < 0:  # 0 is an empty file: one empty chunk or part (README "Empty files")
        raise InvalidArgument("file_size_bytes must not be negative")
    if size > max_bytes:
        raise errors.file_too_large(max_bytes)
    return size


def proxy_chunk_size(requested: int | None, default: int, file_size: int) -> int:
    """The chunk size of a proxy session. A client may choose its own: 5 MiB (S3's minimum part
    size, what clients of the original send) to 5 GiB, and at most 10,000 chunks for the file.
    Without one, the server's default, raised to the next MiB multiple when the file would need
    more than 10,000 chunks."""
    if requested is None:
        fitting = math.ceil(file_size / S3_MAX_PARTS / MIB) * MIB
        return max(default, fitting)
    if not S3_MIN_PART_BYTES <= requested <= S3_MAX_PART_BYTES:
        raise InvalidArgument(f"chunk_size_bytes must be between 5 MiB ({S3_MIN_PART_BYTES}) "
                              f"and 5 GiB ({S3_MAX_PART_BYTES})")
    if math.ceil(file_size / requested) > S3_MAX_PARTS:
        raise errors.chunk_out_of_range(f"the file would need more than {S3_MAX_PARTS:,} chunks: "
                                        "use larger chunks")
    return requested


def told_chunk_size(file_size: int, index: int, size: int, default: int,
                    minimum: int = S3_MIN_PART_BYTES) -> int:
    """The chunk size a client slices a file with, told by one of its chunks (`size` bytes at
    `index`; -1: unknown, the server's default then): every chunk but the last has that size,
    at least `minimum` (S3's 5 MiB). A chunk no such size explains is CHUNK_SIZE_MISMATCH."""
    if size < 0 or file_size == 0:
        return default
    if index == 0 and size == file_size:
        return size  # the whole file in one chunk
    if size >= minimum and (index + 1) * size <= file_size:
        return size  # a full chunk
    if index >= 1 and 0 < size and (file_size - size) % index == 0:
        chunk = (file_size - size) // index  # the last chunk
        if chunk >= max(size, minimum) and math.ceil(file_size / chunk) == index + 1:
            return chunk
    raise errors.chunk_size_mismatch(
        f"chunk {index} of {size} bytes fits no chunk size for a {file_size}-byte file: every "
        "chunk but the last has one size of at least 5 MiB (5242880)")


def composite_checksum(digests_hex: list[str]) -> str:
    """Whole-object checksum of a multi-chunk proxy upload: SHA-256 over the concatenated raw
    per-chunk SHA-256 digests, suffixed `-N` (the shape of S3 composite checksums)."""
    joined = b"".join(bytes.fromhex(d) for d in digests_hex)
    return f"{hashlib.sha256(joined).hexdigest()}-{len(digests_hex)}"




def presign_expiry_s(rules: UploadRules) -> int:
    """Lifetime of presigned part URLs, within what S3 accepts (1 s to 7 days)."""
    return max(1, min(rules.presign_expiry_s, 7 * 24 * 3600))


def state_error(session: Session, now: datetime) -> GoVaultError | None:
    """Why a session can take no more chunks/parts/completes, or None if it still can."""
    if session.state == ABORTED:
        return errors.upload_aborted()
    if session.state == EXPIRED or (session.state in ACTIVE and session.expires_at <= now):
        return errors.upload_expired()
    if session.state == FAILED:
        reason = f": {session.failure_reason}" if session.failure_reason else ""
        return errors.upload_failed(f"the upload failed{reason}")
    return None


def require_all_parts(session: Session, parts: list[Part]) -> None:
    have = {p.part_number for p in parts}
    missing = [n for n in range(1, session.total_chunks + 1) if n not in have]
    if missing:
        noun = "chunks" if session.method == PROXY else "parts"
        shown = [n - 1 for n in missing] if session.method == PROXY else missing
        raise errors.parts_missing(f"missing {noun}: {list_numbers(shown)}")


def list_numbers(numbers: list[int], limit: int = 50) -> str:
    text = ", ".join(str(n) for n in numbers[:limit])
    return text + (f" … ({len(numbers)} in all)" if len(numbers) > limit else "")


def now() -> datetime:
    return datetime.now(UTC)
