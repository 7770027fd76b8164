"""Rate limiting over HTTP, with extra edge processes (tiny limits) next to the session's stack:
a user over budget gets 429 + Retry-After while another user is served, and edges sharing one
Redis share one budget."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from compose import Stack
from edge.ratelimit.redis import KEY_PREFIX, redis_client
from tests.support.processes import Process, free_port, start_edge, wait_until
from tests.support.users import User, new_user

LIST = "/api/files/me/owned"
TINY = {"rate_files_user": "1/m:3", "rate_files_ip": "100000/s"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture(scope="module")
def redis_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stack's Redis, or a private redis-server when the stack runs without one."""
    if stack.redis_url:
        yield stack.redis_url
        return
    binary = shutil.which("redis-server")
    assert binary, "the shared-budget test needs redis-server (apt-get install redis-server)"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_until("redis-server", listening, 60)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _edge_env(stack: Stack, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in stack.service_env("edge").items() if k != "GOVAULT_REDIS_URL"}
    if redis_url:
        env["GOVAULT_REDIS_URL"] = redis_url
    return env


def _log_lines(text: str) -> list[dict[str, object]]:
    """The JSON log lines of a process's output (anything else it printed is skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def _get(session: aiohttp.ClientSession, url: str, user: User) -> aiohttp.ClientResponse:
    async with session.get(url + LIST, headers=user.auth) as response:
        await response.read()
        return response


async def test_user_over_budget_gets_429_and_another_user_is_served(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    alice = await new_user(session, stack.edge_url, "rl_a")
    bob = await new_user(session, stack.edge_url, "rl_b")
    edge, url = start_edge(_edge_env(stack, None), tmp_path / "edge-tiny.log", **TINY)
    try:
        for remaining in ("2", "1", "0"):
            ok = await _get(session, url, alice)
            assert ok.status == 200
            assert ok.headers["RateLimit-Limit"] == "3"
            assert ok.headers["RateLimit-Remaining"] == remaining
        async with session.get(url + LIST, headers={**alice.auth,
                                                    "X-Request-ID": "ops-ratelimit-0001"}) as r:
            assert r.status == 429
            body = await r.json()
            assert body == {"error": body["error"], "code": "RATE_LIMITED",
                            "request_id": "ops-ratelimit-0001"}
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.headers["RateLimit-Remaining"] == "0"
            assert int(r.headers["RateLimit-Reset"]) >= 1
        assert (await _get(session, url, bob)).status == 200
        # the session's main edge (default limits) still serves alice
        assert (await _get(session, stack.edge_url, alice)).status == 200
        # liveness is never limited
        for _ in range(5):
            async with session.get(url + "/health") as r:
                assert r.status == 200
    finally:
        edge.stop()
    log = (tmp_path / "edge-tiny.log").read_text()
    assert any(line.get("error_code") == "RATE_LIMITED" for line in _log_lines(log))
    assert alice.token not in log


@pytest.mark.parametrize("sync_ms", ["100", "0"], ids=["synced", "strict"])
async def test_two_edges_share_one_budget_through_redis(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path, redis_url: str, sync_ms: str,
) -> None:
    carol = await new_user(session, stack.edge_url, "rl_c")
    dave = await new_user(session, stack.edge_url, "rl_d")
    limits = {**TINY, "rate_redis_sync_ms": sync_ms}
    first, url1 = start_edge(_edge_env(stack, redis_url), tmp_path / "edge-1.log", **limits)
    second: Process | None = None
    try:
        second, url2 = start_edge(_edge_env(stack, redis_url), tmp_path / "edge-2.log", **limits)
        statuses = []
        for spent, url in enumerate((url1, url2, url1), start=1):
            statuses.append((await _get(session, url, carol)).status)
            await _shared_spending(redis_url, carol, spent)  # a synced edge reports it
        assert statuses == [200, 200, 200]
        refused = await _get(session, url2, carol)
        assert refused.status == 429, "the second edge did not see the first one's spending"
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await _get(session, url1, carol)).status == 429
        assert (await _get(session, url2, dave)).status == 200
    finally:
        first.stop()
        if second is not None:
            second.stop()
    store = f'redis-{"strict" if sync_ms == "0" else "synced-100ms"}'
    assert any(line.get("store") == store
               for line in _log_lines((tmp_path / "edge-1.log").read_text()))


async def _shared_spending(redis_url: str, user: User, spent: int) -> None:
    """Until Redis's bucket of `user` (files group, burst 3) shows `spent` tokens spent: at
    once in strict mode, after the edge's next sync (every 100 ms) in synced mode."""
    client = redis_client(redis_url, 5.0)
    key = f"{KEY_PREFIX}user:files:{user.user_id}"
    try:
        deadline = time.monotonic() + 30
        while True:
            level = await client.hget(key, "tokens")
            if level is not None and float(level) <= 3 - spent + 0.5:  # + the refill, 1/min
                return
            assert time.monotonic() < deadline, f"Redis never saw {spent} spent: {level!r}"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def test_redis_down_falls_back_to_local_buckets(
    stack: Stack, session: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    """A Redis that does not answer never turns into a 500 or a hang: local buckets take over."""
    erin = await new_user(session, stack.edge_url, "rl_e")
    dead = f"redis://127.0.0.1:{free_port()}/0"
    log = tmp_path / "edge-noredis.log"
    edge, url = start_edge(_edge_env(stack, dead), log, **TINY)
    try:
        started = time.monotonic()
        statuses = [(await _get(session, url, erin)).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert time.monotonic() - started < 5
    finally:
        edge.stop()
    assert "rate_limit_redis_unavailable" in log.read_text()
