"""Two replicas of every gRPC service behind one edge (issue #14, `make up REPLICAS=2`): under
concurrent proxy and multipart uploads and a steady stream of unary calls (`GET /auth/me`,
`GET /api/files/me/owned`, `POST /auth/login`), one replica of each service is killed in turn
(SIGKILL; the launcher restarts it, as Kubernetes would, and the next kill waits until it serves
again). Then:

- the unary calls — each sent once, never retried by the client — saw no failure at all: the edge's
  channels send a call that lost its replica again on the other one (common.grpc.client's retry
  policy) and leave the dead replica out of the rotation at once;
- every upload a client saw succeed is listed and downloads byte-exact, no 500 was seen, after a
  reaper pass no session is stuck, and there is no orphan object or open multipart upload
  (tests.faults.checks, as in the single-instance fault test).

Failover figures per kill are printed and written to DATA/replica-failover.json: the upload
requests answered 503/502/504 or not at all (the chunk stream that lost its replica is answered
503 and the client's retry resumes elsewhere), the unary calls made and failed, the time to the
first successful login + upload, and the time until the killed replica serves again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from compose import Stack
from compose.health import grpc_serving
from tests.faults.checks import (
    assert_nothing_lost_nothing_left,
    fault_env,
    first_success,
    new_account,
    signal_group,
    until,
)
from tests.faults.workload import FaultClient, Observations, keep_uploading
from tests.support.stacks import (
    isolated_environ,
    make_data_dir,
    offset_for,
    stop_stack,
)

pytestmark = pytest.mark.faults

KILLED = ("auth", "files", "upload")  # the first instance of each; `<svc>-2` carries on
# a session whose creation answer was lost with its replica is settled when it expires
REPLICA_ENV = fault_env(session_ttl_s=25)


@pytest.fixture(scope="module")
def replica_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(make_data_dir("replicas"), offset_for("scratch"), services=True,
                  prometheus=False, environ={**isolated_environ(), **REPLICA_ENV},
                  fast_unsafe_pg=True, supervise=True, replicas=2)
    stack.start()
    yield stack
    stop_stack(stack, keep_logs=bool(request.session.testsfailed))


@dataclass
class UnaryLog:
    """Every unary call of the stream: when it ended, and its failure if it failed."""

    ended_at: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)

    def between(self, start: float, end: float) -> tuple[int, int]:
        calls = sum(1 for t in self.ended_at if start <= t < end)
        return calls, sum(1 for t, _ in self.failures if start <= t < end)


Call = tuple[str, str, dict[str, str] | None]  # method, path, JSON body


async def keep_calling(http: aiohttp.ClientSession, base: str, token: str, calls: list[Call],
                       log: UnaryLog, stop: asyncio.Event) -> None:
    """`calls` in turn, one after another, each sent once: any answer but 200 is a failure."""
    headers = {"Authorization": f"Bearer {token}"}
    turn = 0
    while not stop.is_set():
        method, path, body = calls[turn % len(calls)]
        turn += 1
        try:
            async with http.request(method, base + path, headers=headers, json=body,
                                    timeout=aiohttp.ClientTimeout(total=20)) as response:
                await response.read()
                failure = None if response.status == 200 else f"{response.status} {path}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = f"{type(exc).__name__} {path}"
        now = time.monotonic()
        log.ended_at.append(now)
        if failure:
            log.failures.append((now, failure))
        await asyncio.sleep(0.02)


async def _serving_again(stack: Stack, name: str, since: float) -> float:
    """Seconds from `since` until the restarted replica `name` answers SERVING."""
    address = f"{stack.host}:{stack.ports[name]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await asyncio.to_thread(grpc_serving, address, 0.5):
            return time.monotonic() - since
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} not serving again within 60 s of its kill")


async def test_killing_one_replica_of_each_service_fails_no_unary_call_and_loses_nothing(
        replica_stack: Stack, http: aiohttp.ClientSession) -> None:
    stack = replica_stack
    base = stack.edge_url
    seen = Observations()
    workers = [FaultClient(http, base, await new_account(http, base), seen) for _ in range(4)]
    probe = FaultClient(http, base, await new_account(http, base), Observations())
    caller = FaultClient(http, base, await new_account(http, base), Observations())
    for client in [*workers, probe, caller]:
        await client.login()

    stop = asyncio.Event()
    unary = UnaryLog()
    tasks = [asyncio.create_task(keep_uploading(client, method, stop))
             for client, method in zip(workers, ["proxy", "multipart"] * 2, strict=True)]
    reads: list[Call] = [("GET", "/auth/me", None), ("GET", "/api/files/me/owned?limit=5", None)]
    # A login spends tens of milliseconds hashing on its replica: a kill of an auth replica
    # nearly always catches one in flight, which only the channel's retry can save.
    logins: list[Call] = [("POST", "/auth/login", {"email": caller.account.email,
                                                    "password": caller.account.password})]
    tasks += [asyncio.create_task(keep_calling(http, base, caller.account.token, calls, unary,
                                               stop)) for calls in (reads, reads, reads, logins,
                                                                    logins)]
    figures: dict[str, dict[str, float | int]] = {}
    try:
        await until("the workload under way (an upload stored)", lambda: bool(seen.stored),
                    tasks)
        for name in KILLED:
            old_pid = stack.pid(name)
            transient_before = seen.transient
            killed_at = time.monotonic()
            signal_group(stack, name, signal.SIGKILL)
            recovered_s = await first_success(probe, killed_at)
            back_s = await _serving_again(stack, name, killed_at)
            await asyncio.sleep(2)  # the restarted replica takes its share again
            assert stack.pid(name) not in (None, old_pid)
            calls, failed = unary.between(killed_at, time.monotonic())
            figures[f"kill -9 {name}"] = {
                "upload_requests_refused_or_unanswered": seen.transient - transient_before,
                "unary_calls": calls,
                "unary_calls_failed": failed,
                "first_success_s": round(recovered_s, 2),
                "replica_serving_again_s": round(back_s, 2),
            }
        await until("8 uploads stored", lambda: len(seen.stored) >= 8, tasks)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    report = {"failover": figures, "stored": len(seen.stored), "gave_up": seen.gave_up,
              "unary_calls": len(unary.ended_at), "unary_failures": unary.failures[:20],
              "server_errors": seen.server_errors}
    (stack.data_dir / "replica-failover.json").write_text(json.dumps(report, indent=2))
    print("\nreplica failover:", json.dumps(report, indent=2))

    assert unary.failures == [], report
    assert all(f["unary_calls"] > 0 for f in figures.values()), report
    assert seen.server_errors == [] and probe.seen.server_errors == []
    assert len(seen.stored) >= 8, report
    assert "auth restarted" in "\n".join(stack.supervision_events)
    await assert_nothing_lost_nothing_left(stack, http, workers, seen)
