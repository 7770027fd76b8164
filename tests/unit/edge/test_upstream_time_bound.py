"""The edge's time bound (edge/upstream.py): a unary call that would queue longer than the
budget behind the calls of its method in flight (their number ÷ the rate the method completes
calls while busy) is refused at once with 503 OVERLOADED and a Retry-After of the excess; light
load, a burst after an idle moment, other methods and chunk streams are not refused for time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from edge.errors import ApiError
from edge.upstream import ADMIT, MIN_QUEUED, RATE_WINDOW_S, CallQueue, Upstream

LOGIN, ME = "Login", "GetUser"


def upstream(max_wait_s: float = 1.0) -> Upstream:
    return Upstream("auth", cast(Any, None), max_in_flight=10_000, max_wait_s=max_wait_s)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr("edge.upstream.time.monotonic", lambda: now[0])
    return now


async def four_per_second(u: Upstream, method: str, clock: list[float]) -> None:
    """Four calls of `method` completed over the last second."""
    for _ in range(4):
        queue = await u.admit(method)
        clock[0] += 0.25
        u.release(queue)


async def test_an_idle_upstream_has_no_queue() -> None:
    u = upstream()
    for _ in range(MIN_QUEUED * 4):  # no completion yet: no evidence of a queue
        await u.admit(ME)
    assert u.queues[ME].in_flight == u.in_flight == MIN_QUEUED * 4


async def test_calls_beyond_the_budget_are_refused_with_the_excess_as_retry_after(
        clock: list[float]) -> None:
    u = upstream(max_wait_s=1.0)
    await four_per_second(u, LOGIN, clock)
    for _ in range(MIN_QUEUED - 1):
        await u.admit(LOGIN)  # under MIN_QUEUED nothing is refused for time
    # 15 in flight at 4/s: 3.75 s behind them; within a 10 s budget such a call is not refused
    # (held until a call completes, since none has in this busy period), past 1 s it is
    within = u.queues[LOGIN].judge(clock[0], 10.0)
    assert not within.admit and within.hold_s > 0
    assert within.wait_s == pytest.approx((MIN_QUEUED - 1) / 4)
    beyond = u.queues[LOGIN].judge(clock[0], 1.0)
    assert not beyond.admit and not beyond.hold_s and beyond.wait_s == within.wait_s
    await u.admit(LOGIN)
    with pytest.raises(ApiError) as refused:
        await u.admit(LOGIN)  # 16 in flight at 4/s: 4 s behind them, 3 s over the budget
    assert refused.value.code == "OVERLOADED"
    assert refused.value.headers == {"Retry-After": "3"}
    assert u.queues[LOGIN].in_flight == u.in_flight == MIN_QUEUED  # no slot taken
    # Another method's calls do not wait behind these; nor does a chunk stream (None).
    assert await u.admit(ME) is u.queues[ME]
    assert await u.admit(None) is None
    assert u.in_flight == MIN_QUEUED + 2


async def test_old_completions_leave_the_window_and_a_stuck_method_is_not_timed(
        clock: list[float]) -> None:
    u = upstream(max_wait_s=0.5)
    u.release(await u.admit(ME))
    for _ in range(MIN_QUEUED):
        await u.admit(ME)
    clock[0] += RATE_WINDOW_S + 0.1  # nothing completed lately: the count bound's job
    assert u.queues[ME].judge(clock[0], 0.5) == ADMIT
    await u.admit(ME)


async def test_no_time_bound_when_the_budget_is_zero(clock: list[float]) -> None:
    u = upstream(max_wait_s=0.0)
    await four_per_second(u, ME, clock)
    for _ in range(MIN_QUEUED * 10):
        await u.admit(ME)


async def test_the_count_bound_still_applies_to_every_call() -> None:
    u = Upstream("files", cast(Any, None), max_in_flight=2, max_wait_s=5.0)
    await u.admit(ME)
    await u.admit(None)
    with pytest.raises(ApiError) as refused:
        await u.admit(LOGIN)
    assert refused.value.headers == {"Retry-After": "1"}


async def test_the_window_keeps_only_its_own_seconds_of_completions(clock: list[float]) -> None:
    """Under light load the rate is never asked for; the record must not grow regardless."""
    queue = CallQueue()
    for _ in range(10_000):
        queue.started(clock[0])
        clock[0] += 0.01
        queue.finished(clock[0])
        clock[0] += 0.001  # idle between calls: each is a busy period of its own
    assert len(queue.completed) <= RATE_WINDOW_S / 0.011 + 1
    assert len(queue.busy) <= RATE_WINDOW_S / 0.011 + 1


@dataclass
class Service:
    """A service as the edge sees it: each call completes `latency_s` after it is sent, and no
    sooner than `gap_s` after the previous completion (its throughput); `stopped_at`: nothing
    completes from then on (SIGSTOP)."""

    latency_s: float
    gap_s: float
    stopped_at: float = float("inf")
    last_done: float = float("-inf")

    def completes(self, sent_at: float) -> float:
        self.last_done = max(sent_at + self.latency_s, self.last_done + self.gap_s)
        return self.last_done if self.last_done < self.stopped_at else float("inf")


@dataclass
class Outcome:
    admitted: int = 0
    refused: int = 0
    held_s: list[float] = field(default_factory=list)  # how long each held call waited
    refused_after_s: list[float] = field(default_factory=list)


def simulate(queue: CallQueue, service: Service, arrivals: list[float],
             budget_s: float = 5.0) -> Outcome:
    """The edge's admission of calls arriving at `arrivals` (absolute times), played event by
    event against `service`: what `Upstream.admit` decides, with holds resolved by the next
    completion or their deadline. Returns when every call was answered or is in flight at a
    stopped service."""
    outcome = Outcome()
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, call)
    order = itertools.count()
    for call, at in enumerate(arrivals):
        heapq.heappush(events, (at, next(order), "judge", call))
    held: set[int] = set()
    answered: set[int] = set()
    while events:
        now, _, kind, call = heapq.heappop(events)
        if kind == "done":
            queue.finished(now)
            for waiting in sorted(held):  # a completion wakes every held call
                heapq.heappush(events, (now, next(order), "judge", waiting))
            continue
        if call in answered:
            continue  # a held call's deadline after a completion woke it
        held.discard(call)
        verdict = (ADMIT if queue.in_flight < MIN_QUEUED else queue.judge(now, budget_s))
        if verdict.hold_s:
            held.add(call)
            heapq.heappush(events, (now + verdict.hold_s, next(order), "judge", call))
            continue
        answered.add(call)
        if verdict.admit:
            queue.started(now)
            outcome.admitted += 1
            done = service.completes(now)
            if done != float("inf"):
                heapq.heappush(events, (done, next(order), "done", call))
        else:
            outcome.refused += 1
            outcome.refused_after_s.append(now - arrivals[call])
    return outcome


def burst(at: float, calls: int, every_s: float) -> list[float]:
    return [at + n * every_s for n in range(calls)]


@pytest.mark.parametrize("idle_s", [0.3, 1.0, RATE_WINDOW_S + 1.5])
def test_a_short_burst_after_an_idle_moment_is_not_shed(idle_s: float) -> None:
    """Issue 22: after 3.5 s idle, 80 concurrent reads that all complete within 0.12 s had 11-40
    refused (the window held almost no completions to divide by). Here, on a service that drains
    80 calls in 0.125 s: a burst, an idle moment, another; one quick call, an idle moment, then
    a burst whose first call goes ahead alone (a warm connection) and the rest 60 ms later."""
    queue, fast = CallQueue(), Service(latency_s=0.005, gap_s=0.0015)
    first = burst(1000.0, 80, 0.0002)
    second = burst(1000.2 + idle_s, 80, 0.0002)
    one = [second[-1] + 0.2]
    third = [one[0] + idle_s, *burst(one[0] + idle_s + 0.06, 79, 0.0002)]
    outcome = simulate(queue, fast, [*first, *second, *one, *third])
    assert (outcome.admitted, outcome.refused) == (241, 0)


def test_a_service_that_stops_right_after_one_call_is_refused_fast() -> None:
    """test_ops_upstreams' SIGSTOP case: one call completes, the service stops, 24 arrive at
    once: 16 wait, 8 are refused well within the budget (held until the silence says so)."""
    queue, stopping = CallQueue(), Service(latency_s=0.004, gap_s=0.004, stopped_at=1000.01)
    outcome = simulate(queue, stopping, [1000.0, *burst(1000.02, 24, 0.0005)], budget_s=1.0)
    assert (outcome.admitted, outcome.refused) == (1 + MIN_QUEUED, 8)
    assert max(outcome.refused_after_s) < 0.2


def test_a_service_that_stops_after_a_burst_is_refused_within_the_budget() -> None:
    """The busy-time rate does not hide a stall: many completions, then silence while calls
    keep arriving: refused once the silence passes the budget at the latest."""
    queue, stopping = CallQueue(), Service(latency_s=0.005, gap_s=0.0015, stopped_at=1000.5)
    arrivals = [*burst(1000.0, 80, 0.0002), *burst(1000.45, 200, 0.05)]
    outcome = simulate(queue, stopping, arrivals, budget_s=1.0)
    assert outcome.refused > 0 and max(outcome.refused_after_s) <= 1.0 + 0.01


def test_steady_overload_is_refused_at_once() -> None:
    """A service completing 20 calls/s while 40/s arrive: past the budget, refused at arrival."""
    queue, slow = CallQueue(), Service(latency_s=0.05, gap_s=0.05)
    outcome = simulate(queue, slow, burst(1000.0, 400, 0.025), budget_s=1.0)
    assert outcome.refused > 100 and outcome.admitted >= 200
    assert sorted(outcome.refused_after_s)[len(outcome.refused_after_s) // 2] == 0.0


async def test_a_held_call_is_admitted_when_a_call_completes() -> None:
    """The hold itself, on the real clock: a call held while the evidence is thin goes in as
    soon as a call of its method completes."""
    u = upstream(max_wait_s=5.0)
    u.release(await u.admit(ME))
    first = [await u.admit(ME) for _ in range(MIN_QUEUED)]
    held = asyncio.create_task(u.admit(ME))
    await asyncio.sleep(0)
    assert not held.done()
    u.release(first[0])
    assert await asyncio.wait_for(held, 5) is u.queues[ME]
