"""Fixtures for tests that drive the stack over HTTP (modules may define their own)."""

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
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
