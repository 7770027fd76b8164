"""The upload reaper: one pass expires abandoned sessions (aborting their S3 multipart uploads,
checking they are gone, and deleting any object already written at the session's key) and
finishes sessions stuck in `completing` past the lease; with tus uploads, it also deletes
temporary objects nobody needs (TusUploads.sweep).

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
    errors: int = 0
    temporary_deleted: int = 0  # tus uploads' temporary objects nobody needs
    expired_uploads: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Reaper:
    def __init__(self, service: UploadService, ledger: ExpiringLedger, lease_s: float,
                 batch: int, sweep: tuple[TusUploads, float] | None = None) -> None:
        self._service = service
        self._ledger = ledger
        self._lease_s = lease_s
        self._batch = batch
        self._sweep = sweep  # tus uploads' temporary objects, and their grace period

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
        if summary.expired or summary.completed or summary.errors or summary.temporary_deleted:
            log.info("reaper_pass", **{k: v for k, v in summary.as_dict().items()
                                       if k != "expired_uploads"})
        return summary

    @staticmethod
    def _failed(phase: str, upload_uuid: str, exc: Exception, summary: ReapSummary) -> None:
        summary.errors += 1
        metrics.REAPER_ERRORS.inc()
        log.warning("reaper_session_failed", phase=phase, upload_uuid=upload_uuid,
                    error=f"{type(exc).__name__}: {exc}")
