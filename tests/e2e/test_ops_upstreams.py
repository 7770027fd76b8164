"""The edge when an upstream is down or saturated, with an extra edge (and its own files service)
next to the session's stack so the shared one is never disturbed:

- a stopped service answers 503 UNAVAILABLE + Retry-After within ~1 s (no hang until the deadline),
  and the routes recover by themselves once it is back;
- a saturated upstream (too many calls in flight) is refused at once with 503 OVERLOADED;
- so is a call that would queue longer than the time budget behind the calls in flight.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from common.grpc.client import PING_TIMEOUT_S
from compose import Stack
from edge.upstream import MIN_QUEUED
from tests.support.processes import (
    Process,
    black_hole_server,
    free_port,
    start_edge,
    start_service,
)
from tests.support.users import User, new_user

LIST = "/api/files/me/owned"
MIB = 1024 * 1024
OUTAGE_S = 8.0
# Reconnect backoff is capped at 2 s (common.grpc.client.CHANNEL_OPTIONS): recovery takes about
# that; the bound is only a deadline for the wait, generous for a busy machine.
RECOVERY_S = 30.0
RPC_TIMEOUT_S = 5  # the extra edges' deadline for unary calls
# ... and the shedding test's, far past the channel's bound on an HTTP/2 handshake that never
# completes (PING_TIMEOUT_S), which ends its hung call: nothing can make the deadline come first
HUNG_DEADLINE_S = 15


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def _timed(session: aiohttp.ClientSession, method: str, url: str, user: User,
                 body: object = None) -> tuple[int, dict[str, str], dict[str, object], float]:
    started = time.monotonic()
    async with session.request(method, url, headers=user.auth, json=body) as response:
        answer = await response.json()
        return response.status, dict(response.headers), answer, time.monotonic() - started


async def _timed_get(session: aiohttp.ClientSession, url: str,
                     user: User) -> tuple[int, dict[str, str], dict[str, object], float]:
    return await _timed(session, "GET", url + LIST, user)


async def test_stopped_service_fails_fast_and_routes_recover(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    user = await new_user(session, stack.edge_url, "up_down")
    files, files_addr = start_service("svc_files", stack.service_env("files"),
                                      tmp_path / "files.log")
    edge: Process | None = None
    try:
        edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                               files_addr=files_addr, rate_limit_enabled="false",
                               rpc_timeout_s=str(RPC_TIMEOUT_S))
        status, _, _, _ = await _timed_get(session, url, user)
        assert status == 200

        files.kill()  # a crash, not a graceful stop
        outage_ends = time.monotonic() + OUTAGE_S
        slowest = 0.0
        while time.monotonic() < outage_ends:  # long enough for gRPC's reconnect backoff to grow
            status, headers, body, elapsed = await _timed_get(session, url, user)
            assert status == 503, body
            assert body["code"] == "UNAVAILABLE"
            assert int(headers["Retry-After"]) >= 1
            slowest = max(slowest, elapsed)
            await asyncio.sleep(0.25)
        # UNAVAILABLE, not TIMEOUT: no call waited out the deadline (how fast: printed below)
        assert slowest < RPC_TIMEOUT_S, f"a down service took {slowest:.2f}s to answer"
        print(f"down: slowest 503 in {slowest * 1000:.0f} ms")
        async with session.get(url + "/ready") as r:
            assert r.status == 503
            assert (await r.json())["upstreams"]["files"] != "serving"

        port = int(files_addr.rsplit(":", 1)[1])
        files, _ = start_service("svc_files", stack.service_env("files"),
                                 tmp_path / "files-2.log", port=port)
        restarted = time.monotonic()
        while True:
            status, _, body, _ = await _timed_get(session, url, user)
            if status == 200:
                break
            assert time.monotonic() - restarted < RECOVERY_S, f"no recovery: {body}"
            await asyncio.sleep(0.2)
        print(f"recovered {time.monotonic() - restarted:.2f} s after the restart")
        async with session.get(url + "/ready") as r:
            assert r.status == 200
    finally:
        if edge is not None:
            edge.stop()
        files.stop()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung upstream)."""
    with black_hole_server() as address:
        yield address


