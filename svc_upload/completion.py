"""Completing an upload, shared by proxy chunks, multipart completes and the reaper.

Only the holder of the `completing` claim finishes a session: it makes the object final,
measures it, registers it with the files service and marks it completed. Everyone else waits for
that result, or takes over a claim whose lease has lapsed (a crashed holder).
"""

from __future__ import annotations

import asyncio

from common.errors import (
    Conflict,
    FailedPrecondition,
    QuotaExceeded,
    StorageFull,
    Unavailable,
)
from common.files import NewFile, guess_mime
from common.logging import get_logger
from common.s3 import EntityTooSmall, InvalidPart, NoSuchUpload
from svc_upload import errors, metrics
from svc_upload.models import (
    COMPLETED,
    COMPLETING,
    FAILED,
    MULTIPART,
    PROXY,
    TUS,
    UPLOADING,
    Part,
    Session,
)
from svc_upload.rules import composite_checksum, now, require_all_parts, state_error
from svc_upload.seams import Deps

log = get_logger(__name__)

_POLL_S = 0.05


def stored_checksum(method: str, parts: list[Part], final_etag: str) -> str:
    """The whole-object checksum recorded with a file made of S3 parts (svc_upload/__init__):
    multipart: S3's ETag; proxy and tus: the composite of the parts' SHA-256s, except that one
    tus part is the object, whose SHA-256 it has."""
    if method == MULTIPART:
        return final_etag
    if method == TUS and len(parts) == 1 and parts[0].sha256:
        return parts[0].sha256
    return composite_checksum([p.sha256 or "" for p in parts])


