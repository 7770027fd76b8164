"""Periodic background jobs (the upload reaper, the files janitor and audit, the auth token
purge): one loop for all of them, and one leader per job and pass when a service runs as
several replicas.

    task = start(interval_s, "reaper", led(pool, "upload.reaper", reaper.run_once))

`led` runs a pass only on the replica that takes the job's PostgreSQL advisory lock (a
session-level `pg_try_advisory_lock` on a pooled connection, held for the pass and released
after it); the other replicas skip that pass. A replica killed mid-pass loses its connection and
with it the lock: the next pass of another replica takes over. The lock is per database, i.e.
per service, and each job has its own, so the reaper and the janitor never wait for each other.
`govault_background_passes_total{job, outcome}` counts, per replica, the passes it ran (`ran`)
and those it left to another replica (`skipped`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool

from common.db import checked_connection
from common.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

PASSES = Counter("govault_background_passes_total",
                 "Passes of a background job on this replica: ran (it held the job's lock) or "
                 "skipped (another replica held it)", ["job", "outcome"])


def lock_key(job: str) -> int:
    """The advisory lock id (a signed 64-bit integer) of a job name."""
    return int.from_bytes(hashlib.blake2b(job.encode(), digest_size=8).digest(), "big",
                          signed=True)


@asynccontextmanager
async def leading(pool: AsyncConnectionPool, job: str, *, wait: bool = False
                  ) -> AsyncIterator[bool]:
    """Yields True while this process holds `job`'s lock, False when another session holds it
    (with `wait`, waits for it instead: an operator's one-off pass runs after the current one).
    A connection whose unlock did not go through is closed, never returned to the pool with the
    lock still held."""
    key = lock_key(job)
    async with checked_connection(pool) as conn:
        if wait:
            await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            acquired = True
        else:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cur.fetchone()
            acquired = bool(row and row[0])
        if not acquired:
            yield False
            return
        try:
            yield True
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except BaseException:
                await conn.close()
                raise


def led(pool: AsyncConnectionPool, job: str, run: Callable[[], Awaitable[T]], *,
        wait: bool = False) -> Callable[[], Awaitable[T | None]]:
    """`run` as a job only the lock holder runs: its result, or None when another replica holds
    the lock (the pass is skipped)."""
    async def once() -> T | None:
        async with leading(pool, job, wait=wait) as leader:
            if not leader:
                PASSES.labels(job, "skipped").inc()
                log.debug("job_skipped_another_replica_runs_it", job=job)
                return None
            PASSES.labels(job, "ran").inc()
            return await run()
    return once


async def every(interval_s: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
    """Runs `job()` every `interval_s` until cancelled; a failing run is logged (`<name>_failed`,
    with its traceback) and the next one runs on time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(f"{name}_failed")


def start(interval_s: float, name: str, job: Callable[[], Awaitable[object]]
          ) -> asyncio.Task[None] | None:
    """`every(...)` as a task, or None when `interval_s` is 0 (the job is turned off)."""
    if interval_s <= 0:
        return None
    return asyncio.create_task(every(interval_s, name, job), name=name)


async def stop(tasks: list[asyncio.Task[None] | None]) -> None:
    """Cancels the started jobs and waits for them to end."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
