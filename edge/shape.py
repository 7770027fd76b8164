"""Protobuf → JSON shaping helpers shared by route modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

_ENCODER = msgspec.json.Encoder()


def timestamp(ts: Timestamp) -> str | None:
    """RFC 3339 UTC (`2026-01-02T03:04:05.123456Z`), or None for an unset timestamp."""
    when = timestamp_datetime(ts)
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def timestamp_datetime(ts: Timestamp) -> datetime | None:
    """The timestamp as an aware UTC datetime, or None when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def reply(body: Any, status: int = 200) -> web.Response:
    """A JSON response from an API model (or a list of them)."""
    return web.Response(body=_ENCODER.encode(body), status=status,
                        content_type="application/json")
