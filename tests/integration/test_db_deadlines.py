"""Database waits are bounded (issue #10, fast honest unavailability): a `pooled` block past its
deadline fails as Unavailable at once, its connection is dropped, and the pool goes on serving."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from common.db import DatabaseSettings, open_pool, pooled
from common.errors import Unavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db_url(stack_deps: Any) -> str:
    return str(stack_deps.create_database(f"deadlines_{uuid.uuid4().hex[:10]}"))


async def test_a_block_past_its_deadline_is_unavailable_and_the_pool_recovers(db_url: str) -> None:
    pool = await open_pool(DatabaseSettings(url=db_url, pool_min=1, pool_max=1,
                                            call_timeout_s=0.5), "deadline-it")
    try:
        with pytest.raises(Unavailable, match="did not answer in time"):
            async with pooled(pool, "test") as conn:
                await conn.execute("SELECT pg_sleep(30)")
        # the one connection was dropped, not handed out again half-read
        async with pooled(pool, "test") as conn:
            row = await (await conn.execute("SELECT 41 + 1")).fetchone()
        assert row == (42,)
        deadline = time.monotonic() + 30  # the server notices the client left (checks every 2 s)
        while time.monotonic() < deadline:
            async with pooled(pool, "test") as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")
                if await cur.fetchone() == (0,):
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the abandoned statement still runs on the server")
    finally:
        await pool.close()


async def test_no_deadline_lets_long_work_finish(db_url: str) -> None:
    pool = await open_pool(DatabaseSettings(url=db_url, pool_min=1, pool_max=1,
                                            call_timeout_s=0), "deadline-off-it")
    try:
        async with pooled(pool, "test") as conn:
            await conn.execute("SELECT pg_sleep(0.3)")
    finally:
        await pool.close()
