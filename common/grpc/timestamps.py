"""datetime → google.protobuf.Timestamp for the services' answers."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_pb(value: datetime) -> Timestamp:
    """What `Timestamp.FromDatetime` gives (a naive value is UTC), built from the difference
    to the epoch: ~1 µs instead of ~3 (a page of files carries one per file)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    since = value - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)
