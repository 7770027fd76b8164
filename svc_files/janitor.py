"""Object hygiene: retries owed S3 deletions until they succeed, and audits rows vs objects.

- `Janitor.run_once()` removes the objects queued in `pending_deletes` (deleted files, failed
  copies). A failure is recorded and retried with exponential backoff (capped); an object whose
  key belongs to a live row again is never removed (the queue entry is just dropped).
  Deleting a file already gave its bytes back to its owner's usage (in the transaction that
  marked the row deleted): removing the object changes no counter. Each pass also refreshes the
  usage gauges (bytes used and reserved over all users).
- `audit()` lists the bucket and compares with the rows: `orphan_objects` are objects without a
  live row (excluding those already queued for deletion and those younger than a grace period,
  i.e. uploads still being registered); `missing_objects` are live rows without an object.
  `python -m svc_files audit` prints it as JSON; in-process it runs every
  `GOVAULT_FILES_AUDIT_INTERVAL_S` (off by default) and feeds the audit gauges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from common.logging import get_logger
from svc_files import metrics
from svc_files.seams import JanitorCatalog, JanitorObjects

log = get_logger(__name__)

MAX_BACKOFF_S = 300.0


@dataclass(frozen=True)
class AuditReport:
    rows: int
    objects: int
    orphan_objects: int
    missing_objects: int
    pending_deletes: int
    orphan_keys: list[str]
    missing_keys: list[str]

    def as_dict(self, sample: int = 20) -> dict[str, object]:
        data = asdict(self)
        data["orphan_keys"] = sorted(self.orphan_keys)[:sample]
        data["missing_keys"] = sorted(self.missing_keys)[:sample]
        return data


def backoff_s(attempts: int) -> float:
    return float(min(MAX_BACKOFF_S, 2 ** min(attempts, 16)))


class Janitor:
    def __init__(self, store: JanitorCatalog, objects: JanitorObjects, batch: int = 100) -> None:
        self._store = store
        self._objects = objects
        self._batch = batch

    async def run_once(self) -> int:
        """Works through the due queue once; returns how many entries were settled."""
        settled = 0
        for item in await self._store.due_deletes(self._batch):
            try:
                if not await self._store.key_is_live(item.storage_key):
                    await self._objects.remove(item.storage_key)
                await self._store.finish_delete(item.id)
                settled += 1
                metrics.JANITOR_SETTLED.inc()
            except Exception as exc:
                log.warning("object_delete_failed", storage_key=item.storage_key,
                            attempts=item.attempts + 1, error=str(exc))
                try:
                    await self._store.delete_failed(item.id, str(exc),
                                                    backoff_s(item.attempts + 1))
                except Exception:
                    log.exception("object_delete_failure_not_recorded")
        metrics.PENDING_DELETES.set(await self._store.count_pending())
        used, reserved = await self._store.usage_totals()
        metrics.USAGE_BYTES.labels("used").set(used)
        metrics.USAGE_BYTES.labels("reserved").set(reserved)
        return settled

    async def audit(self, grace_s: float = 0.0) -> AuditReport:
        started = datetime.now(UTC)
        live, pending = await self._store.audit_keys()
        objects = await self._objects.list_objects()
        cutoff = started - timedelta(seconds=grace_s)
        orphans = [key for key, modified in objects.items()
                   if key not in live and key not in pending and modified < cutoff]
        missing = [key for key in live if key not in objects]
        report = AuditReport(
            rows=len(live),
            objects=len(objects),
            orphan_objects=len(orphans),
            missing_objects=len(missing),
            pending_deletes=await self._store.count_pending(),
            orphan_keys=orphans,
            missing_keys=missing,
        )
        metrics.AUDIT_ORPHANS.set(report.orphan_objects)
        metrics.AUDIT_MISSING.set(report.missing_objects)
        metrics.PENDING_DELETES.set(report.pending_deletes)
        return report

