"""Upload rules: the session state machine, chunk/part validation, completion and expiry.

No grpc, psycopg or minio here: the ledger, the object store and the files service are reached
through the small Protocols in seams.py, so these rules are unit-tested with in-memory fakes.

States (docs/design.md §5): pending → uploading → completing → completed, or failed / aborted /
expired. Every transition is a conditional update in the store, so exactly one caller wins a
race; the winner of `completing` holds a claim token, and only that token may complete or
release it.
A claim older than the lease (a crashed holder) may be taken over by a later call or the reaper.

`UploadService` is the one entry point (server.py, reaper.py): it creates sessions, checks that
a session is the caller's, answers status, aborts and expires, and hands each operation to its
module: proxy.py (chunks streamed through), multipart.py (parts PUT straight to S3),
completion.py (finishing a claimed session); rules.py holds the checks that need no I/O.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from common.errors import Conflict, GoVaultError, InvalidArgument
from common.files import (
    S3_MAX_PART_BYTES,
    S3_MAX_PARTS,
    S3_MIN_PART_BYTES,
    STORAGE_PREFIX,
    storage_key,
    validate_file_name,
    validate_uuid,
)
from common.logging import get_logger
from svc_upload import errors, metrics
from svc_upload.completion import Completion
from svc_upload.models import (
    ABORTED,
    ACTIVE,
    COMPLETED,
    COMPLETING,
    EXPIRED,
    FAILED,
    MULTIPART,
    PROXY,
    TUS,
    OpenUpload,
    Part,
    Session,
)
from svc_upload.multipart import MultipartParts, PresignedParts, RegisteredPart, clean_etag
from svc_upload.proxy import ChunkResult, ProxyChunks
from svc_upload.rules import (
    now,
    presign_expiry_s,
    proxy_chunk_size,
    state_error,
    validate_size,
)
from svc_upload.seams import Deps
from svc_upload.tus import temporary_prefix

log = get_logger(__name__)


@dataclass(frozen=True)
class NewSession:
    session: Session
    parts: list[tuple[int, str]]  # (part number, presigned URL); multipart only
    urls_expire_at: datetime | None


@dataclass(frozen=True)
class Status:
    session: Session
    received: list[int]  # chunk indexes (0-based) or part numbers (1-based)


class UploadService:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._completion = Completion(deps)
        self._proxy = ProxyChunks(deps, self._completion)
        self._multipart = MultipartParts(deps, self._completion)

    # sessions -----------------------------------------------------------------------------

    async def create_proxy_session(self, owner_id: str, file_name: str,
                                   file_size_bytes: int,
                                   chunk_size_bytes: int | None = None) -> NewSession:
        """`chunk_size_bytes`: the client's own chunk size; None: the server's default is
        proposed, and the first chunk tells the size the client slices with (proxy.py)."""
        validate_file_name(file_name, "file_name")
        validate_size(file_size_bytes, self._deps.rules.max_file_size_bytes)
        chunk = proxy_chunk_size(chunk_size_bytes, self._deps.rules.chunk_size_bytes,
                                 file_size_bytes)
        await self._deps.objects.check_space()  # a store known to be full: 507 before any work
        total = max(1, math.ceil(file_size_bytes / chunk))  # an empty file: one empty chunk
        session = await self._new_session(owner_id, PROXY, file_name, file_size_bytes, chunk,
                                          total, chunk_size_fixed=chunk_size_bytes is not None)
        if total > 1:
            session = await self._open_multipart(session)
        metrics.session_outcome(PROXY, "created")
        return NewSession(session, [], None)

    async def create_multipart_session(self, owner_id: str, file_name: str,
                                       file_size_bytes: int,
                                       part_size_bytes: int) -> NewSession:
        validate_file_name(file_name, "file_name")
        validate_size(file_size_bytes, self._deps.rules.max_file_size_bytes)
        if part_size_bytes <= 0:
            raise InvalidArgument("part_size_bytes must be greater than 0")
        # A part size larger than the file simply means one part; an empty file is one empty
        # part (the part size stays the one asked for).
        part_size = min(part_size_bytes, file_size_bytes) or part_size_bytes
        total = max(1, math.ceil(file_size_bytes / part_size))
        if part_size > S3_MAX_PART_BYTES:
            raise InvalidArgument("part_size_bytes must be at most 5 GiB")
        if total > S3_MAX_PARTS:
            raise errors.part_out_of_range(f"the file would need more than {S3_MAX_PARTS:,} "
                                           "parts: use larger parts")
        if total > 1 and part_size < S3_MIN_PART_BYTES:
            raise errors.part_too_small("part_size_bytes must be at least 5 MiB (except for a "
                                        "single-part upload)")
        await self._deps.objects.check_space()  # a store known to be full: 507 before any work
        session = await self._new_session(owner_id, MULTIPART, file_name, file_size_bytes,
                                          part_size, total)
        session = await self._open_multipart(session)
        assert session.storage_upload_id is not None
        expiry = presign_expiry_s(self._deps.rules)
        numbers = list(range(1, total + 1))
        urls = await self._deps.objects.presign_parts(
            session.storage_key, session.storage_upload_id, numbers, expiry)
        metrics.session_outcome(MULTIPART, "created")
        return NewSession(session, list(zip(numbers, urls, strict=True)),
                          now() + timedelta(seconds=expiry))

    async def _new_session(self, owner_id: str, method: str, file_name: str, size: int,
                           part_size: int, total: int, chunk_size_fixed: bool = True) -> Session:
        file_id = str(uuid.uuid4())
        session = await self._deps.ledger.create_session(
            upload_uuid=str(uuid.uuid4()), owner_id=owner_id, method=method,
            file_name=file_name, file_size_bytes=size, part_size_bytes=part_size,
            total_chunks=total, file_id=file_id, storage_key=storage_key(owner_id, file_id),
            ttl_s=self._deps.rules.session_ttl_s, chunk_size_fixed=chunk_size_fixed,
        )
        await self._completion.reserve_quota(session)
        return session

    async def _open_multipart(self, session: Session) -> Session:
        """The row exists first; then the S3 upload; a failure marks the session failed."""
        try:
            upload_id = await self._deps.objects.create_multipart(session.storage_key)
        except BaseException:
            await self._deps.ledger.finish_inactive(session.upload_uuid, FAILED)
            await self._completion.release_quota(session.upload_uuid)  # QUOTA
            metrics.session_outcome(session.method, "failed")
            raise
        return await self._deps.ledger.set_storage_upload_id(session.upload_uuid, upload_id)

    async def _owned(self, owner_id: str, upload_uuid: str) -> Session:
        session = await self._deps.ledger.get_session(validate_uuid(upload_uuid, "upload_uuid"))
        if session is None or session.owner_id != owner_id:
            raise errors.not_found()
        return session

    # status -------------------------------------------------------------------------------

    async def get_status(self, owner_id: str, upload_uuid: str) -> Status:
        session = await self._owned(owner_id, upload_uuid)
        parts = await self._deps.ledger.list_parts(session.upload_uuid)
        offset = 1 if session.method == PROXY else 0
        if session.state in ACTIVE and session.expires_at <= now():
            session = replace(session, state=EXPIRED)
        return Status(session, [p.part_number - offset for p in parts])

    # proxy chunks (proxy.py) ----------------------------------------------------------------

    async def upload_chunk(self, owner_id: str, upload_uuid: str, chunk_index: int,
                           checksum_sha256: str, content_length: int,
                           frames: AsyncIterator[bytes]) -> ChunkResult:
        if chunk_index == 0:  # most files are one chunk: claim it in the same statement
            claim = await self._deps.ledger.claim_single_chunk(
                validate_uuid(upload_uuid, "upload_uuid"), owner_id, content_length,
                self._deps.rules.completing_lease_s)
            if claim is not None:
                return await self._proxy.claimed_single_chunk(claim, checksum_sha256, frames)
        session = await self._owned(owner_id, upload_uuid)
        return await self._proxy.upload_chunk(session, chunk_index, checksum_sha256,
                                              content_length, frames)

    # multipart (multipart.py) ---------------------------------------------------------------

    async def register_part(self, owner_id: str, upload_uuid: str, part_number: int,
                            size_bytes: int, etag: str) -> RegisteredPart:
        uid = validate_uuid(upload_uuid, "upload_uuid")
        clean = clean_etag(etag)
        if clean is not None:  # the common case in one statement, checks included
            recorded = await self._deps.ledger.record_owned_part(
                uid, owner_id, Part(part_number, clean, size_bytes, None))
            if recorded is not None:
                return RegisteredPart(uid, part_number, *recorded)
        session = await self._owned(owner_id, upload_uuid)
        return await self._multipart.register_part(session, part_number, size_bytes, etag)

    async def presign_parts(self, owner_id: str, upload_uuid: str,
                            part_numbers: list[int]) -> PresignedParts:
        session = await self._owned(owner_id, upload_uuid)
        return await self._multipart.presign_parts(session, part_numbers)

    async def complete_multipart(self, owner_id: str, upload_uuid: str,
                                 listed: list[Part] | None = None) -> Session:
        """`listed`: parts the client did not register, given at completion (they must agree
        with the registered ones)."""
        uid = validate_uuid(upload_uuid, "upload_uuid")
        if listed:
            await self._multipart.record_listed(await self._owned(owner_id, uid), listed)
        # the common case (the owner's live session, all parts registered) claimed at once
        claimed = await self._deps.ledger.claim_multipart(uid, owner_id,
                                                          self._deps.rules.completing_lease_s)
        if claimed is not None:
            claim, parts = claimed
            return await self._completion.finish(claim, parts=parts)
        session = await self._owned(owner_id, upload_uuid)
        return await self._multipart.complete(session)

    # abort --------------------------------------------------------------------------------

    async def abort(self, owner_id: str, upload_uuid: str) -> None:
        session = await self._owned(owner_id, upload_uuid)
        if session.state == ABORTED:
            return
        if session.state == COMPLETED:
            raise Conflict("the upload is already complete")
        if session.state == COMPLETING:
            raise errors.upload_in_progress("the upload is completing")
        if session.state in (EXPIRED, FAILED):
            error = state_error(session, now())
            assert error is not None
            raise error
        if await self._deps.ledger.finish_inactive(session.upload_uuid, ABORTED) is None:
            current = await self._deps.ledger.get_session(session.upload_uuid)
            if current is not None and current.state == ABORTED:
                return
            raise errors.upload_in_progress("the upload changed state; check its status")
        metrics.session_outcome(session.method, "aborted")
        await self._completion.release_quota(session.upload_uuid)  # QUOTA
        await self._discard_objects(session)

    # reaper -------------------------------------------------------------------------------

    async def expire(self, session: Session) -> bool:
        """Expires an abandoned session and aborts its S3 upload; True if it was ours to
        expire and the store confirms the upload is gone."""
        won = await self._deps.ledger.finish_inactive(session.upload_uuid, EXPIRED)
        if won is None:
            return False
        metrics.session_outcome(session.method, "expired")
        await self._completion.release_quota(session.upload_uuid)  # QUOTA (the reaper's path)
        await self._discard_objects(session)
        if session.storage_upload_id and await self._deps.objects.multipart_exists(
                session.storage_key, session.storage_upload_id):
            log.warning("multipart_still_listed_after_abort", upload_uuid=session.upload_uuid)
            return False
        return True

    async def _discard_objects(self, session: Session) -> None:
        """After an active session ended without a file (aborted, expired): its multipart upload
        is aborted and any object already written at its key (a one-chunk proxy upload whose
        writer crashed after the PUT) is deleted. The key was recorded with the session before
        any write, so nothing this service wrote is lost track of. Never called for a session
        that reached `completing`: only then is an object registered as a file."""
        if session.storage_upload_id:
            await self._deps.objects.abort_multipart(session.storage_key, session.storage_upload_id)
        await self._deps.objects.delete(session.storage_key)
        if session.method == TUS:  # its temporary objects (tails)
            for key in await self._deps.objects.list_keys(temporary_prefix(session.upload_uuid)):
                await self._deps.objects.delete(key)

    async def open_uploads(self, key: str | None = None) -> list[OpenUpload]:
        """The S3 multipart uploads open in the bucket, or at exactly `key` (the reaper sweeps
        them; a store may list only per object name, as MinIO does)."""
        if key is None:
            return await self._deps.objects.open_uploads(STORAGE_PREFIX)
        return [u for u in await self._deps.objects.open_uploads(key) if u.key == key]

    async def abort_orphan(self, upload: OpenUpload) -> None:
        """Aborts an open upload no live session recorded (rules.orphaned)."""
        await self._deps.objects.abort_multipart(upload.key, upload.upload_id)
        metrics.ORPHANS_ABORTED.inc()
        log.warning("orphan_multipart_aborted", key=upload.key, upload_id=upload.upload_id)

    async def finish_stuck(self, session: Session) -> str:
        """Takes over a `completing` session whose claim lapsed and finishes it."""
        claim = await self._deps.ledger.claim_completing(session.upload_uuid, (),
                                                         self._deps.rules.completing_lease_s)
        if claim is None:
            return "skipped"
        try:
            await self._completion.finish(claim)
        except GoVaultError as exc:
            log.warning("reaper_finish_failed", upload_uuid=session.upload_uuid, code=exc.code)
            current = await self._deps.ledger.get_session(session.upload_uuid)
            return current.state if current else "gone"
        return COMPLETED
