"""The shared store: token buckets in Redis (one Lua script), strict (a Redis call per check) or
synced (local decisions, spending sent to Redis every interval)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from common.logging import get_logger
from edge.ratelimit.local import LocalStore
from edge.ratelimit.spec import Bucket, Decision, Limit, RateLimitSettings, decide

log = get_logger(__name__)


# One script for both modes. KEYS: bucket keys. ARGV[1]: "take" or "sync"; then per key: rate,
# burst, spent (what an edge spent locally since its last sync; a debt may go down to -burst).
# "take" then spends one token from every bucket if each has one (all or nothing).
# Returns {allowed, wait_s, level_1, level_2, ...}, numbers as strings (Lua → Redis truncates).
BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local take = ARGV[1] == 'take'
local n = #KEYS
local levels = {}
local wait = 0
for i = 1, n do
  local rate = tonumber(ARGV[3 * i - 1])
  local burst = tonumber(ARGV[3 * i])
  local spent = tonumber(ARGV[3 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = tonumber(state[1])
  local ts = tonumber(state[2])
  if level == nil or ts == nil then
    level = burst
    ts = now
  end
  level = math.min(burst, level + math.max(0, now - ts) * rate)
  level = math.max(-burst, level - spent)
  levels[i] = level
  if take and level < 1 then
    wait = math.max(wait, (1 - level) / rate)
  end
end
local allowed = 0
if take and wait <= 0 then allowed = 1 end
local out = {tostring(allowed), tostring(wait)}
for i = 1, n do
  local rate = tonumber(ARGV[3 * i - 1])
  local burst = tonumber(ARGV[3 * i])
  local level = levels[i]
  if allowed == 1 then level = level - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - level) / rate * 1000) + 1000)
  out[i + 2] = tostring(level)
end
return out
"""

KEY_PREFIX = "govault:rl:"
# Synced mode decides locally while every bucket holds at least this share of its burst; below
# it, the decision is taken by Redis (so edges never jointly overshoot a nearly spent budget).
LOCAL_SHARE = 0.5


def redis_client(url: str, timeout_s: float, max_connections: int = 32) -> Any:
    """redis.asyncio client whose pool waits (up to the timeout) instead of failing when busy."""
    import redis.asyncio as aioredis

    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class RedisStore:
    """Strict mode: every check is one atomic Lua call, shared by every edge pointed at Redis."""

    def __init__(self, client: Any, timeout_s: float) -> None:
        self._client = client
        self._script = client.register_script(BUCKET_LUA)
        self._timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisStore:
        return cls(redis_client(url, timeout_s), timeout_s)

    async def call(self, mode: str, buckets: list[tuple[str, Limit, int]]) -> list[float]:
        """[allowed, wait_s, level...] for (key, limit, spent) buckets."""
        args: list[Any] = [mode]
        for _, limit, spent in buckets:
            args += [limit.rate_per_s, limit.burst, spent]
        async with asyncio.timeout(self._timeout_s):
            reply = await self._script(keys=[KEY_PREFIX + key for key, _, _ in buckets],
                                       args=args)
        return [_num(value) for value in reply]

    async def take(self, buckets: list[Bucket]) -> Decision:
        reply = await self.call("take", [(key, limit, 0) for key, limit in buckets])
        return decide([limit for _, limit in buckets], reply[2:], reply[0] == 1, reply[1])

    async def close(self) -> None:
        await self._client.aclose()


class SyncedStore:
    """Synced mode: while every bucket is well above empty, decide from the in-process buckets
    and send what was spent to Redis once per interval (one Lua call), adopting the shared levels
    that come back. Near empty, ask Redis (strict) for that decision, folding in what was spent
    locally. Errors propagate to the limiter, which then uses the local buckets alone."""

    def __init__(self, redis: RedisStore, local: LocalStore, settings: RateLimitSettings) -> None:
        self._redis = redis
        self._local = local
        self._interval_s = settings.redis_sync_s
        self._retry_s = settings.redis_retry_s
        self._spent: dict[str, list[Any]] = {}  # key -> [count, limit]
        self._task: asyncio.Task[None] | None = None
        self.healthy = True

    async def take(self, buckets: list[Bucket]) -> Decision:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if all(self._local.level(key, limit) >= max(1.0, limit.burst * LOCAL_SHARE)
               for key, limit in buckets):
            decision = self._local.take_now(buckets)
            if decision.allowed:
                for key, limit in buckets:
                    entry = self._spent.get(key)
                    if entry is None:
                        self._spent[key] = [1, limit]
                    else:
                        entry[0] += 1
            return decision
        spent = [(key, limit, self._spent.pop(key, [0])[0]) for key, limit in buckets]
        try:
            reply = await self._redis.call("take", spent)
        except BaseException:
            for key, limit, count in spent:  # keep them for the next sync
                if count:
                    self._spent.setdefault(key, [0, limit])[0] += count
            raise
        for (key, limit, _), level in zip(spent, reply[2:], strict=True):
            self._local.set_level(key, limit, level - self._spent.get(key, [0])[0])
        return decide([limit for _, limit in buckets], reply[2:], reply[0] == 1, reply[1])

    async def sync(self) -> None:
        """Sends what was spent since the last sync; adopts the shared levels."""
        if not self._spent:
            return
        batch, self._spent = self._spent, {}
        keys = list(batch)
        reply = await self._redis.call(
            "sync", [(key, limit, count) for key, (count, limit) in batch.items()])
        for key, level in zip(keys, reply[2:], strict=True):
            spent_since = self._spent.get(key, [0])[0]  # spent while the call was in flight
            self._local.set_level(key, batch[key][1], level - spent_since)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or slow: local buckets keep deciding
                self._spent.clear()
                if self.healthy:
                    self.healthy = False
                    log.warning("rate_limit_redis_unavailable", error=type(exc).__name__,
                                detail=str(exc)[:200], retry_in_s=self._retry_s)
                await asyncio.sleep(self._retry_s)
            else:
                if not self.healthy:
                    self.healthy = True
                    log.info("rate_limit_redis_recovered")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.close()


def _num(value: Any) -> float:
    return float(value.decode() if isinstance(value, bytes) else value)
