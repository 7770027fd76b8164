"""tus uploads (tus 1.0, issue 24): bytes arrive at any offset, in requests of any size, and
every offset acknowledged to the client is durable (in the store and in the ledger).

Where the bytes go. An upload has a part size P (5 MiB or more, see `tus_part_size`). A write
of L bytes at the upload's offset places A = tail + L bytes after the last recorded part:
- the whole upload in one piece (the write completes it, no S3 part exists yet, A < 2P): one
  PUT to the file's key, under the completion claim (like a one-chunk proxy upload);
- A < P and the upload goes on: one new temporary object, the tail, holding the old tail's
  bytes read back and the new ones (`tus/<upload uuid>/<random>`); the old one is deleted once
  the ledger names the new one;
- otherwise S3 parts of P bytes, the last one taking the rest (P to 2P - 1 bytes, or any size
  when it completes the upload), streamed one after the other; each is recorded as soon as it
  is stored, so a request cut off in the middle keeps its whole parts (tus asks a server to
  keep what it can). With an Upload-Checksum nothing is recorded until the whole body matched
  it: a mismatch keeps nothing of the request (460 at the edge).
Every part gets a fresh S3 part number from the ledger (never reused, so a write that was cut
off can never overwrite a part recorded since), which is why numbers may skip.

One writer at a time holds the upload's lease (svc_upload/tus_store.py). A newer request for
the same upload asks the holder to stop (its client has most likely gone: a reload, a dropped
connection the server has not noticed) and takes over once it has; a holder whose process died
is waited out until its lease lapses. Only a holder that neither stops nor lapses in time makes
the newer request UPLOAD_LOCKED (423).

The checksum stored with the file is the proxy flow's: one S3 part or one object → its SHA-256
hex; N parts → SHA-256 over the concatenated raw part digests, suffixed `-N`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from common.errors import Conflict, FailedPrecondition, GoVaultError, InvalidArgument
from common.files import (
    MIB,
    S3_MAX_PARTS,
    guess_mime,
    storage_key,
    validate_file_name,
    validate_uuid,
)
from common.logging import get_logger
from svc_upload import errors, metrics
from svc_upload.completion import Completion
from svc_upload.config import UploadRules
from svc_upload.models import (
    ACTIVE,
    COMPLETED,
    COMPLETING,
    TUS,
    Part,
    Session,
    TusState,
)
from svc_upload.rules import now, state_error, validate_size
from svc_upload.seams import Deps, TusLedger
from svc_upload.tus_bytes import Body, Source, body_checksum

log = get_logger(__name__)

# A writer says it is alive (and learns whether a newer request wants the lease) this often at
# least; a newer request polls for the lease at this pace.
_HEARTBEAT_MAX_S = 1.0
_TAKEOVER_POLL_S = 0.2
# A body this large or more is cut into parts of this size (what an interrupted one may lose).
LARGE_PART_BYTES = 32 * MIB
# Part numbers are never reused: the part size leaves half of S3's 10,000 for retries.
PLANNED_PARTS = S3_MAX_PARTS // 2
TEMPORARY_PREFIX = "tus/"


def temporary_prefix(upload_uuid: str) -> str:
    """Where an upload's temporary objects (its tails) live; outside `users/`, the files."""
    return f"{TEMPORARY_PREFIX}{upload_uuid}/"


def tus_part_size(length: int | None, rules: UploadRules) -> int:
    """The upload's part size: the configured one (5 MiB or more), raised to the next MiB so the
    length (unknown: the largest file allowed) takes at most PLANNED_PARTS parts."""
    size = length if length is not None else rules.max_file_size_bytes
    return max(rules.tus_part_size_bytes, math.ceil(size / PLANNED_PARTS / MIB) * MIB)


