"""The upload reaper: one pass expires abandoned sessions (aborting their S3 multipart uploads
and checking they are gone) and finishes sessions stuck in `completing` past the lease.

It never aborts an S3 upload the ledger marks `completing` or `completed`: expiry is a
conditional update from pending/uploading only, and the abort happens after winning it.

Runs periodically inside the service (`common.background.every`, `GOVAULT_UPLOAD_REAPER_INTERVAL_S`,
0 disables) and on demand: `python -m svc_upload reap` (same environment; prints a JSON summary).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from common.errors import GoVaultError
from common.logging import get_logger
from svc_upload.models import COMPLETED
from svc_upload.seams import ExpiringLedger
from svc_upload.service import UploadService

log = get_logger(__name__)


@dataclass
class ReapSummary:
    expired: int = 0
    multipart_aborted: int = 0
    completed: int = 0
    stuck_left: int = 0
    errors: int = 0
    expired_uploads: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Reaper:
    def __init__(self, service: UploadService, store: ExpiringLedger, lease_s: float,
                 batch: int) -> None:
        self._service = service
        self._store = store
        self._lease_s = lease_s
        self._batch = batch

    async def run_once(self) -> ReapSummary:
        summary = ReapSummary()
        while True:
            sessions = await self._store.expired_sessions(self._batch)
            progressed = 0
            for session in sessions:
                try:
                    gone = await self._service.expire(session)
                except GoVaultError as exc:
                    summary.errors += 1
                    log.warning("reaper_expire_failed", upload_uuid=session.upload_uuid,
                                code=exc.code)
                    continue
                progressed += 1
                summary.expired += 1
                summary.expired_uploads.append(session.upload_uuid)
                if gone and session.storage_upload_id:
                    summary.multipart_aborted += 1
            if len(sessions) < self._batch or progressed == 0:
                break
        for session in await self._store.stuck_completing(self._lease_s, self._batch):
            outcome = await self._service.finish_stuck(session)
            if outcome == COMPLETED:
                summary.completed += 1
            else:
                summary.stuck_left += 1
        if summary.expired or summary.completed or summary.errors:
            log.info("reaper_pass", **{k: v for k, v in summary.as_dict().items()
                                       if k != "expired_uploads"})
        return summary
