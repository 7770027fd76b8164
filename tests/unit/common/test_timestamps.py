"""common.grpc.timestamps gives what protobuf's own conversion gives."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from common.grpc.timestamps import timestamp_pb


def _reference(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


@pytest.mark.parametrize("value", [
    datetime(2026, 12, 7, 4, 5, 6, 123456, tzinfo=UTC),
    datetime(2026, 12, 7, 4, 5, 6, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch: nanos count forward
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 12, 0, 0, 500, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    datetime(2026, 6, 1, 12, 0, 0, 1),  # naive: UTC, as FromDatetime takes it
])
def test_the_same_timestamp_as_protobuf(value: datetime) -> None:
    assert timestamp_pb(value) == _reference(value)