def plan_parts(available: int, part: int, completes: bool) -> list[int]:
    """The S3 parts `available` bytes become: parts of P bytes, larger for a large body (a
    quarter of it, up to LARGE_PART_BYTES: fewer part boundaries, each a pause in the stream),
    the last taking the rest (one to two parts' size; when the upload completes, any size).
    None below P unless it completes."""
    size = max(part, min(available // 4, LARGE_PART_BYTES))
    n = available // size or (1 if completes and available else 0)
    return [size] * (n - 1) + [available - size * (n - 1)] if n else []


@dataclass(frozen=True)
class TusView:
    """Where an upload stands, as HEAD answers it."""

    session: Session
    offset: int
    length: int | None  # None while deferred
    metadata: str


class TusUploads:
    def __init__(self, deps: Deps, tus: TusLedger) -> None:
        self._deps = deps
        self._tus = tus
        self._completion = Completion(deps)

    # creation ---------------------------------------------------------------------------------

    async def create(self, owner_id: str, file_name: str, length: int | None, mime_type: str,
                     metadata: str) -> TusView:
        session = await self._new(owner_id, file_name, length, mime_type, metadata, False)
        if length == 0:  # an empty upload is complete at once
            return await self.write(owner_id, session.upload_uuid, 0, 0, None, "", b"",
                                    _nothing())
        return TusView(session, 0, length, metadata)

    async def create_and_write(self, owner_id: str, file_name: str, length: int | None,
                               mime_type: str, metadata: str, content_length: int,
                               algorithm: str, digest: bytes, frames: AsyncIterator[bytes],
                               created: Callable[[str], Awaitable[None]]) -> TusView:
        """creation-with-upload in one call: the upload, and the body at its offset 0.
        `created(upload_uuid)` is awaited once the upload exists and holds its quota
        reservation, before any byte is read (from then on the client may resume it, whatever
        happens to the body). A body that is the whole upload (the common case: the whole file
        in the creation) is written by the one PUT of `_whole`, the session created claimed for
        it: no second statement to claim it."""
        checksum = body_checksum(algorithm, digest)
        if content_length < 0:
            raise errors.length_required()
        whole = (length == content_length
                 and content_length < 2 * tus_part_size(length, self._deps.rules))
        session = await self._new(owner_id, file_name, length, mime_type, metadata, whole)
        await created(session.upload_uuid)
        if whole:
            return await self._whole(session, None, Body(frames, content_length, checksum))
        return await self.write(owner_id, session.upload_uuid, 0, content_length, None,
                                algorithm, digest, frames)

    async def _new(self, owner_id: str, file_name: str, length: int | None, mime_type: str,
                   metadata: str, claimed: bool) -> Session:
        """A new upload holding its quota reservation (a declared length); `claimed`: created
        claimed for completion (it cannot be, unless its length is declared)."""
        try:
            validate_file_name(file_name, "the filename (Upload-Metadata)")
        except InvalidArgument as exc:
            raise errors.upload_metadata_invalid(exc.message) from None
        if length is not None:
            validate_size(length, self._deps.rules.max_file_size_bytes)
        file_id = str(uuid.uuid4())
        session = await self._tus.create(
            upload_uuid=str(uuid.uuid4()), owner_id=owner_id, file_name=file_name,
            length=length, part_size_bytes=tus_part_size(length, self._deps.rules), file_id=file_id,
            storage_key=storage_key(owner_id, file_id), ttl_s=self._deps.rules.session_ttl_s,
            mime_type=guess_mime(file_name, mime_type), metadata=metadata, claimed=claimed)
        if length is not None:
            try:
                await self._completion.reserve_quota(session, fail_session=not claimed)
            except BaseException:
                if claimed:  # reserve_quota ends only active sessions
                    assert session.claim_token is not None
                    await asyncio.shield(self._deps.ledger.mark_failed(
                        session.upload_uuid, session.claim_token, "quota not reserved"))
                raise
        metrics.session_outcome(TUS, "created")
        return session

    # status -----------------------------------------------------------------------------------

    async def info(self, owner_id: str, upload_uuid: str) -> TusView:
        session, tus = await self._owned(owner_id, upload_uuid)
        if session.state == COMPLETING:
            try:
                session = await self._completion.await_completion(session)
            except FailedPrecondition:
                # the claim ended without a file (a whole body that failed, or whose writer
                # died before its bytes were in): the upload takes bytes again, from its offset
                session, tus = await self._owned(owner_id, upload_uuid)
        error = state_error(session, now())
        if error is not None:
            raise error
        if (session.state in ACTIVE and not tus.length_deferred
                and tus.received_bytes == session.file_size_bytes):
            # every byte is in but the completion failed (a store error): finish it now, so an
            # offset equal to the length always means a stored, registered file
            lease = await self._tus.take_lease(session.upload_uuid, tus.received_bytes,
                                               self._deps.rules.tus_lease_s)
            if lease is not None:
                session = await self._finish_received(*lease)
        return self._view(session, tus)

    def _view(self, session: Session, tus: TusState) -> TusView:
        if session.state == COMPLETED:
            return TusView(session, session.file_size_bytes, session.file_size_bytes,
                           tus.metadata)
        length = None if tus.length_deferred else session.file_size_bytes
        return TusView(session, tus.received_bytes, length, tus.metadata)

    async def _owned(self, owner_id: str, upload_uuid: str) -> tuple[Session, TusState]:
        found = await self._tus.get(validate_uuid(upload_uuid, "upload_uuid"))
        if found is None or found[0].owner_id != owner_id:
            raise errors.not_found()
        return found

    # writing ----------------------------------------------------------------------------------

    async def write(self, owner_id: str, upload_uuid: str, offset: int, content_length: int,
                    length: int | None, algorithm: str, digest: bytes,
                    frames: AsyncIterator[bytes]) -> TusView:
        """`content_length` bytes from `frames` at `offset`; `length`: an Upload-Length sent
        with them (declares a deferred length)."""
        uid = validate_uuid(upload_uuid, "upload_uuid")
        checksum = body_checksum(algorithm, digest)
        if content_length < 0:
            raise errors.length_required()
        body = Body(frames, content_length, checksum)
        if offset == 0 and length in (None, content_length):
            claim = await self._tus.claim_whole(uid, owner_id, content_length,
                                                self._deps.rules.tus_lease_s)
            if claim is not None:  # the whole upload in this body: one PUT
                return await self._whole(claim, None, body)
        session, tus = await self._owned(owner_id, upload_uuid)
        if session.state in (COMPLETING, COMPLETED):
            if offset == session.file_size_bytes and content_length == 0:
                return await self.info(owner_id, upload_uuid)
            raise errors.upload_offset_mismatch(session.file_size_bytes, offset)
        error = state_error(session, now())
        if error is not None:
            raise error
        if offset != tus.received_bytes:
            raise errors.upload_offset_mismatch(tus.received_bytes, offset)
        declared = None if tus.length_deferred else session.file_size_bytes
        await self._check_length(session, declared, length, offset + content_length)
        session, tus = await self._lease(uid, offset)
        token = tus.writer_token
        assert token is not None
        writer = asyncio.current_task()
        assert writer is not None
        superseded = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(uid, token, writer, superseded))
        try:
            if declared is None and length is not None:
                if not await self._tus.declare_length(uid, token, length):
                    raise await self._why_not(uid, offset)
                session, declared = replace(session, file_size_bytes=length), length
            return await self._place(session, tus, token, declared, body)
        except asyncio.CancelledError:
            if superseded.is_set() and writer.uncancel() == 0:
                raise errors.upload_locked(
                    "a newer request for this upload took over; ask HEAD where it "
                    "stands") from None
            raise
        finally:
            heartbeat.cancel()
            await asyncio.shield(self._tus.release_lease(uid, token))

    async def _lease(self, upload_uuid: str, offset: int) -> tuple[Session, TusState]:
        """The writer lease. While another request holds it, that one is asked to stop (its
        client has most likely gone and come back: a reload, a dropped connection the server
        has not noticed yet) and its release is waited for, up to the lease's lifetime."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deps.rules.tus_lease_s
        asked = False
        while True:
            lease = await self._tus.take_lease(upload_uuid, offset, self._deps.rules.tus_lease_s)
            if lease is not None:
                return lease
            error = await self._why_not(upload_uuid, offset)
            if error.code != "UPLOAD_LOCKED" or loop.time() >= deadline:
                raise error
            if not asked:
                await self._tus.request_release(upload_uuid)
                asked = True
            await asyncio.sleep(_TAKEOVER_POLL_S)

    async def _check_length(self, session: Session, declared: int | None, length: int | None,
                            end: int) -> None:
        if length is not None:
            if declared is not None and length != declared:
                raise InvalidArgument(f"the upload's length is {declared}: Upload-Length cannot "
                                      "change")
            validate_size(length, self._deps.rules.max_file_size_bytes)
        limit = declared if declared is not None else length
        if limit is None:
            limit = self._deps.rules.max_file_size_bytes
        if end > limit:
            raise errors.upload_length_exceeded(
                f"the body would end at byte {end}, past the upload's length "
                f"{limit}")
        if declared is None and length is not None:  # a deferred length, declared now
            await self._completion.reserve_quota(replace(session, file_size_bytes=length),
                                                 fail_session=False)

    async def _why_not(self, upload_uuid: str, offset: int) -> GoVaultError:
        """Why the lease (or a recording under it) was refused."""
        found = await self._tus.get(upload_uuid)
        assert found is not None
        session, tus = found
        error = state_error(session, now())
        if error is not None:
            return error
        if session.state not in ACTIVE:
            return errors.upload_in_progress("the upload is being completed")
        if tus.received_bytes != offset:
            return errors.upload_offset_mismatch(tus.received_bytes, offset)
        return errors.upload_locked("another request is writing to this upload; retry when it ends")

    async def _heartbeat(self, upload_uuid: str, token: str, writer: asyncio.Task[TusView],
                         superseded: asyncio.Event) -> None:
        """Keeps the lease of a slow body alive (a killed process stops saying so), and stops
        the writer when a newer request for the upload asks for the lease."""
        while True:
            await asyncio.sleep(min(self._deps.rules.tus_lease_s / 3, _HEARTBEAT_MAX_S))
            with contextlib.suppress(GoVaultError):
                if await self._tus.renew_lease(upload_uuid, token):
                    superseded.set()
                    writer.cancel()
                    return

    async def _place(self, session: Session, tus: TusState, token: str, declared: int | None,
                     body: Body) -> TusView:
        tail = tus.tail_bytes
        available = tail + body.length
        completes = declared is not None and tus.received_bytes + body.length == declared
        part = session.part_size_bytes
        if body.length == 0 and not completes:  # nothing to place (a length declared, at most)
            await self._source(None, body).finish()
            return TusView(session, tus.received_bytes, declared, tus.metadata)
        if completes and session.storage_upload_id is None and available < 2 * part:
            claim = await self._deps.ledger.claim_completing(session.upload_uuid, ACTIVE,
                                                             self._deps.rules.completing_lease_s)
            if claim is None:
                raise await self._why_not(session.upload_uuid, tus.received_bytes)
            return await self._whole(claim, tus, body)
        if not completes and available < part:
            return await self._new_tail(session, tus, token, body)
        return await self._parts(session, tus, token, body,
                                 plan_parts(available, part, completes), completes)

    def _source(self, tus: TusState | None, body: Body) -> Source:
        if tus is None or tus.tail_key is None:
            return Source(None, 0, "", body)
        return Source(self._deps.objects.get_stream(tus.tail_key), tus.tail_bytes,
                      tus.tail_sha256 or "", body)

    async def _whole(self, claim: Session, tus: TusState | None, body: Body) -> TusView:
        """The whole upload as one object, under the completion claim."""
        token = claim.claim_token
        assert token is not None
        source = self._source(tus, body)
        piece = source.piece(claim.file_size_bytes)
        try:
            etag = await self._deps.objects.put_object_stream(claim.storage_key, piece.size,
                                                              piece.stream())
            await source.finish()
            stored = Part(1, etag, piece.size, piece.sha256)
            if not await self._tus.record_whole(claim.upload_uuid, token, stored):
                raise errors.upload_in_progress(
                    "the upload is being completed by another request; check its "
                    "status")
        except Conflict:
            raise
        except BaseException as exc:
            await asyncio.shield(self._undo_whole(claim))
            raise body.error or exc from None
        metrics.bytes_received(TUS, body.length)
        done = await self._completion.finish(claim, stored)
        await self._forget(tus.tail_key if tus else None)
        # (a creation's body: the caller has the metadata)
        return TusView(done, done.file_size_bytes, done.file_size_bytes,
                       tus.metadata if tus else "")

    async def _undo_whole(self, claim: Session) -> None:
        assert claim.claim_token is not None
        await self._deps.ledger.release_claim(claim.upload_uuid, claim.claim_token, "uploading")
        await self._forget(claim.storage_key)

    async def _new_tail(self, session: Session, tus: TusState, token: str,
                        body: Body) -> TusView:
        """Fewer bytes than a part: the old tail and these, in a new tail object."""
        key = f"{temporary_prefix(session.upload_uuid)}{secrets.token_hex(8)}"
        source = self._source(tus, body)
        piece = source.piece(tus.tail_bytes + body.length)
        try:
            await self._deps.objects.put_object_stream(key, piece.size, piece.stream())
            await source.finish()
        except BaseException as exc:
            await asyncio.shield(self._forget(key))
            raise body.error or exc from None
        received = tus.received_bytes + body.length
        if not await self._tus.record(session.upload_uuid, token, parts=[], received=received,
                                      tail=(key, piece.size, piece.sha256), release=True):
            await self._forget(key)
            raise await self._why_not(session.upload_uuid, tus.received_bytes)
        metrics.bytes_received(TUS, body.length)
        await self._forget(tus.tail_key)
        return TusView(session, received, None if tus.length_deferred
                       else session.file_size_bytes, tus.metadata)

    async def _parts(self, session: Session, tus: TusState, token: str, body: Body,
                     sizes: list[int], completes: bool) -> TusView:
        """S3 parts of `sizes` bytes: the tail's bytes first, then the body's."""
        uid = session.upload_uuid
        upload_id = session.storage_upload_id or await self._open_multipart(
            session, token, tus.received_bytes)
        source = self._source(tus, body)
        in_parts = tus.received_bytes - tus.tail_bytes  # bytes in recorded parts
        pending: list[Part] = []  # stored, not yet recorded
        all_or_nothing = body.checksum is not None
        first = await self._tus.next_part_numbers(uid, token, len(sizes)) if sizes else 0
        if first is None:
            raise await self._out_of_numbers(uid, tus.received_bytes)
        recording: asyncio.Task[None] | None = None  # the last part's record, under way
        old_tail = tus.tail_key

        async def record(parts: list[Part], received: int, release: bool,
                         tail: str | None) -> None:
            if not await self._tus.record(uid, token, parts=parts, received=received,
                                          tail=None, release=release):
                raise await self._why_not(uid, tus.received_bytes)
            await self._forget(tail)

        try:
            for index, size in enumerate(sizes):
                piece = source.piece(size)
                try:
                    etag = await self._deps.objects.upload_part_stream(
                        session.storage_key, upload_id, first + index, size, piece.stream())
                except BaseException as exc:
                    raise body.error or exc from None
                pending.append(Part(first + index, etag, size, piece.sha256))
                in_parts += size
                last = index == len(sizes) - 1
                if completes and last:
                    break
                if not all_or_nothing or last:
                    # recorded while the next part's bytes stream (in order: one at a time)
                    if recording is not None:
                        await recording
                    recording = asyncio.create_task(record(pending, in_parts, last, old_tail))
                    pending, old_tail = [], None
            if recording is not None:
                await recording
        finally:  # a part already stored is still recorded when a later one fails
            if recording is not None and not recording.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(recording)
        await source.finish()
        metrics.bytes_received(TUS, body.length)
        if not completes:
            return TusView(session, in_parts, None if tus.length_deferred
                           else session.file_size_bytes, tus.metadata)
        claim = await self._tus.record_final(uid, token, parts=pending, received=in_parts)
        if claim is None:
            raise await self._why_not(uid, tus.received_bytes)
        await self._forget(old_tail)
        done = await self._completion.finish(claim)
        return TusView(done, done.file_size_bytes, done.file_size_bytes, tus.metadata)

    async def _finish_received(self, session: Session, tus: TusState) -> Session:
        """All bytes are recorded and the lease is held: claim and complete."""
        assert tus.writer_token is not None
        try:
            claim = await self._tus.record_final(session.upload_uuid, tus.writer_token, parts=[],
                                                 received=tus.received_bytes)
        finally:
            await asyncio.shield(self._tus.release_lease(session.upload_uuid,
                                                         tus.writer_token))
        if claim is None:
            raise await self._why_not(session.upload_uuid, tus.received_bytes)
        return await self._completion.finish(claim)

    async def _open_multipart(self, session: Session, token: str, offset: int) -> str:
        """The S3 multipart upload, opened when the first part is due (the session row names it
        before any part is sent)."""
        upload_id = await self._deps.objects.create_multipart(session.storage_key)
        if not await self._tus.set_multipart(session.upload_uuid, token, upload_id):
            await self._deps.objects.abort_multipart(session.storage_key, upload_id)
            raise await self._why_not(session.upload_uuid, offset)
        return upload_id

    async def _out_of_numbers(self, upload_uuid: str, offset: int) -> GoVaultError:
        found = await self._tus.get(upload_uuid)
        if found is not None and found[1].next_part > S3_MAX_PARTS:
            return errors.upload_failed("this upload was interrupted too often (10,000 store "
                                      "parts spent): start it again")
        return await self._why_not(upload_uuid, offset)

    async def _forget(self, key: str | None) -> None:
        """Deletes a temporary object no longer named by the ledger (best effort: the sweep
        removes what a failure leaves)."""
        if key is None:
            return
        try:
            await self._deps.objects.delete(key)
        except GoVaultError:
            log.warning("tus_temporary_delete_failed", key=key)

    # the sweep (reaper) -------------------------------------------------------------------------

    async def sweep(self, grace_s: float) -> int:
        """Deletes temporary objects nobody needs: every one of an upload that no longer takes
        bytes, and, of one that does, those older than `grace_s` that are not its tail (left by
        a process killed between writing a tail and recording it). Returns how many."""
        keys = await self._deps.objects.list_keys(TEMPORARY_PREFIX)
        by_upload: dict[str, list[str]] = {}
        for key in keys:
            by_upload.setdefault(key.split("/")[1], []).append(key)
        live = await self._tus.tails(list(by_upload)) if by_upload else {}
        cutoff = now() - timedelta(seconds=grace_s)
        removed = 0
        for upload_uuid, owned in by_upload.items():
            for key in owned:
                if upload_uuid in live and (key == live[upload_uuid] or keys[key] > cutoff):
                    continue
                await self._forget(key)
                removed += 1
        return removed




async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""
