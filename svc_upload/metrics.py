"""Upload metrics (names and labels as in CONTRIBUTING.md; labels from closed sets only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from common.metrics import LATENCY_BUCKETS

SERVICE = "upload"

SESSIONS = Counter(
    "govault_upload_sessions_total", "Upload sessions by method and outcome", ["method", "outcome"]
)
BYTES_RECEIVED = Counter(
    "govault_upload_bytes_received_total",
    "Bytes received (proxy: streamed through this service; multipart: completed object size)",
    ["method"],
)
S3_DURATION = Histogram(
    "govault_s3_request_duration_seconds",
    "S3 request latency",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
)

# The closed set of S3 operation labels.
OP_CREATE_MULTIPART = "create_multipart_upload"
OP_UPLOAD_PART = "upload_part"
OP_PUT_OBJECT = "put_object"
OP_COMPLETE_MULTIPART = "complete_multipart_upload"
OP_ABORT_MULTIPART = "abort_multipart_upload"
OP_LIST_PARTS = "list_parts"
OP_STAT_OBJECT = "stat_object"
OP_DELETE_OBJECT = "delete_object"
OP_PRESIGN = "presign"

OUTCOMES = frozenset({"created", "completed", "failed", "aborted", "expired"})


def session_outcome(method: str, outcome: str) -> None:
    assert outcome in OUTCOMES
    SESSIONS.labels(method, outcome).inc()


def bytes_received(method: str, n: int) -> None:
    BYTES_RECEIVED.labels(method).inc(n)
