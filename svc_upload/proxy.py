"""Proxy uploads: chunks streamed through the service (gRPC client stream → S3), counted and
hashed on the way, never held whole.

Chunk i of a multi-chunk file becomes part i+1 of the session's S3 multipart upload; a one-chunk
file is one PUT to the final key under the `completing` claim. A chunk for a session that is
already completing or completed is replayed: the same bytes get the completed result.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from common.errors import (
    Conflict,
    GoVaultError,
    InvalidArgument,
    Unavailable,
)
from common.files import S3_MAX_PARTS, S3_MIN_PART_BYTES
from common.logging import get_logger
from common.s3 import NoSuchUpload
from svc_upload import errors, metrics
from svc_upload.completion import Completion
from svc_upload.models import ACTIVE, COMPLETED, COMPLETING, PROXY, UPLOADING, Part, Session
from svc_upload.rules import (
    SHA256_HEX,
    now,
    state_error,
    told_chunk_size,
)
from svc_upload.seams import Deps

log = get_logger(__name__)


def client_checksum(checksum_sha256: str) -> str:
    """The client's SHA-256 of the chunk, normalised ("" when it sent none)."""
    claimed = checksum_sha256.strip().lower()
    if claimed and not SHA256_HEX.match(claimed):
        raise InvalidArgument("the checksum must be a hex SHA-256")
    return claimed


@dataclass(frozen=True)
class ChunkResult:
    upload_uuid: str
    chunk_index: int
    state: str
    file_id: str  # set once the upload is completed
    received_bytes: int
    checksum_sha256: str


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
                    raise errors.chunk_too_large(
                        f"the chunk is longer than the expected {self.expected} bytes")
                self._hasher.update(frame)
                if held is not None:
                    yield held
                held = frame
            if self.received < self.expected:
                raise errors.chunk_size_mismatch(
                    f"the chunk has {self.received} bytes, expected {self.expected}")
            self.digest = self._hasher.hexdigest()
            if self.claimed_sha and self.claimed_sha != self.digest:
                raise errors.checksum_mismatch()
            if held is not None:
                yield held
        except GoVaultError as exc:
            self.error = exc
            raise

    async def drain(self) -> str:
        async for _ in self.stream():
            pass
        return self.digest


