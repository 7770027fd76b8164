"""Small bursts after an idle moment are served, not shed (issue 22, item 4): after the edge's
rate window has emptied, 80 concurrent reads with one token (a page opening many views, a script)
drain in a fraction of a second, and the time bound (edge/upstream.py) must not take them for a
queue of many seconds. The bound still refuses a real stall (test_ops_upstreams, unit tests).

An extra edge of its own (no rate limit, the default 5 s budget), so nothing else has warmed or
loaded its per-method record; the idle moments are the scenario, not waits for an event."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from compose import Stack
from edge.upstream import RATE_WINDOW_S
from tests.support.processes import start_edge
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

USAGE = "/api/files/me/usage"


@pytest.fixture
def edge(stack: Stack, tmp_path: Path) -> Iterator[str]:
    process, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                              rate_limit_enabled="false")
    try:
        yield url
    finally:
        process.stop()


async def _burst(http: aiohttp.ClientSession, url: str, user: User, size: int) -> Counter[int]:
    async def one() -> int:
        async with http.get(url + USAGE, headers=user.auth) as r:
            await r.read()
            return r.status

    return Counter(await asyncio.gather(*(one() for _ in range(size))))


async def test_bursts_after_idle_moments_are_served(edge: str) -> None:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as http:
        user = await new_user(http, edge, "burst")
        for idle_s in (RATE_WINDOW_S + 1.5, 1.0, 0.3):
            async with http.get(edge + USAGE, headers=user.auth) as r:
                assert r.status == 200  # one call, then an idle moment, then the burst
            await asyncio.sleep(idle_s)
            for size in (80, 24):
                answers = await _burst(http, edge, user, size)
                assert answers == Counter({200: size}), (idle_s, size, answers)
