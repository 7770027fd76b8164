"""Upload rules: the session state machine, chunk/part validation, completion and expiry.

No grpc, psycopg or minio here: the ledger, the object store and the files service are reached
through the small Protocols below, so these rules are unit-tested with in-memory fakes.

States (DESIGN §5): pending → uploading → completing → completed, or failed / aborted / expired.
Every transition is a conditional update in the store, so exactly one caller wins a race; the
winner of `completing` holds a claim token, and only that token may complete or release it.
A claim older than the lease (a crashed holder) may be taken over by a later call or the reaper.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from common.logging import get_logger
from svc_upload import metrics
from svc_upload.config import UploadRules
from svc_upload.errors import (
    Conflict,
    EntityTooSmall,
    FailedPrecondition,
    GoVaultError,
    InvalidArgument,
    InvalidPart,
    NoSuchUpload,
    Unavailable,
    not_found,
)
from svc_upload.model import (
    ABORTED,
    ACTIVE,
    COMPLETED,
    COMPLETING,
    EXPIRED,
    FAILED,
    MULTIPART,
    PROXY,
    UPLOADING,
    Part,
    Session,
)

log = get_logger(__name__)

MIB = 1024 * 1024
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PART_BYTES = 5 * 1024 * MIB
S3_MAX_PARTS = 10_000
MAX_NAME_CHARS = 255
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_POLL_S = 0.05


# seams --------------------------------------------------------------------------------------


class Ledger(Protocol):
    async def create_session(self, *, upload_uuid: str, owner_id: str, method: str,
                             file_name: str, file_size_bytes: int, part_size_bytes: int,
                             total_chunks: int, file_id: str, storage_key: str,
                             ttl_s: float) -> Session: ...
    async def get_session(self, upload_uuid: str) -> Session | None: ...
    async def set_storage_upload_id(self, upload_uuid: str, storage_upload_id: str) -> Session: ...
    async def record_part(self, upload_uuid: str, part: Part) -> int | None: ...
    async def record_claimed_part(self, upload_uuid: str, claim_token: str,
                                  part: Part) -> bool: ...
    async def count_parts(self, upload_uuid: str) -> int: ...
    async def delete_part(self, upload_uuid: str, part_number: int) -> None: ...
    async def list_parts(self, upload_uuid: str) -> list[Part]: ...
    async def get_part(self, upload_uuid: str, part_number: int) -> Part | None: ...
    async def claim_completing(self, upload_uuid: str, from_states: tuple[str, ...],
                               lease_s: float) -> Session | None: ...
    async def release_claim(self, upload_uuid: str, claim_token: str, to_state: str) -> bool: ...
    async def mark_completed(self, upload_uuid: str, claim_token: str, *, size_bytes: int,
                             checksum: str, mime_type: str) -> Session | None: ...
    async def mark_failed(self, upload_uuid: str, claim_token: str, reason: str) -> bool: ...
    async def finish_inactive(self, upload_uuid: str, to_state: str) -> Session | None: ...


class ObjectInfoLike(Protocol):
    @property
    def size_bytes(self) -> int: ...
    @property
    def etag(self) -> str: ...


class ObjectStore(Protocol):
    async def create_multipart(self, key: str) -> str: ...
    async def complete_multipart(self, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> str: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...
    async def multipart_exists(self, key: str, upload_id: str) -> bool: ...
    async def stat(self, key: str) -> ObjectInfoLike | None: ...
    async def delete(self, key: str) -> None: ...
    async def presign_parts(self, key: str, upload_id: str, part_numbers: list[int],
                            expires_s: int) -> list[str]: ...
    async def upload_part_stream(self, key: str, upload_id: str, part_number: int, length: int,
                                 body: AsyncIterator[bytes]) -> str: ...
    async def put_object_stream(self, key: str, length: int,
                                body: AsyncIterator[bytes]) -> str: ...


@dataclass(frozen=True)
class FileRegistration:
    upload_id: str
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    storage_key: str


class FilesRegistry(Protocol):
    async def register_file(self, registration: FileRegistration) -> str: ...


# results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    session: Session
    parts: list[tuple[int, str]]  # (part number, presigned URL); multipart only
    urls_expire_at: datetime | None


@dataclass(frozen=True)
class ChunkResult:
    upload_uuid: str
    chunk_index: int
    state: str
    file_id: str  # set once the upload is completed
    received_bytes: int
    checksum_sha256: str


@dataclass(frozen=True)
class Status:
    session: Session
    received: list[int]  # chunk indexes (0-based) or part numbers (1-based)


@dataclass(frozen=True)
class RegisteredPart:
    upload_uuid: str
    part_number: int
    registered_parts: int
    total_chunks: int


@dataclass(frozen=True)
class PresignedParts:
    parts: list[tuple[int, str]]
    expires_at: datetime


# validation ---------------------------------------------------------------------------------


def validate_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidArgument("file_name is required")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"file_name must be at most {MAX_NAME_CHARS} characters")
    if any(ch in "/\\" or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        raise InvalidArgument("file_name must not contain path separators or control characters")
    if name in (".", ".."):
        raise InvalidArgument("file_name must not be '.' or '..'")
    return name


def validate_size(size: int, max_bytes: int) -> int:
    if size <= 0:
        raise InvalidArgument("file_size_bytes must be greater than 0")
    if size > max_bytes:
        raise InvalidArgument(f"file_size_bytes must be at most {max_bytes}", "FILE_TOO_LARGE")
    return size


def parse_upload_uuid(value: str) -> str:
    lowered = value.strip().lower()
    if not _UUID.match(lowered):
        raise InvalidArgument("upload_uuid must be a UUID")
    return lowered


def composite_checksum(digests_hex: list[str]) -> str:
    """Whole-object checksum of a multi-chunk proxy upload: SHA-256 over the concatenated raw
    per-chunk SHA-256 digests, suffixed `-N` (the shape of S3 composite checksums)."""
    joined = b"".join(bytes.fromhex(d) for d in digests_hex)
    return f"{hashlib.sha256(joined).hexdigest()}-{len(digests_hex)}"


def guess_mime(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def state_error(session: Session, now: datetime) -> GoVaultError | None:
    """Why a session can take no more chunks/parts/completes, or None if it still can."""
    if session.state == ABORTED:
        return Conflict("the upload was aborted", "UPLOAD_ABORTED")
    if session.state == EXPIRED or (session.state in ACTIVE and session.expires_at <= now):
        return Conflict("the upload session expired", "UPLOAD_EXPIRED")
    if session.state == FAILED:
        reason = f": {session.failure_reason}" if session.failure_reason else ""
        return Conflict(f"the upload failed{reason}", "UPLOAD_FAILED")
    return None


class _Chunk:
    """One chunk's bytes on their way through: counted, hashed, validated, never held whole.

    `stream()` yields the frames but holds back the last one until the length and the client's
    checksum have been verified, so a rejected chunk never reaches the store complete."""

    def __init__(self, frames: AsyncIterator[bytes], expected: int, claimed_sha: str) -> None:
        self._frames = frames
        self.expected = expected
        self.claimed_sha = claimed_sha
        self.received = 0
        self.digest = ""
        self.error: GoVaultError | None = None
        self._hasher = hashlib.sha256()

    async def stream(self) -> AsyncIterator[bytes]:
        held: bytes | None = None
        try:
            async for frame in self._frames:
                if not frame:
                    continue
                self.received += len(frame)
                if self.received > self.expected:
                    raise InvalidArgument(
                        f"the chunk is longer than the expected {self.expected} bytes",
                        "CHUNK_TOO_LARGE")
                self._hasher.update(frame)
                if held is not None:
                    yield held
                held = frame
            if self.received < self.expected:
                raise InvalidArgument(
                    f"the chunk has {self.received} bytes, expected {self.expected}",
                    "CHUNK_SIZE_MISMATCH")
            self.digest = self._hasher.hexdigest()
            if self.claimed_sha and self.claimed_sha != self.digest:
                raise InvalidArgument("the chunk does not match its checksum",
                                      "CHECKSUM_MISMATCH")
            if held is not None:
                yield held
        except GoVaultError as exc:
            self.error = exc
            raise

    async def drain(self) -> str:
        async for _ in self.stream():
            pass
        return self.digest


# the service --------------------------------------------------------------------------------


class UploadService:
    def __init__(self, ledger: Ledger, objects: ObjectStore, files: FilesRegistry,
                 rules: UploadRules) -> None:
        self._ledger = ledger
        self._objects = objects
        self._files = files
        self._rules = rules

    # sessions -----------------------------------------------------------------------------

    async def create_proxy_session(self, owner_id: str, file_name: str,
                                   file_size_bytes: int) -> NewSession:
        validate_name(file_name)
        validate_size(file_size_bytes, self._rules.max_file_size_bytes)
        chunk = self._rules.chunk_size_bytes
        total = math.ceil(file_size_bytes / chunk)
        if total > S3_MAX_PARTS:
            raise InvalidArgument("the file needs more than 10,000 chunks", "FILE_TOO_LARGE")
        session = await self._new_session(owner_id, PROXY, file_name, file_size_bytes, chunk,
                                          total)
        if total > 1:
            session = await self._open_multipart(session)
        metrics.session_outcome(PROXY, "created")
        return NewSession(session, [], None)

    async def create_multipart_session(self, owner_id: str, file_name: str,
                                       file_size_bytes: int,
                                       part_size_bytes: int) -> NewSession:
        validate_name(file_name)
        validate_size(file_size_bytes, self._rules.max_file_size_bytes)
        if part_size_bytes <= 0:
            raise InvalidArgument("part_size_bytes must be greater than 0")
        # A part size larger than the file simply means one part.
        part_size = min(part_size_bytes, file_size_bytes)
        total = math.ceil(file_size_bytes / part_size)
        if part_size > S3_MAX_PART_BYTES:
            raise InvalidArgument("part_size_bytes must be at most 5 GiB")
        if total > S3_MAX_PARTS:
            raise InvalidArgument("the file would need more than 10,000 parts: use larger parts",
                                  "PART_OUT_OF_RANGE")
        if total > 1 and part_size < S3_MIN_PART_BYTES:
            raise InvalidArgument("part_size_bytes must be at least 5 MiB (except for a "
                                  "single-part upload)", "PART_TOO_SMALL")
        session = await self._new_session(owner_id, MULTIPART, file_name, file_size_bytes,
                                          part_size, total)
        session = await self._open_multipart(session)
        assert session.storage_upload_id is not None
        expiry = self._presign_expiry_s()
        numbers = list(range(1, total + 1))
        urls = await self._objects.presign_parts(session.storage_key, session.storage_upload_id,
                                                 numbers, expiry)
        metrics.session_outcome(MULTIPART, "created")
        return NewSession(session, list(zip(numbers, urls, strict=True)),
                          _now() + timedelta(seconds=expiry))

    async def _new_session(self, owner_id: str, method: str, file_name: str, size: int,
                           part_size: int, total: int) -> Session:
        file_id = str(uuid.uuid4())
        return await self._ledger.create_session(
            upload_uuid=str(uuid.uuid4()), owner_id=owner_id, method=method,
            file_name=file_name, file_size_bytes=size, part_size_bytes=part_size,
            total_chunks=total, file_id=file_id, storage_key=f"users/{owner_id}/{file_id}",
            ttl_s=self._rules.session_ttl_s,
        )

    async def _open_multipart(self, session: Session) -> Session:
        """The row exists first; then the S3 upload; a failure marks the session failed."""
        try:
            upload_id = await self._objects.create_multipart(session.storage_key)
        except BaseException:
            await self._ledger.finish_inactive(session.upload_uuid, FAILED)
            metrics.session_outcome(session.method, "failed")
            raise
        return await self._ledger.set_storage_upload_id(session.upload_uuid, upload_id)

    def _presign_expiry_s(self) -> int:
        return max(1, min(self._rules.presign_expiry_s, 7 * 24 * 3600))

    async def _owned(self, owner_id: str, upload_uuid: str) -> Session:
        session = await self._ledger.get_session(parse_upload_uuid(upload_uuid))
        if session is None or session.owner_id != owner_id:
            raise not_found()
        return session

    # status -------------------------------------------------------------------------------

    async def get_status(self, owner_id: str, upload_uuid: str) -> Status:
        session = await self._owned(owner_id, upload_uuid)
        parts = await self._ledger.list_parts(session.upload_uuid)
        offset = 1 if session.method == PROXY else 0
        if session.state in ACTIVE and session.expires_at <= _now():
            session = _replace_state(session, EXPIRED)
        return Status(session, [p.part_number - offset for p in parts])

    # proxy chunks -------------------------------------------------------------------------

    async def upload_chunk(self, owner_id: str, upload_uuid: str, chunk_index: int,
                           checksum_sha256: str, content_length: int,
                           frames: AsyncIterator[bytes]) -> ChunkResult:
        session = await self._owned(owner_id, upload_uuid)
        if session.method != PROXY:
            raise FailedPrecondition("this session is a multipart upload: PUT parts to S3",
                                     "UPLOAD_NOT_ACTIVE")
        if not 0 <= chunk_index < session.total_chunks:
            raise InvalidArgument(
                f"chunk index must be between 0 and {session.total_chunks - 1}",
                "CHUNK_OUT_OF_RANGE")
        expected = session.expected_part_size(chunk_index + 1)
        if content_length > expected:
            raise InvalidArgument(f"chunk {chunk_index} must be {expected} bytes",
                                  "CHUNK_TOO_LARGE")
        if 0 < content_length < expected:
            raise InvalidArgument(f"chunk {chunk_index} must be {expected} bytes",
                                  "CHUNK_SIZE_MISMATCH")
        claimed = checksum_sha256.strip().lower()
        if claimed and not _SHA256_HEX.match(claimed):
            raise InvalidArgument("the checksum must be a hex SHA-256")
        error = state_error(session, _now())
        if error is not None:
            raise error
        chunk = _Chunk(frames, expected, claimed)
        if session.state in (COMPLETING, COMPLETED):
            return await self._replay_chunk(session, chunk_index, chunk)
        if session.total_chunks == 1:
            return await self._single_chunk(session, chunk)
        return await self._chunk_part(session, chunk_index, chunk)

    async def _chunk_part(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """Chunk i of a multi-chunk file → part i+1 of the session's S3 multipart upload."""
        assert session.storage_upload_id is not None
        part_number = index + 1
        try:
            etag = await self._objects.upload_part_stream(
                session.storage_key, session.storage_upload_id, part_number, chunk.expected,
                chunk.stream())
        except BaseException as exc:
            if chunk.error is not None:
                # The store's copy of this part may no longer match what was recorded.
                await self._ledger.delete_part(session.upload_uuid, part_number)
                raise chunk.error from None
            if isinstance(exc, NoSuchUpload):
                return await self._after_inactive(session, index, chunk)
            raise
        metrics.bytes_received(PROXY, chunk.received)
        part = Part(part_number, etag, chunk.received, chunk.digest)
        if await self._ledger.record_part(session.upload_uuid, part) is None:
            return await self._after_inactive(session, index, chunk)
        if await self._ledger.count_parts(session.upload_uuid) < session.total_chunks:
            return self._chunk_result(session, index, chunk, UPLOADING, "")
        claim = await self._ledger.claim_completing(session.upload_uuid, (UPLOADING,),
                                                    self._rules.completing_lease_s)
        done = await self._finish(claim) if claim else await self._await_completion(session)
        return self._chunk_result(done, index, chunk, COMPLETED, done.file_id)

    async def _single_chunk(self, session: Session, chunk: _Chunk) -> ChunkResult:
        """A one-chunk file: claim the session first, then one PUT to the final key, so no
        concurrent writer can race it. Any failure reverts the claim and deletes the object."""
        claim = await self._ledger.claim_completing(session.upload_uuid, ACTIVE,
                                                    self._rules.completing_lease_s)
        if claim is None:
            return await self._replay_chunk(session, 0, chunk)
        assert claim.claim_token is not None
        try:
            etag = await self._objects.put_object_stream(claim.storage_key, chunk.expected,
                                                         chunk.stream())
            metrics.bytes_received(PROXY, chunk.received)
            # Recorded before registering, so a retry can finish it if registration fails.
            part = Part(1, etag, chunk.received, chunk.digest)
            await self._ledger.record_claimed_part(claim.upload_uuid, claim.claim_token, part)
        except BaseException as exc:
            await asyncio.shield(self._undo_single(claim))
            if chunk.error is not None:
                raise chunk.error from None
            raise exc
        done = await self._finish(claim, part)
        return self._chunk_result(done, 0, chunk, COMPLETED, done.file_id)

    async def _undo_single(self, claim: Session) -> None:
        assert claim.claim_token is not None
        await self._ledger.release_claim(claim.upload_uuid, claim.claim_token, UPLOADING)
        try:
            await self._objects.delete(claim.storage_key)
        except GoVaultError:
            log.warning("single_chunk_cleanup_failed", upload_uuid=claim.upload_uuid)

    async def _after_inactive(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """The session stopped accepting chunks while this one streamed."""
        current = await self._ledger.get_session(session.upload_uuid)
        assert current is not None
        error = state_error(current, _now())
        if error is not None:
            raise error
        return await self._replay_chunk(current, index, chunk)

    async def _replay_chunk(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """A chunk for a session that is completing or completed: the same bytes get the
        completed result; different bytes are a conflict. Nothing is written to the store."""
        digest = chunk.digest or await chunk.drain()
        done = session if session.state == COMPLETED else await self._await_completion(session)
        part = await self._ledger.get_part(done.upload_uuid, index + 1)
        if part is None or part.sha256 != digest:
            raise Conflict("the upload is already complete with different bytes for this chunk")
        return self._chunk_result(done, index, chunk, COMPLETED, done.file_id)

    @staticmethod
    def _chunk_result(session: Session, index: int, chunk: _Chunk, state: str,
                      file_id: str) -> ChunkResult:
        return ChunkResult(session.upload_uuid, index, state, file_id, chunk.received,
                           chunk.digest)

    # multipart ----------------------------------------------------------------------------

    async def register_part(self, owner_id: str, upload_uuid: str, part_number: int,
                            size_bytes: int, etag: str) -> RegisteredPart:
        session = await self._owned(owner_id, upload_uuid)
        self._require_multipart(session)
        if not 1 <= part_number <= session.total_chunks:
            raise InvalidArgument(f"part_number must be between 1 and {session.total_chunks}",
                                  "PART_OUT_OF_RANGE")
        expected = session.expected_part_size(part_number)
        if size_bytes != expected:
            raise InvalidArgument(f"part {part_number} must be {expected} bytes",
                                  "PART_SIZE_MISMATCH")
        clean = etag.strip().strip('"').strip()
        if not clean or len(clean) > 128:
            raise InvalidArgument("etag is required (the ETag header S3 returned for the part)")
        if session.state in (COMPLETING, COMPLETED):
            existing = await self._ledger.get_part(session.upload_uuid, part_number)
            if session.state == COMPLETED and existing is not None and existing.etag == clean:
                return RegisteredPart(session.upload_uuid, part_number, session.total_chunks,
                                      session.total_chunks)
            raise Conflict("the upload is already completing or complete", "UPLOAD_IN_PROGRESS"
                           if session.state == COMPLETING else "CONFLICT")
        error = state_error(session, _now())
        if error is not None:
            raise error
        count = await self._ledger.record_part(session.upload_uuid,
                                               Part(part_number, clean, size_bytes, None))
        if count is None:
            current = await self._ledger.get_session(session.upload_uuid)
            assert current is not None
            raise state_error(current, _now()) or Conflict(
                "the upload is already completing or complete", "UPLOAD_IN_PROGRESS")
        return RegisteredPart(session.upload_uuid, part_number, count, session.total_chunks)

    async def presign_parts(self, owner_id: str, upload_uuid: str,
                            part_numbers: list[int]) -> PresignedParts:
        session = await self._owned(owner_id, upload_uuid)
        self._require_multipart(session)
        error = state_error(session, _now())
        if error is not None:
            raise error
        if session.state not in ACTIVE:
            raise Conflict("the upload is already completing or complete", "UPLOAD_NOT_ACTIVE")
        if not part_numbers:  # all parts not yet registered
            have = {p.part_number for p in await self._ledger.list_parts(session.upload_uuid)}
            part_numbers = [n for n in range(1, session.total_chunks + 1) if n not in have]
        numbers = sorted(set(part_numbers))
        bad = [n for n in numbers if not 1 <= n <= session.total_chunks]
        if bad:
            raise InvalidArgument(f"part numbers out of range 1..{session.total_chunks}: "
                                  f"{_list(bad)}", "PART_OUT_OF_RANGE")
        assert session.storage_upload_id is not None
        expiry = self._presign_expiry_s()
        urls = await self._objects.presign_parts(session.storage_key, session.storage_upload_id,
                                                 numbers, expiry)
        return PresignedParts(list(zip(numbers, urls, strict=True)),
                              _now() + timedelta(seconds=expiry))

    async def complete_multipart(self, owner_id: str, upload_uuid: str) -> Session:
        session = await self._owned(owner_id, upload_uuid)
        self._require_multipart(session)
        if session.state == COMPLETED:
            return session
        error = state_error(session, _now())
        if error is not None:
            raise error
        if session.state in ACTIVE:
            parts = await self._ledger.list_parts(session.upload_uuid)
            _require_all_parts(session, parts)
        claim = await self._ledger.claim_completing(session.upload_uuid, ACTIVE,
                                                    self._rules.completing_lease_s)
        if claim is None:
            return await self._await_completion(session)
        return await self._finish(claim)

    @staticmethod
    def _require_multipart(session: Session) -> None:
        if session.method != MULTIPART:
            raise FailedPrecondition("this session is a proxy upload: send chunks instead",
                                     "UPLOAD_NOT_ACTIVE")

    # abort --------------------------------------------------------------------------------

    async def abort(self, owner_id: str, upload_uuid: str) -> None:
        session = await self._owned(owner_id, upload_uuid)
        if session.state == ABORTED:
            return
        if session.state == COMPLETED:
            raise Conflict("the upload is already complete")
        if session.state == COMPLETING:
            raise Conflict("the upload is completing", "UPLOAD_IN_PROGRESS")
        if session.state in (EXPIRED, FAILED):
            error = state_error(session, _now())
            assert error is not None
            raise error
        if await self._ledger.finish_inactive(session.upload_uuid, ABORTED) is None:
            current = await self._ledger.get_session(session.upload_uuid)
            if current is not None and current.state == ABORTED:
                return
            raise Conflict("the upload changed state; check its status", "UPLOAD_IN_PROGRESS")
        metrics.session_outcome(session.method, "aborted")
        if session.storage_upload_id:
            await self._objects.abort_multipart(session.storage_key, session.storage_upload_id)

    # completion ---------------------------------------------------------------------------

    async def _await_completion(self, session: Session) -> Session:
        """Someone else holds `completing`: wait for their result (or take over a stale claim)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._rules.completion_wait_s
        while True:
            current = await self._ledger.get_session(session.upload_uuid)
            assert current is not None
            if current.state == COMPLETED:
                return current
            if current.state == COMPLETING:
                claim = await self._ledger.claim_completing(current.upload_uuid, (),
                                                            self._rules.completing_lease_s)
                if claim is not None:
                    return await self._finish(claim)
            else:
                error = state_error(current, _now())
                if error is not None:
                    raise error
                raise FailedPrecondition("the upload is not complete: check its status and "
                                         "re-send what is missing", "UPLOAD_NOT_ACTIVE")
            if loop.time() >= deadline:
                raise Conflict("the upload is being completed, retry shortly",
                               "UPLOAD_IN_PROGRESS")
            await asyncio.sleep(_POLL_S)

    async def _finish(self, claim: Session, streamed: Part | None = None) -> Session:
        """Holder of the claim: make the object final, measure it, register it, mark it
        completed. Client-fixable refusals put the session back to `uploading`; failures after
        the object became final keep it `completing` with a lapsed lease (the next call or the
        reaper finishes it). `streamed`: the one chunk of a one-chunk proxy upload this call
        has just written, counted and hashed (its size is already measured: no stat)."""
        token = claim.claim_token
        assert token is not None
        uid = claim.upload_uuid
        parts = [streamed] if streamed else await self._ledger.list_parts(uid)
        try:
            if claim.method == PROXY and claim.total_chunks == 1:
                if not parts or not parts[0].sha256:
                    raise FailedPrecondition("the chunk is missing", "PARTS_MISSING")
                checksum = parts[0].sha256
            else:
                _require_all_parts(claim, parts)
                final_etag = await self._complete_store_upload(claim, parts)
                checksum = (composite_checksum([p.sha256 or "" for p in parts])
                            if claim.method == PROXY else final_etag)
        except (FailedPrecondition, Unavailable):
            await self._ledger.release_claim(uid, token, UPLOADING)
            raise
        except Conflict:
            raise
        size = streamed.size_bytes if streamed else await self._measure(claim)
        if size != claim.file_size_bytes:
            await self._objects.delete(claim.storage_key)
            await self._ledger.mark_failed(uid, token, f"stored object is {size} "
                                           f"bytes, declared {claim.file_size_bytes}")
            metrics.session_outcome(claim.method, "failed")
            raise InvalidArgument(
                f"the uploaded parts add up to {size} bytes, but the session "
                f"declared {claim.file_size_bytes}; the upload failed", "PART_SIZE_MISMATCH")
        mime = guess_mime(claim.file_name)
        try:
            registered = await self._files.register_file(FileRegistration(
                upload_id=uid, file_id=claim.file_id, owner_id=claim.owner_id,
                name=claim.file_name, mime_type=mime, size_bytes=size,
                checksum=checksum, storage_key=claim.storage_key))
        except BaseException:
            await asyncio.shield(self._ledger.release_claim(uid, token, COMPLETING))
            raise
        if registered != claim.file_id:
            log.warning("registered_file_id_differs", expected=claim.file_id, got=registered)
        done = await self._ledger.mark_completed(uid, token, size_bytes=size,
                                                 checksum=checksum, mime_type=mime)
        if done is None:  # our claim was taken over; the new holder finishes the same way
            return await self._await_completion(claim)
        metrics.session_outcome(claim.method, "completed")
        if claim.method == MULTIPART:
            metrics.bytes_received(MULTIPART, size)
        log.info("upload_completed", upload_uuid=uid, file_id=claim.file_id,
                 method=claim.method, size_bytes=size)
        return done

    async def _measure(self, claim: Session) -> int:
        """The real size of the final object (a stat). Failures keep the claim, lease lapsed."""
        assert claim.claim_token is not None
        try:
            info = await self._objects.stat(claim.storage_key)
        except BaseException:
            await asyncio.shield(self._ledger.release_claim(claim.upload_uuid,
                                                            claim.claim_token, COMPLETING))
            raise
        if info is None:
            await self._ledger.release_claim(claim.upload_uuid, claim.claim_token, COMPLETING)
            raise Unavailable("the completed object is not visible in the store yet")
        return info.size_bytes

    async def _complete_store_upload(self, claim: Session, parts: list[Part]) -> str:
        """CompleteMultipartUpload with the ETags recorded in the ledger (never rebuilt from
        ListParts: some stores keep stale versions of re-uploaded parts)."""
        assert claim.storage_upload_id is not None
        try:
            return await self._objects.complete_multipart(
                claim.storage_key, claim.storage_upload_id,
                [(p.part_number, p.etag) for p in parts])
        except EntityTooSmall:
            raise FailedPrecondition(
                "a part other than the last is smaller than 5 MiB: re-upload it at the "
                "declared size, register it again, then complete", "PART_TOO_SMALL") from None
        except InvalidPart:
            raise FailedPrecondition(
                "a registered part was not found in the store with the reported ETag: "
                "re-upload it, register it again, then complete", "PART_NOT_UPLOADED") from None
        except NoSuchUpload:
            # Completed by an earlier holder that crashed before recording it, or gone.
            info = await self._objects.stat(claim.storage_key)
            if info is None:
                assert claim.claim_token is not None
                await self._ledger.mark_failed(claim.upload_uuid, claim.claim_token,
                                               "the store no longer knows the multipart upload")
                metrics.session_outcome(claim.method, "failed")
                raise Conflict("the upload can no longer be completed", "UPLOAD_FAILED") from None
            return info.etag

    # reaper -------------------------------------------------------------------------------

    async def expire(self, session: Session) -> bool:
        """Expires an abandoned session and aborts its S3 upload; True if it was ours to
        expire and the store confirms the upload is gone."""
        won = await self._ledger.finish_inactive(session.upload_uuid, EXPIRED)
        if won is None:
            return False
        metrics.session_outcome(session.method, "expired")
        if session.storage_upload_id:
            await self._objects.abort_multipart(session.storage_key, session.storage_upload_id)
            if await self._objects.multipart_exists(session.storage_key,
                                                    session.storage_upload_id):
                log.warning("multipart_still_listed_after_abort", upload_uuid=session.upload_uuid)
                return False
        return True

    async def finish_stuck(self, session: Session) -> str:
        """Takes over a `completing` session whose claim lapsed and finishes it."""
        claim = await self._ledger.claim_completing(session.upload_uuid, (),
                                                    self._rules.completing_lease_s)
        if claim is None:
            return "skipped"
        try:
            await self._finish(claim)
        except GoVaultError as exc:
            log.warning("reaper_finish_failed", upload_uuid=session.upload_uuid, code=exc.code)
            current = await self._ledger.get_session(session.upload_uuid)
            return current.state if current else "gone"
        return COMPLETED


def _require_all_parts(session: Session, parts: list[Part]) -> None:
    have = {p.part_number for p in parts}
    missing = [n for n in range(1, session.total_chunks + 1) if n not in have]
    if missing:
        noun = "chunks" if session.method == PROXY else "parts"
        shown = [n - 1 for n in missing] if session.method == PROXY else missing
        raise FailedPrecondition(f"missing {noun}: {_list(shown)}", "PARTS_MISSING")


def _list(numbers: list[int], limit: int = 50) -> str:
    text = ", ".join(str(n) for n in numbers[:limit])
    return text + (f" … ({len(numbers)} in all)" if len(numbers) > limit else "")


def _replace_state(session: Session, state: str) -> Session:
    return replace(session, state=state)


def _now() -> datetime:
    return datetime.now(UTC)
