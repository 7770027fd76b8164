"""Files-service metrics (the S3 latency histogram is common.s3.S3_SECONDS)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SERVICE = "files"

PENDING_DELETES = Gauge(
    "govault_files_objects_pending_delete", "Objects of deleted files not yet removed from S3"
)
JANITOR_SETTLED = Counter(
    "govault_files_janitor_settled_total",
    "Queued object deletions this replica's janitor settled (removed, or the key live again)",
)
AUDIT_ORPHANS = Gauge(
    "govault_audit_orphan_objects", "Objects without a live file row (last audit)"
)
AUDIT_MISSING = Gauge(
    "govault_audit_missing_objects", "Live file rows without an object (last audit)"
)
QUOTA_REJECTIONS = Counter(
    "govault_files_quota_rejections_total",
    "Requests refused because the user's storage quota cannot hold them (QUOTA_EXCEEDED)",
    ["reason"],  # upload (a session's reservation), copy
)
USAGE_BYTES = Gauge(
    "govault_files_usage_bytes",
    "Bytes counted against quotas over all users (janitor pass)",
    ["kind"],  # used (live files), reserved (open upload sessions)
)


def quota_rejected(reason: str) -> None:
    QUOTA_REJECTIONS.labels(reason).inc()
