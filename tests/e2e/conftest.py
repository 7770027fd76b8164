"""Fixtures for tests that drive the stack over HTTP: `edge_url` and `http`, a client session
per test whose requests are bounded by `http_timeout_s` (a module that moves more bytes overrides
that fixture, not the session)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture(scope="session")
def edge_url(request: pytest.FixtureRequest) -> str:
    """The session stack's edge, or GOVAULT_E2E_URL (an already running stack)."""
    url = os.environ.get("GOVAULT_E2E_URL")
    if url:
        return url.rstrip("/")
    return str(request.getfixturevalue("stack").edge_url)


@pytest.fixture
def http_timeout_s() -> float:
    """The total bound of one request made with `http`."""
    return 60.0


@pytest.fixture
async def http(http_timeout_s: float) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=http_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session
