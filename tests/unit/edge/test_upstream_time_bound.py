"""The edge's time bound (edge/upstream.py): a unary call that would queue longer than the
budget behind the calls of its method in flight (their number ÷ the method's recent completion
rate) is refused at once with 503 OVERLOADED and a Retry-After of the excess; light load, other
methods and chunk streams are not refused for time."""

from __future__ import annotations

from typing import Any, cast

import pytest

from edge.errors import ApiError
from edge.upstream import MIN_QUEUED, RATE_WINDOW_S, CallQueue, Upstream

LOGIN, ME = "Login", "GetUser"


def upstream(max_wait_s: float = 1.0) -> Upstream:
    return Upstream("auth", cast(Any, None), max_in_flight=10_000, max_wait_s=max_wait_s)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: now[0])
    return now


def four_per_second(u: Upstream, method: str, clock: list[float]) -> None:
    """Four calls of `method` completed over the last second."""
    for _ in range(4):
        queue = u.admit(method)
        clock[0] += 0.25
        u.release(queue)


def test_an_idle_upstream_has_no_queue() -> None:
    u = upstream()
    for _ in range(MIN_QUEUED * 4):  # no completion yet: no evidence of a queue
        u.admit(ME)
    assert u.queues[ME].in_flight == u.in_flight == MIN_QUEUED * 4


def test_calls_beyond_the_budget_are_refused_with_the_excess_as_retry_after(
        clock: list[float]) -> None:
    u = upstream(max_wait_s=1.0)
    four_per_second(u, LOGIN, clock)
    for _ in range(MIN_QUEUED - 1):
        u.admit(LOGIN)  # under MIN_QUEUED nothing is refused for time
    assert u.queues[LOGIN].expected_wait_s(clock[0]) == pytest.approx((MIN_QUEUED - 1) / 4)
    u.admit(LOGIN)
    with pytest.raises(ApiError) as refused:
        u.admit(LOGIN)  # 16 in flight at 4/s: 4 s behind them, 3 s over the budget
    assert refused.value.code == "OVERLOADED"
    assert refused.value.headers == {"Retry-After": "3"}
    assert u.queues[LOGIN].in_flight == u.in_flight == MIN_QUEUED  # no slot taken
    # Another method's calls do not wait behind these; nor does a chunk stream (None).
    assert u.admit(ME) is u.queues[ME]
    assert u.admit(None) is None
    assert u.in_flight == MIN_QUEUED + 2


def test_old_completions_leave_the_window_and_a_stuck_method_is_not_timed(
        clock: list[float]) -> None:
    u = upstream(max_wait_s=0.5)
    u.release(u.admit(ME))
    for _ in range(MIN_QUEUED):
        u.admit(ME)
    clock[0] += RATE_WINDOW_S + 0.1  # nothing completed lately: the count bound's job
    assert u.queues[ME].expected_wait_s(clock[0]) == 0.0
    u.admit(ME)


def test_no_time_bound_when_the_budget_is_zero(clock: list[float]) -> None:
    u = upstream(max_wait_s=0.0)
    four_per_second(u, ME, clock)
    for _ in range(MIN_QUEUED * 10):
        u.admit(ME)


def test_the_count_bound_still_applies_to_every_call() -> None:
    u = Upstream("files", cast(Any, None), max_in_flight=2, max_wait_s=5.0)
    u.admit(ME)
    u.admit(None)
    with pytest.raises(ApiError) as refused:
        u.admit(LOGIN)
    assert refused.value.headers == {"Retry-After": "1"}


def test_the_window_keeps_only_its_own_seconds_of_completions(clock: list[float]) -> None:
    """Under light load the rate is never asked for; the record must not grow regardless."""
    queue = CallQueue(since=clock[0])
    for _ in range(10_000):
        queue.in_flight += 1
        clock[0] += 0.01
        queue.finished(clock[0])
    assert len(queue.completed) <= RATE_WINDOW_S / 0.01 + 1
