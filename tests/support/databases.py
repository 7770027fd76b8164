"""A test's own PostgreSQL database on the session's `stack_deps`, and a small pool on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool

from common.db import DatabaseSettings, open_pool


def fresh_database(stack_deps: Any, prefix: str) -> str:
    """The URL of a new, empty database named `<prefix>_<random>`."""
    return str(stack_deps.create_database(f"{prefix}_{uuid.uuid4().hex[:10]}"))


@asynccontextmanager
async def small_pool(url: str, name: str, size: int = 4,
                     timeout_s: float = 2.0) -> AsyncIterator[AsyncConnectionPool]:
    """A pool of at most `size` connections that waits `timeout_s` for one, closed on exit."""
    pool = await open_pool(DatabaseSettings(url=url, pool_min=1, pool_max=size,
                                            pool_timeout_s=timeout_s), name)
    try:
        yield pool
    finally:
        await pool.close()
