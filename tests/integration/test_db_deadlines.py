"""Database waits are bounded (issue #10, fast honest unavailability): a `pooled` block past its
deadline fails as Unavailable at once, its connection is dropped, and the pool goes on serving."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest

from common.db import DatabaseSettings, open_pool, pooled, stale
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


async def test_connections_the_server_closed_are_skipped_not_answered_503(db_url: str) -> None:
    """Issue 22, item 8: after PostgreSQL restarts (here: every pooled backend terminated, as a
    restart does), each idle pooled connection cost its next caller a 503, even minutes later.
    Handed out, a connection whose socket the server closed is dropped and another taken."""
    pool = await open_pool(DatabaseSettings(url=db_url, pool_min=3, pool_max=3), "stale-it")
    try:
        pids = set()
        async with pooled(pool, "test") as c1, pooled(pool, "test") as c2, \
                pooled(pool, "test") as c3:
            for conn in (c1, c2, c3):
                pids.add(conn.pgconn.backend_pid)
        assert len(pids) == 3
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid",
                                (list(pids),))
            for _ in range(100):  # the backends exit (and their sockets close) shortly after
                cur = await admin.execute("SELECT count(*) FROM pg_stat_activity"
                                          " WHERE pid = ANY(%s)", (list(pids),))
                if await cur.fetchone() == (0,):
                    break
                await asyncio.sleep(0.05)
        for _ in range(6):  # every call succeeds the first time
            async with pooled(pool, "test") as conn:
                row = await (await conn.execute("SELECT 41 + 1")).fetchone()
                assert row == (42,) and conn.pgconn.backend_pid not in pids
    finally:
        await pool.close()


async def test_a_healthy_idle_connection_is_not_taken_for_stale(db_url: str) -> None:
    pool = await open_pool(DatabaseSettings(url=db_url, pool_min=1, pool_max=1), "fresh-it")
    try:
        async with pooled(pool, "test") as conn:
            pid = conn.pgconn.backend_pid
            assert not stale(conn)
        await asyncio.sleep(0.2)
        async with pooled(pool, "test") as conn:
            assert conn.pgconn.backend_pid == pid  # the same connection, reused
    finally:
        await pool.close()
