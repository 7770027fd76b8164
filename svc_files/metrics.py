"""Files-service metrics. Operation labels come from the closed set below."""

from __future__ import annotations

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


# The upload service defines the same histogram name at import. So that both packages can be
# imported into one process (tests), this one is registered only when the files process starts.
S3_SECONDS = Histogram(
    "govault_s3_request_duration_seconds",
    "S3 request latency",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)


def register_process_metrics() -> None:
    """Called once by `python -m svc_files` before serving."""
    if "govault_s3_request_duration_seconds" not in REGISTRY._names_to_collectors:
        REGISTRY.register(S3_SECONDS)


PENDING_DELETES = Gauge(
    "govault_files_objects_pending_delete", "Objects of deleted files not yet removed from S3"
)
AUDIT_ORPHANS = Gauge(
    "govault_audit_orphan_objects", "Objects without a live file row (last audit)"
)
AUDIT_MISSING = Gauge(
    "govault_audit_missing_objects", "Live file rows without an object (last audit)"
)
