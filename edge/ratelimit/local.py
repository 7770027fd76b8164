"""In-process token buckets (the limiter's own store, and its fallback when Redis fails)."""

from __future__ import annotations

import time
from collections.abc import Callable

from common.logging import get_logger
from edge.ratelimit.spec import Bucket, Decision, Limit, decide

log = get_logger(__name__)


class LocalStore:
    """In-process buckets: key → [tokens, last refill]. All or nothing across the given buckets.

    Memory stays bounded: past `max_keys` keys, buckets that are full again (the same as absent)
    are dropped; if that is not enough, every bucket is forgotten (a reset, never a refusal).
    """

    def __init__(self, max_keys: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, list[float]] = {}
        self._limits: dict[str, Limit] = {}
        self._max_keys = max_keys
        self._clock = clock

    def __len__(self) -> int:
        return len(self._buckets)

    async def take(self, buckets: list[Bucket]) -> Decision:
        return self.take_now(buckets)

    def take_now(self, buckets: list[Bucket]) -> Decision:
        now = self._clock()
        states: list[list[float]] = []
        tokens: list[float] = []
        for key, limit in buckets:
            state = self._buckets.get(key)
            if state is None:
                if len(self._buckets) >= self._max_keys:
                    self._sweep(now)
                state = [float(limit.burst), now]
                self._buckets[key] = state
                self._limits[key] = limit
            level = min(float(limit.burst), state[0] + max(0.0, now - state[1]) * limit.rate_per_s)
            state[0], state[1] = level, now
            states.append(state)
            tokens.append(level)
        limits = [limit for _, limit in buckets]
        wait = max((1.0 - level) / limit.rate_per_s
                   for level, limit in zip(tokens, limits, strict=True))
        allowed = wait <= 0
        if allowed:
            for state in states:
                state[0] -= 1.0
            tokens = [level - 1.0 for level in tokens]
        return decide(limits, tokens, allowed, wait)

    def level(self, key: str, limit: Limit) -> float:
        """Tokens a bucket holds now (a bucket never seen is full)."""
        state = self._buckets.get(key)
        if state is None:
            return float(limit.burst)
        now = self._clock()
        return min(float(limit.burst), state[0] + max(0.0, now - state[1]) * limit.rate_per_s)

    def set_level(self, key: str, limit: Limit, level: float) -> None:
        """Replaces a bucket's level (the shared one, learned from Redis)."""
        self._buckets[key] = [min(float(limit.burst), level), self._clock()]
        self._limits[key] = limit

    def _sweep(self, now: float) -> None:
        full = [key for key, (level, at) in self._buckets.items()
                if level + (now - at) * self._limits[key].rate_per_s >= self._limits[key].burst]
        for key in full:
            del self._buckets[key]
            del self._limits[key]
        if len(self._buckets) >= self._max_keys:
            log.warning("rate_limit_local_reset", keys=len(self._buckets))
            self._buckets.clear()
            self._limits.clear()
