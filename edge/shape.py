"""Protobuf → JSON shaping helpers shared by route modules."""

from __future__ import annotations

from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(ts: Timestamp) -> str | None:
    """RFC 3339 UTC (`2026-01-02T03:04:05.123456Z`), or None for an unset timestamp."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")
