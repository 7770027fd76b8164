"""Files-service metrics (the S3 latency histogram is common.s3.S3_SECONDS)."""

from __future__ import annotations

from prometheus_client import Gauge

SERVICE = "files"

PENDING_DELETES = Gauge(
    "govault_files_objects_pending_delete", "Objects of deleted files not yet removed from S3"
)
AUDIT_ORPHANS = Gauge(
    "govault_audit_orphan_objects", "Objects without a live file row (last audit)"
)
AUDIT_MISSING = Gauge(
    "govault_audit_missing_objects", "Live file rows without an object (last audit)"
)
