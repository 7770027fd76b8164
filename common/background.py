"""Periodic background jobs (the upload reaper, the files janitor and audit, the auth token
purge): one loop for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from common.logging import get_logger

log = get_logger(__name__)


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
