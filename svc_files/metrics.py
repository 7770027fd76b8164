"""Files-service metrics. Operation labels come from the closed set below."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS

SERVICE = "files"

# S3 operations (the `operation` label of govault_s3_request_duration_seconds).
OP_PRESIGN_GET = "presign_get"
OP_COPY = "copy_object"
OP_REMOVE = "remove_object"
OP_LIST = "list_objects"
OP_STAT = "stat_object"
S3_OPERATIONS = (OP_PRESIGN_GET, OP_COPY, OP_REMOVE, OP_LIST, OP_STAT)


def _existing(name: str) -> Any:
    # The upload service defines the same S3 histogram; in one process (tests) share it.
    return REGISTRY._names_to_collectors.get(name)


S3_SECONDS: Histogram = _existing("govault_s3_request_duration_seconds") or Histogram(
    "govault_s3_request_duration_seconds",
    "S3 request latency",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
)
PENDING_DELETES = Gauge(
    "govault_files_objects_pending_delete", "Objects of deleted files not yet removed from S3"
)
AUDIT_ORPHANS = Gauge(
    "govault_audit_orphan_objects", "Objects without a live file row (last audit)"
)
AUDIT_MISSING = Gauge(
    "govault_audit_missing_objects", "Live file rows without an object (last audit)"
)