async def _shed_count(session: aiohttp.ClientSession, metrics_port: int) -> float:
    async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('govault_edge_shed_total{upstream="files"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("govault_edge_shed_total{upstream=files} is not exported")


async def test_saturated_upstream_is_shed_at_once(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path, black_hole: str,
) -> None:
    user = await new_user(session, stack.edge_url, "up_shed")
    metrics_port = free_port()
    edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                           files_addr=black_hole, upstream_max_in_flight="1",
                           rpc_timeout_s=str(HUNG_DEADLINE_S),
                           metrics_port=str(metrics_port), rate_limit_enabled="false")
    try:
        before = await _shed_count(session, metrics_port)
        # Two calls at once: whichever the edge admits first holds the only slot until its
        # deadline; the other is shed, answered while the first is still waiting (at once).
        calls = {asyncio.create_task(_timed_get(session, url, user)) for _ in range(2)}
        done, pending = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        (shed,), (hung,) = done, pending
        status, headers, body, _ = shed.result()
        assert status == 503 and body["code"] == "OVERLOADED", body
        assert headers["Retry-After"] == "1"
        assert await _shed_count(session, metrics_port) == before + 1
        # Not a hang: a peer that accepts the connection and never completes HTTP/2's handshake
        # is given up after the channel's settings timeout, well inside the call's deadline.
        status, _, body, elapsed = await hung
        assert status == 503 and body["code"] == "UNAVAILABLE", body
        assert PING_TIMEOUT_S - 0.5 <= elapsed < HUNG_DEADLINE_S, elapsed
        # the slot is free again: the next call is tried (and fails) rather than shed
        assert await _shed_count(session, metrics_port) == before + 1
    finally:
        edge.stop()


async def _create_session(session: aiohttp.ClientSession, url: str,
                          user: User) -> tuple[int, dict[str, str], dict[str, object], float]:
    return await _timed(session, "POST", url + "/api/upload/proxy/session", user,
                        {"file_name": "q.bin", "file_size_bytes": MIB})


async def test_calls_that_would_queue_past_the_budget_are_refused_at_once_and_leave_nothing(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    """An upload service that stops answering while calls keep coming: the first MIN_QUEUED
    wait (the count bound is far away), the next ones would wait longer than the budget behind
    them and are answered 503 OVERLOADED + Retry-After at once; they hold no session and no
    quota reservation. Once the service answers again, the waiting calls succeed."""
    user = await new_user(session, stack.edge_url, "up_time")
    upload, upload_addr = start_service("svc_upload", stack.service_env("upload"),
                                        tmp_path / "upload.log")
    edge: Process | None = None
    try:
        edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                               upload_addr=upload_addr, upstream_max_wait_s="1",
                               rate_limit_enabled="false")
        status, _, body, _ = await _create_session(session, url, user)  # a completion: a rate
        assert status == 200, body
        popen = upload.popen
        assert popen is not None
        popen.send_signal(signal.SIGSTOP)
        try:
            calls = [asyncio.create_task(_create_session(session, url, user))
                     for _ in range(MIN_QUEUED + 8)]
            # The refusals come while the admitted calls wait for the frozen service (they
            # cannot finish before SIGCONT or their deadline, 10 s): "at once", by the order.
            answers = asyncio.as_completed(calls, timeout=8)
            refused = [await next(answers) for _ in range(8)]
            assert sum(c.done() for c in calls) == 8, "an admitted call did not wait"
        finally:
            popen.send_signal(signal.SIGCONT)
        answered = await asyncio.gather(*calls)
        assert len(refused) == 8, [r[:3] for r in refused]
        for status, headers, body, _ in refused:
            assert status == 503 and body["code"] == "OVERLOADED", body
            assert 1 <= int(headers["Retry-After"]) <= 30
        admitted = [a for a in answered if a not in refused]
        assert [a[0] for a in admitted] == [200] * MIN_QUEUED, [a[:3] for a in admitted]
        async with session.get(url + "/api/files/me/usage", headers=user.auth) as r:
            usage = await r.json()
        assert usage["reserved_bytes"] == (1 + MIN_QUEUED) * MIB, usage
    finally:
        if edge is not None:
            edge.stop()
        upload.stop()
