"""The edge's time bound per upstream (edge/upstream.py): a unary call that would queue longer
than the budget behind the calls in flight (their number ÷ the recent completion rate) is
refused at once with 503 OVERLOADED and a Retry-After of the excess; light load and chunk
streams are never refused for time."""

from __future__ import annotations

from typing import Any, cast

import pytest

from edge.errors import ApiError
from edge.upstream import MIN_QUEUED, RATE_WINDOW_S, Upstream


def upstream(max_wait_s: float = 1.0) -> Upstream:
    return Upstream("upload", cast(Any, None), max_in_flight=10_000, max_wait_s=max_wait_s)


def test_an_idle_upstream_has_no_queue() -> None:
    u = upstream()
    assert u.expected_wait_s(100.0) == 0.0
    for _ in range(MIN_QUEUED * 4):  # no completion yet: no evidence of a queue
        u.admit(unary=True)
    assert u.unary_in_flight == MIN_QUEUED * 4


def test_calls_beyond_the_budget_are_refused_with_the_excess_as_retry_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: clock[0])
    u = upstream(max_wait_s=1.0)
    for _ in range(4):  # 4 completions over the last second: 4 calls/s
        u.admit(unary=True)
        clock[0] += 0.25
        u.release(unary=True)
    for _ in range(MIN_QUEUED - 1):
        u.admit(unary=True)  # under MIN_QUEUED nothing is refused for time
    assert u.expected_wait_s(clock[0]) == pytest.approx((MIN_QUEUED - 1) / 4)
    u.admit(unary=True)
    with pytest.raises(ApiError) as refused:
        u.admit(unary=True)  # 16 in flight at 4/s: 4 s behind them, 3 s over the budget
    assert refused.value.code == "OVERLOADED"
    assert refused.value.headers == {"Retry-After": "3"}
    assert u.unary_in_flight == MIN_QUEUED  # the refused call took no slot
    u.admit(unary=False)  # a chunk stream's length is its client's pace: never timed
    assert u.in_flight == MIN_QUEUED + 1


def test_old_completions_leave_the_window_and_a_stuck_upstream_is_not_timed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [50.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: clock[0])
    u = upstream(max_wait_s=0.5)
    u.admit(unary=True)
    u.release(unary=True)
    for _ in range(MIN_QUEUED):
        u.admit(unary=True)
    clock[0] += RATE_WINDOW_S + 0.1  # nothing completed lately: the count bound's job
    assert u.expected_wait_s(clock[0]) == 0.0
    u.admit(unary=True)


def test_no_time_bound_when_the_budget_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [10.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: clock[0])
    u = upstream(max_wait_s=0.0)
    u.admit(unary=True)
    clock[0] += 1.0
    u.release(unary=True)
    for _ in range(MIN_QUEUED * 10):
        u.admit(unary=True)


def test_the_window_keeps_only_its_own_seconds_of_completions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under light load the rate is never asked for; the record must not grow regardless."""
    clock = [0.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: clock[0])
    u = upstream()
    for _ in range(10_000):
        u.admit(unary=True)
        clock[0] += 0.01
        u.release(unary=True)
    assert len(u._completed) <= RATE_WINDOW_S / 0.01 + 1
