"""Expired refresh tokens are purged in batches, and a failing pass does not stop the loop."""

from __future__ import annotations

import asyncio

import pytest

from common.background import every
from svc_auth.housekeeping import purge_once


class FakeStore:
    def __init__(self, expired: int, fail_first: bool = False) -> None:
        self.expired = expired
        self.fail_first = fail_first
        self.calls = 0

    async def delete_expired_tokens(self, limit: int = 10_000) -> int:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise ConnectionError("database unavailable")
        deleted = min(limit, self.expired)
        self.expired -= deleted
        return deleted


async def test_purge_once_empties_in_batches() -> None:
    store = FakeStore(expired=25)
    assert await purge_once(store, batch=10) == 25
    assert store.expired == 0
    assert store.calls == 3  # 10, 10, 5 (< batch: done)


async def test_purge_forever_survives_a_failed_pass() -> None:
    store = FakeStore(expired=3, fail_first=True)
    task = asyncio.create_task(every(0.01, "token_purge", lambda: purge_once(store)))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if store.expired == 0:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.expired == 0
