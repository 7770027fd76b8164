"""Upload metrics (names and labels as in CONTRIBUTING.md; labels from closed sets only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SERVICE = "upload"

SESSIONS = Counter(
    "govault_upload_sessions_total", "Upload sessions by method and outcome", ["method", "outcome"]
)
BYTES_RECEIVED = Counter(
    "govault_upload_bytes_received_total",
    "Bytes received (proxy: streamed through this service; multipart: completed object size)",
    ["method"],
)
REAPER_ERRORS = Counter(
    "govault_upload_reaper_errors_total",
    "Sessions a reaper pass could not settle (logged with the phase; the pass went on)",
)

OPEN_MULTIPART = Gauge(
    "govault_upload_open_multipart_uploads",
    "S3 multipart uploads open in the bucket after the last reaper pass (live sessions' own)",
)
ORPHANS_ABORTED = Counter(
    "govault_upload_orphan_multipart_aborted_total",
    "Open S3 multipart uploads no live session recorded, aborted by the reaper",
)

OUTCOMES = frozenset({"created", "completed", "failed", "aborted", "expired"})


def session_outcome(method: str, outcome: str) -> None:
    assert outcome in OUTCOMES
    SESSIONS.labels(method, outcome).inc()


def bytes_received(method: str, n: int) -> None:
    BYTES_RECEIVED.labels(method).inc(n)
