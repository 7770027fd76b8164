"""The upload reaper: one pass expires abandoned sessions (aborting their S3 multipart uploads,
checking they are gone, and deleting any object already written at the session's key),
finishes sessions stuck in `completing` past the lease, and, with tus uploads, deletes temporary
objects nobody needs (TusUploads.sweep). It also sweeps the bucket's open multipart uploads
against the ledger: an upload no live session recorded (the store accepted CreateMultipartUpload
but answered after the service gave up, or the session's write failed after it) is aborted
(rules.orphaned). MinIO lists open uploads only per object name, so the key of every session
that ended without an upload id is also listed once, after `orphan_grace_s` (MinIO itself
aborts uploads older than a day: api stale_uploads_expiry). The pass counts the uploads left
open (live sessions' own) in its summary and in govault_upload_open_multipart_uploads.

It never aborts an S3 upload or deletes an object the ledger marks `completing` or `completed`:
expiry is a conditional update from pending/uploading only, and the cleanup happens after
winning it. One session that cannot be settled (unreadable, or a store error) is logged, counted
in govault_upload_reaper_errors_total and skipped; the pass goes on.

Runs periodically inside the service (`common.background.every`, `GOVAULT_UPLOAD_REAPER_INTERVAL_S`,
0 disables) and on demand: `python -m svc_upload reap` (same environment; prints a JSON summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from common.logging import get_logger
from svc_upload import metrics
from svc_upload.models import COMPLETED
from svc_upload.rules import orphaned
from svc_upload.seams import ExpiringLedger
from svc_upload.service import UploadService
from svc_upload.tus import TusUploads

log = get_logger(__name__)


@dataclass
class ReapSummary:
    expired: int = 0
    multipart_aborted: int = 0
    completed: int = 0
    stuck_left: int = 0
    orphans_aborted: int = 0
    multipart_open: int = 0
    errors: int = 0
    temporary_deleted: int = 0  # tus uploads' temporary objects nobody needs
    expired_uploads: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Reaper:
    def __init__(self, service: UploadService, ledger: ExpiringLedger, lease_s: float,
                 batch: int, sweep: tuple[TusUploads, float] | None = None,
                 orphan_grace_s: float = 600.0) -> None:
        self._service = service
        self._ledger = ledger
        self._lease_s = lease_s
        self._batch = batch
        self._sweep = sweep  # tus uploads' temporary objects, and their grace period
        self._orphan_grace_s = orphan_grace_s

    async def run_once(self) -> ReapSummary:
        summary = ReapSummary()
        failed: list[str] = []
        while True:
            ids = await self._ledger.expired_uploads(self._batch, failed)
            for upload_uuid in ids:
                try:
                    session = await self._ledger.get_session(upload_uuid)
                    gone = session is not None and await self._service.expire(session)
                except Exception as exc:
                    self._failed("expire", upload_uuid, exc, summary)
                    failed.append(upload_uuid)
                    continue
                summary.expired += 1
                summary.expired_uploads.append(upload_uuid)
                if gone and session is not None and session.storage_upload_id:
                    summary.multipart_aborted += 1
            if len(ids) < self._batch:
                break
        for upload_uuid in await self._ledger.stuck_uploads(self._lease_s, self._batch):
            try:
                session = await self._ledger.get_session(upload_uuid)
                outcome = await self._service.finish_stuck(session) if session else "gone"
            except Exception as exc:
                self._failed("finish", upload_uuid, exc, summary)
                continue
            if outcome == COMPLETED:
                summary.completed += 1
            else:
                summary.stuck_left += 1
        if self._sweep is not None:
            tus, grace_s = self._sweep
            try:
                summary.temporary_deleted = await tus.sweep(grace_s)
            except Exception as exc:
                self._failed("sweep", "-", exc, summary)
        await self._sweep_unrecorded(summary)
        await self._sweep_open_uploads(summary)
        if (summary.expired or summary.completed or summary.errors or summary.temporary_deleted
                or summary.orphans_aborted):
            log.info("reaper_pass", **{k: v for k, v in summary.as_dict().items()
                                       if k != "expired_uploads"})
        return summary

    async def _sweep_unrecorded(self, summary: ReapSummary) -> None:
        """The key of each session that ended without an upload id, listed once after the grace
        (time for a late answer of the store to land): whatever is open there is aborted."""
        for session in await self._ledger.unswept_sessions(self._orphan_grace_s, self._batch):
            try:
                for upload in await self._service.open_uploads(session.storage_key):
                    await self._service.abort_orphan(upload)
                    summary.orphans_aborted += 1
                await self._ledger.mark_swept(session.upload_uuid)
            except Exception as exc:
                self._failed("orphans", session.upload_uuid, exc, summary)

    async def _sweep_open_uploads(self, summary: ReapSummary) -> None:
        """Aborts the open multipart uploads of the bucket no live session recorded; counts the
        rest (a store that lists open uploads only per object name shows none here)."""
        try:
            uploads = await self._service.open_uploads()
            sessions = await self._ledger.sessions_at(sorted({u.key for u in uploads}))
        except Exception as exc:
            self._failed("orphans", "-", exc, summary)
            return
        left = 0
        for upload in uploads:
            session = sessions.get(upload.key)
            state = session.state if session else None
            recorded = session.storage_upload_id if session else None
            if not orphaned(upload.upload_id, state, recorded):
                left += 1
                continue
            try:
                await self._service.abort_orphan(upload)
            except Exception as exc:
                self._failed("orphans", upload.key, exc, summary)
                left += 1
                continue
            summary.orphans_aborted += 1
        summary.multipart_open = left
        metrics.OPEN_MULTIPART.set(left)

    @staticmethod
    def _failed(phase: str, upload_uuid: str, exc: Exception, summary: ReapSummary) -> None:
        summary.errors += 1
        metrics.REAPER_ERRORS.inc()
        log.warning("reaper_session_failed", phase=phase, upload_uuid=upload_uuid,
                    error=f"{type(exc).__name__}: {exc}")