class Completion:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def reserve_quota(self, session: Session, fail_session: bool = True) -> None:
        """QUOTA: the declared size is reserved against the owner's quota (files ReserveQuota,
        one conditional update there) after the row exists and before any S3 work: a crash in
        between leaves a session its client never heard of, which expires and releases nothing
        it did not hold. Refused (QUOTA_EXCEEDED, 413) or failed: the session ends `failed`
        (unless `fail_session` is False: a tus upload declaring its length later stays as it
        was) holding no reservation, and the error goes to the client."""
        try:
            await self._deps.files.reserve_quota(session.owner_id, session.upload_uuid,
                                                 session.file_size_bytes)
        except BaseException as exc:
            if fail_session:
                await asyncio.shield(self._deps.ledger.finish_inactive(session.upload_uuid, FAILED))
            if not isinstance(exc, QuotaExceeded):  # it may have been recorded before failing
                await self.release_quota(session.upload_uuid)
            raise

    async def release_quota(self, upload_uuid: str) -> None:
        """QUOTA: a session that ended without a file (failed, aborted, expired) gives its
        reservation back. Idempotent on the files side; a failure is logged, not raised (the
        session's own outcome stands; `python -m svc_files quota audit` shows what it left)."""
        try:
            await asyncio.shield(self._deps.files.release_quota(upload_uuid))
        except Exception as exc:
            log.warning("quota_release_failed", upload_uuid=upload_uuid, error=str(exc))

    async def await_completion(self, session: Session) -> Session:
        """Someone else holds `completing`: wait for their result (or take over a stale claim)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deps.rules.completion_wait_s
        while True:
            current = await self._deps.ledger.get_session(session.upload_uuid)
            assert current is not None
            if current.state == COMPLETED:
                return current
            if current.state == COMPLETING:
                claim = await self._deps.ledger.claim_completing(current.upload_uuid, (),
                                                                 self._deps.rules.completing_lease_s)
                if claim is not None:
                    return await self.finish(claim)
            else:
                error = state_error(current, now())
                if error is not None:
                    raise error
                raise errors.upload_not_active("the upload is not complete: check its status "
                                               "and re-send what is missing")
            if loop.time() >= deadline:
                raise errors.upload_in_progress("the upload is being completed, retry shortly")
            await asyncio.sleep(_POLL_S)

    async def finish(self, claim: Session, streamed: Part | None = None,
                     parts: list[Part] | None = None) -> Session:
        """Holder of the claim: make the object final, measure it, register it, mark it
        completed. Client-fixable refusals put the session back to `uploading`; failures after
        the object became final keep it `completing` with a lapsed lease (the next call or the
        reaper finishes it). `streamed`: the one chunk of a one-chunk proxy upload this call
        has just written, counted and hashed (its size is already measured: no stat).
        `parts`: the session's parts as read with the claim (else they are read here)."""
        token = claim.claim_token
        assert token is not None
        uid = claim.upload_uuid
        loop = asyncio.get_running_loop()
        started = loop.time()  # every caller took the claim just before
        if streamed is not None:
            parts = [streamed]
        elif parts is None:
            parts = await self._deps.ledger.list_parts(uid)
        try:
            if (claim.method == PROXY and claim.total_chunks == 1) or (
                    claim.method == TUS and claim.storage_upload_id is None):
                if not parts or not parts[0].sha256:
                    raise errors.parts_missing("the chunk is missing")
                checksum = parts[0].sha256
            else:
                if claim.method != TUS:  # a tus upload's parts are numbered as they came
                    require_all_parts(claim, parts)
                final_etag = await self._complete_store_upload(claim, parts)
                checksum = stored_checksum(claim.method, parts, final_etag)
        except (FailedPrecondition, Unavailable, StorageFull):
            await self._deps.ledger.release_claim(uid, token, UPLOADING)
            raise
        except Conflict:
            raise
        size = streamed.size_bytes if streamed else await self._measure(claim)
        if size != claim.file_size_bytes:
            await self._deps.objects.delete(claim.storage_key)
            await self._deps.ledger.mark_failed(uid, token, f"stored object is {size} "
                                                f"bytes, declared {claim.file_size_bytes}")
            await self.release_quota(uid)  # QUOTA: nothing kept, nothing charged
            metrics.session_outcome(claim.method, "failed")
            raise errors.part_size_mismatch(
                f"the uploaded parts add up to {size} bytes, but the session "
                f"declared {claim.file_size_bytes}; the upload failed")
        # Renewed (a statement) only when the store work took long enough for the lease to
        # lapse; within half the lease it cannot have (durations agree across clocks).
        if (streamed is None and loop.time() - started > self._deps.rules.completing_lease_s / 2
                and not await self._deps.ledger.renew_claim(uid, token)):
            # The store work outlasted the lease and another caller took the claim over: it
            # decides (registering now could name an object the new holder then deletes).
            return await self.await_completion(claim)
        mime = claim.mime_type or guess_mime(claim.file_name)
        try:
            registered = await self._deps.files.register_file(NewFile(
                upload_id=uid, file_id=claim.file_id, owner_id=claim.owner_id,
                name=claim.file_name, mime_type=mime, size_bytes=size,
                checksum=checksum, storage_key=claim.storage_key))
        except BaseException:
            await asyncio.shield(self._deps.ledger.release_claim(uid, token, COMPLETING))
            raise
        if registered != claim.file_id:
            log.warning("registered_file_id_differs", expected=claim.file_id, got=registered)
        done = await self._deps.ledger.mark_completed(uid, token, size_bytes=size,
                                                      checksum=checksum, mime_type=mime)
        if done is None:  # our claim was taken over; the new holder finishes the same way
            return await self.await_completion(claim)
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
            info = await self._deps.objects.stat(claim.storage_key)
        except BaseException:
            await asyncio.shield(self._deps.ledger.release_claim(claim.upload_uuid,
                                                                 claim.claim_token, COMPLETING))
            raise
        if info is None:
            await self._deps.ledger.release_claim(claim.upload_uuid, claim.claim_token, COMPLETING)
            raise Unavailable("the completed object is not visible in the store yet")
        return info.size_bytes

    async def _complete_store_upload(self, claim: Session, parts: list[Part]) -> str:
        """CompleteMultipartUpload with the ETags recorded in the ledger (never rebuilt from
        ListParts: some stores keep stale versions of re-uploaded parts)."""
        assert claim.storage_upload_id is not None
        try:
            return await self._deps.objects.complete_multipart(
                claim.storage_key, claim.storage_upload_id,
                [(p.part_number, p.etag) for p in parts])
        except EntityTooSmall:
            raise errors.part_too_small(
                "a part other than the last is smaller than 5 MiB: re-upload it at the "
                "declared size, register it again, then complete") from None
        except InvalidPart:
            raise errors.part_not_uploaded() from None
        except NoSuchUpload:
            # Completed by an earlier holder that crashed before recording it, or gone.
            info = await self._deps.objects.stat(claim.storage_key)
            if info is None:
                assert claim.claim_token is not None
                await self._deps.ledger.mark_failed(
                    claim.upload_uuid, claim.claim_token,
                    "the store no longer knows the multipart upload")
                await self.release_quota(claim.upload_uuid)  # QUOTA
                metrics.session_outcome(claim.method, "failed")
                raise errors.upload_failed("the upload can no longer be completed") from None
            return info.etag
