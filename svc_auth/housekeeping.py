"""Background housekeeping for the auth service: purging refresh tokens past their expiry.

Expired tokens can never be used again (refresh rejects them), so keeping them only grows the
table; reuse detection needs rotated tokens only while they could still be presented.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from common.logging import get_logger

log = get_logger(__name__)


class ExpiredTokenStore(Protocol):
    async def delete_expired_tokens(self, limit: int = ...) -> int: ...


async def purge_once(store: ExpiredTokenStore, batch: int = 10_000) -> int:
    """Deletes expired tokens in batches until none are left; returns how many went."""
    total = 0
    while True:
        deleted = await store.delete_expired_tokens(batch)
        total += deleted
        if deleted < batch:
            return total


async def purge_forever(store: ExpiredTokenStore, interval_s: float) -> None:
    """Runs `purge_once` every `interval_s`; a failed pass is logged and retried next time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            deleted = await purge_once(store)
        except Exception:
            log.exception("refresh_token_purge_failed")
            continue
        if deleted:
            log.info("refresh_tokens_purged", deleted=deleted)
