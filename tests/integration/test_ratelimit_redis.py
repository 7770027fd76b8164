"""The rate limiter's Redis store against a real redis-server (started here, on a free port):
the Lua bucket is shared and atomic, synced edges share one budget, and an unreachable Redis
falls back to the in-process buckets fast."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from common.config import load
from edge.ratelimit.local import LocalStore
from edge.ratelimit.middleware import RateLimiter
from edge.ratelimit.redis import RedisStore, SyncedStore
from edge.ratelimit.spec import Limit, RateLimitSettings
from tests.support.tools import require_tool


def _tiny(**specs: str) -> RateLimitSettings:
    env = {f"GOVAULT_RATE_{k.upper()}": v for k, v in specs.items()}
    return load(RateLimitSettings, env)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = require_tool("redis-server")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60  # generous: a busy machine
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "redis-server not up"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


async def test_redis_bucket_is_shared_and_atomic(redis_url: str) -> None:
    first = RedisStore.from_url(redis_url, 1.0)
    second = RedisStore.from_url(redis_url, 1.0)
    try:
        key = f"test:{time.time_ns()}"
        bucket = [(key, Limit(0.01, 3))]
        results = [await store.take(bucket) for store in (first, second, first)]
        assert [d.allowed for d in results] == [True, True, True]
        assert [d.remaining for d in results] == [2, 1, 0]
        refused = await second.take(bucket)
        assert not refused.allowed and refused.retry_after_s >= 90  # 1 token at 0.01/s
        # all or nothing: the refused user bucket leaves the address bucket untouched
        other = (f"{key}:ip", Limit(1.0, 5))
        assert not (await first.take([other, *bucket])).allowed
        assert (await first.take([other])).remaining == 4
    finally:
        await first.close()
        await second.close()


async def test_redis_unreachable_falls_back_fast() -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    limiter = RateLimiter(_tiny(), shared=RedisStore.from_url(url, 0.2))
    start = time.monotonic()
    decision = await limiter.check("files", "10.0.0.9", "u9")
    assert decision is not None and decision.allowed
    assert time.monotonic() - start < 1.0
    assert not limiter.using_shared
    await limiter.close()


def _synced(url: str, interval_s: float = 60.0) -> SyncedStore:
    settings = load(RateLimitSettings, {"GOVAULT_RATE_REDIS_SYNC_MS": str(interval_s * 1000)})
    return SyncedStore(RedisStore.from_url(url, 1.0), LocalStore(), settings)


async def test_synced_edges_share_one_budget(redis_url: str) -> None:
    """Two edges in synced mode: local decisions while far from empty, Redis's near it."""
    first, second = _synced(redis_url), _synced(redis_url)
    try:
        bucket = [(f"synced:{time.time_ns()}", Limit(0.01, 3))]
        assert (await first.take(bucket)).allowed  # local: 3 -> 2
        await first.sync()  # shared: 2
        assert (await second.take(bucket)).allowed  # local (it never saw the key): 3 -> 2
        await second.sync()  # shared: 1, second's local: 1
        assert (await first.take(bucket)).allowed  # local 2 >= half the burst: 2 -> 1
        await first.sync()  # shared: 0
        refused = await second.take(bucket)  # local 1 < half: Redis decides
        assert not refused.allowed and refused.retry_after_s >= 90
        assert not (await first.take(bucket)).allowed  # first's local is 0 now: Redis again
    finally:
        await first.close()
        await second.close()


async def test_synced_mode_needs_no_redis_call_far_from_empty() -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    store = _synced(url)
    try:
        bucket = [("far", Limit(0.01, 10))]
        for _ in range(6):  # 10 -> 4: every decision is local (at least 5 tokens left before it)
            assert (await store.take(bucket)).allowed
        with pytest.raises(Exception):  # noqa: B017 - below half the burst it asks Redis
            await store.take(bucket)
    finally:
        await store.close()


async def test_synced_limiter_falls_back_when_redis_is_down() -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    settings = _tiny(files_user="1/m:2")
    limiter = RateLimiter.create(settings, url)
    try:
        statuses = [await limiter.check("files", "10.0.0.7", "u7") for _ in range(3)]
        assert [d.allowed for d in statuses if d] == [True, True, False]
        assert not limiter.using_shared
    finally:
        await limiter.close()