class ProxyChunks:
    def __init__(self, deps: Deps, completion: Completion) -> None:
        self._deps = deps
        self._completion = completion

    async def upload_chunk(self, session: Session, chunk_index: int, checksum_sha256: str,
                           content_length: int, frames: AsyncIterator[bytes]) -> ChunkResult:
        """Chunk `chunk_index` of `session` (already checked to be the caller's)."""
        if session.method != PROXY:
            raise errors.upload_not_active("this session is a multipart upload: PUT parts to S3")
        if not session.chunk_size_fixed and session.state in ACTIVE:
            session = await self._fix_chunk_size(session, chunk_index, content_length)
        if not 0 <= chunk_index < session.total_chunks:
            raise errors.chunk_out_of_range(
                f"chunk index must be between 0 and {session.total_chunks - 1}")
        expected = session.expected_part_size(chunk_index + 1)
        if content_length > expected:
            raise errors.chunk_too_large(f"chunk {chunk_index} must be {expected} bytes")
        if 0 < content_length < expected:
            raise errors.chunk_size_mismatch(f"chunk {chunk_index} must be {expected} bytes")
        claimed = client_checksum(checksum_sha256)
        error = state_error(session, now())
        if error is not None:
            raise error
        chunk = _Chunk(frames, expected, claimed)
        if session.state in (COMPLETING, COMPLETED):
            return await self._replay_chunk(session, chunk_index, chunk)
        if session.total_chunks == 1:
            claim = await self._deps.ledger.claim_completing(session.upload_uuid, ACTIVE,
                                                             self._deps.rules.completing_lease_s)
            if claim is None:
                return await self._replay_chunk(session, 0, chunk)
            return await self._single_chunk(claim, chunk)
        return await self._chunk_part(session, chunk_index, chunk)

    async def _fix_chunk_size(self, session: Session, index: int, length: int) -> Session:
        """The first chunk of a session whose client did not say its chunk size tells it; later
        chunks must agree (what is stored is never contradicted). A one-chunk file no longer
        needs the multipart upload opened for the proposal."""
        chunk = told_chunk_size(session.file_size_bytes, index, length,
                                session.part_size_bytes,
                                min(S3_MIN_PART_BYTES, self._deps.rules.chunk_size_bytes))
        total = max(1, math.ceil(session.file_size_bytes / chunk))
        if total > S3_MAX_PARTS:
            raise errors.chunk_out_of_range(
                "chunks of this size would be more than 10,000: use larger "
                "chunks")
        fixed = await self._deps.ledger.fix_chunk_size(session.upload_uuid, chunk, total)
        if fixed is None:  # another chunk told it first (or the session ended): theirs stands
            current = await self._deps.ledger.get_session(session.upload_uuid)
            assert current is not None
            return current
        if total == 1 and session.storage_upload_id:
            await self._deps.objects.abort_multipart(session.storage_key, session.storage_upload_id)
        return fixed

    async def claimed_single_chunk(self, claim: Session, checksum_sha256: str,
                                   frames: AsyncIterator[bytes]) -> ChunkResult:
        """The one chunk of a one-chunk upload whose claim the caller already took (with the
        ownership, size and state checks in the same statement: `Ledger.claim_single_chunk`)."""
        assert claim.claim_token is not None
        try:
            claimed = client_checksum(checksum_sha256)
        except InvalidArgument:
            await self._deps.ledger.release_claim(claim.upload_uuid, claim.claim_token, UPLOADING)
            raise
        return await self._single_chunk(claim, _Chunk(frames, claim.file_size_bytes, claimed))

    async def _chunk_part(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """Chunk i of a multi-chunk file → part i+1 of the session's S3 multipart upload."""
        assert session.storage_upload_id is not None
        part_number = index + 1
        try:
            etag = await self._deps.objects.upload_part_stream(
                session.storage_key, session.storage_upload_id, part_number, chunk.expected,
                chunk.stream())
        except BaseException as exc:
            if chunk.error is not None:
                # The store's copy of this part may no longer match what was recorded.
                await self._deps.ledger.delete_part(session.upload_uuid, part_number)
                raise chunk.error from None
            if isinstance(exc, NoSuchUpload):
                return await self._after_inactive(session, index, chunk)
            raise
        metrics.bytes_received(PROXY, chunk.received)
        part = Part(part_number, etag, chunk.received, chunk.digest)
        if await self._deps.ledger.record_part(session.upload_uuid, part) is None:
            return await self._after_inactive(session, index, chunk)
        if await self._deps.ledger.count_parts(session.upload_uuid) < session.total_chunks:
            return self._chunk_result(session, index, chunk, UPLOADING, "")
        claim = await self._deps.ledger.claim_completing(session.upload_uuid, (UPLOADING,),
                                                         self._deps.rules.completing_lease_s)
        done = (await self._completion.finish(claim) if claim
                else await self._completion.await_completion(session))
        return self._chunk_result(done, index, chunk, COMPLETED, done.file_id)

    async def _single_chunk(self, claim: Session, chunk: _Chunk) -> ChunkResult:
        """A one-chunk file, its session claimed first, then one PUT to the final key, so no
        concurrent writer can race it. Any failure reverts the claim and deletes the object."""
        assert claim.claim_token is not None
        try:
            etag = await self._deps.objects.put_object_stream(claim.storage_key, chunk.expected,
                                                              chunk.stream())
            metrics.bytes_received(PROXY, chunk.received)
            # Recorded before registering, so a retry can finish it if registration fails.
            part = Part(1, etag, chunk.received, chunk.digest)
            if not await self._deps.ledger.record_claimed_part(claim.upload_uuid, claim.claim_token,
                                                               part):
                # The claim lapsed while the bytes streamed (a slow store) and was taken over:
                # registering now could make a file the new holder then aborts or expires (its
                # object deleted under the row). The object stays at the session's key: a retry
                # writes it again, and expiry or abort removes it.
                raise errors.upload_in_progress("the upload is being completed by another "
                                                "request; check its status and retry")
        except Conflict:
            raise
        except BaseException as exc:
            # A store that stopped answering would make the delete wait out the same outage:
            # the object (if any) stays at the session's key, where a retry overwrites it and
            # expiry or abort removes it.
            await asyncio.shield(self._undo_single(claim, delete=not isinstance(exc, Unavailable)))
            if chunk.error is not None:
                raise chunk.error from None
            raise exc
        done = await self._completion.finish(claim, part)
        return self._chunk_result(done, 0, chunk, COMPLETED, done.file_id)

    async def _undo_single(self, claim: Session, delete: bool) -> None:
        assert claim.claim_token is not None
        await self._deps.ledger.release_claim(claim.upload_uuid, claim.claim_token, UPLOADING)
        if not delete:
            return
        try:
            await self._deps.objects.delete(claim.storage_key)
        except GoVaultError:
            log.warning("single_chunk_cleanup_failed", upload_uuid=claim.upload_uuid)

    async def _after_inactive(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """The session stopped accepting chunks while this one streamed."""
        current = await self._deps.ledger.get_session(session.upload_uuid)
        assert current is not None
        error = state_error(current, now())
        if error is not None:
            raise error
        return await self._replay_chunk(current, index, chunk)

    async def _replay_chunk(self, session: Session, index: int, chunk: _Chunk) -> ChunkResult:
        """A chunk for a session that is completing or completed: the same bytes get the
        completed result; different bytes are a conflict. Nothing is written to the store."""
        digest = chunk.digest or await chunk.drain()
        done = (session if session.state == COMPLETED
                else await self._completion.await_completion(session))
        part = await self._deps.ledger.get_part(done.upload_uuid, index + 1)
        if part is None or part.sha256 != digest:
            raise Conflict("the upload is already complete with different bytes for this chunk")
        return self._chunk_result(done, index, chunk, COMPLETED, done.file_id)

    @staticmethod
    def _chunk_result(session: Session, index: int, chunk: _Chunk, state: str,
                      file_id: str) -> ChunkResult:
        return ChunkResult(session.upload_uuid, index, state, file_id, chunk.received,
                           chunk.digest)
