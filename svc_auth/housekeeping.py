"""Background housekeeping for the auth service: purging refresh tokens past their expiry.

Expired tokens can never be used again (refresh rejects them), so keeping them only grows the
table; reuse detection needs rotated tokens only while they could still be presented.
"""

from __future__ import annotations

from common.logging import get_logger
from svc_auth.seams import ExpiredTokens

log = get_logger(__name__)


async def purge_once(store: ExpiredTokens, batch: int = 10_000) -> int:
    """Deletes expired tokens in batches until none are left; returns how many went. Run every
    `GOVAULT_TOKEN_PURGE_INTERVAL_S` by `common.background.every` (wired in __main__.py)."""
    total = 0
    while True:
        deleted = await store.delete_expired_tokens(batch)
        total += deleted
        if deleted < batch:
            if total:
                log.info("refresh_tokens_purged", deleted=total)
            return total
