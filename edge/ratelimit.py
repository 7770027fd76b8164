"""Rate limiting at the edge: token buckets per client address and per user, per route group.

    request ──► group (auth · upload · files · default; /health, /ready, /openapi.json exempt)
            ──► buckets: ip:<group>:<address>  and, with a valid access token, user:<group>:<id>
            ──► one atomic check of both (all or nothing) ──► 429 RATE_LIMITED + Retry-After

Limits come from `GOVAULT_RATE_<GROUP>_<IP|USER>` = `<n>/s` or `<n>/m`, optionally `:<burst>`
(`0` or `off` disables that bucket); `GOVAULT_RATE_LIMIT_ENABLED=false` turns the whole thing off.
The defaults let the seed's load test (1000 users behind ONE address, ~1500 req/s at peak) run
without a single 429: per-address budgets are high, per-user budgets moderate.

With `GOVAULT_REDIS_URL` several edge processes share one budget through Redis, in one of two
modes (`GOVAULT_RATE_REDIS_SYNC_MS`):
- synced (default, 100 ms): each edge decides from its in-process buckets at once, and every
  interval sends what it spent to Redis in ONE atomic Lua call, getting the shared levels back.
  A request costs ~10 µs instead of a Redis round trip (~100-250 µs of edge CPU measured here);
  edges can together overshoot a budget by what they spend within one interval.
- strict (`0`): every request is one atomic Lua token-bucket call (Redis's clock).
Each Redis call has a short timeout; when Redis fails the limiter logs it once, keeps deciding
from its in-process buckets, and tries Redis again a few seconds later. A limiter problem never
turns into a 500.

The user id is the verified one: the token verifier caches verified tokens, so checking here and
again in the handler costs one signature check per token, not two per request. An unverifiable
token gets no user bucket (the handler answers 401 anyway), so nobody can spend another user's
budget with a forged token.

Every answer of a limited group carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (the bucket closest to empty; reset = seconds until it is full again).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import Counter

from common.config import ConfigError, Env
from common.logging import get_logger
from common.tokens import TokenVerifier
from edge.errors import ApiError

log = get_logger(__name__)

GROUPS = ("auth", "upload", "files", "default")
SCOPES = ("ip", "user")
EXEMPT_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/openapi.yaml"})
_PREFIXES = (("/auth/", "auth"), ("/api/upload/", "upload"), ("/api/files/", "files"))

RATE_LIMITED = Counter(
    "govault_edge_rate_limited_total", "Requests refused by the edge rate limiter", ["group"]
)
for _group in GROUPS:  # every series exists from the start (dashboards, alerts see a 0)
    RATE_LIMITED.labels(_group)

# (group, scope) -> spec. Per address: high (the seed's load test comes from one address);
# per user: moderate (a load-test user makes ~4-6 requests per iteration).
DEFAULT_SPECS: dict[tuple[str, str], str] = {
    ("auth", "ip"): "1000/s:2000",
    ("auth", "user"): "20/s:40",
    ("upload", "ip"): "3000/s:6000",
    ("upload", "user"): "50/s:100",
    ("files", "ip"): "3000/s:6000",
    ("files", "user"): "50/s:100",
    ("default", "ip"): "1000/s:2000",
    ("default", "user"): "50/s:100",
}

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*(?::\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Limit:
    """A token bucket: refills `rate_per_s`, holds at most `burst` tokens; a request costs one."""

    rate_per_s: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """`20/s`, `20/s:40`, `600/m`, `600/m:100`; `0` or `off` → None (no limit)."""
        if text.strip().lower() in {"0", "off", "none", "unlimited"}:
            return None
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"rate limit {text!r} is not like '20/s', '20/s:40' or '600/m'")
        amount, unit, burst = float(match[1]), match[2], match[3]
        per_minute = unit.startswith("m")
        rate = amount / 60.0 if per_minute else amount
        if rate <= 0:
            return None
        default_burst = amount if per_minute else amount * 2
        size = int(burst) if burst is not None else max(1, math.ceil(default_burst))
        if size < 1:
            raise ValueError(f"rate limit {text!r}: burst must be at least 1")
        return cls(rate, size)

    def refill_s(self, tokens: float) -> float:
        """Seconds until a bucket holding `tokens` is full again."""
        return max(0.0, (self.burst - tokens) / self.rate_per_s)


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = True
    limits: Mapping[tuple[str, str], Limit | None] = field(default_factory=dict)
    redis_timeout_s: float = 0.25
    redis_retry_s: float = 5.0
    redis_sync_s: float = 0.1  # 0: strict, one Redis call per request
    max_local_keys: int = 200_000

    @classmethod
    def from_env(cls, env: Env | None = None) -> RateLimitSettings:
        env = env or Env()
        limits: dict[tuple[str, str], Limit | None] = {}
        for (group, scope), default in DEFAULT_SPECS.items():
            name = f"RATE_{group.upper()}_{scope.upper()}"
            spec = env.str(name, default)
            try:
                limits[(group, scope)] = Limit.parse(spec)
            except ValueError as exc:
                raise ConfigError(f"GOVAULT_{name}: {exc}") from None
        return cls(
            enabled=env.bool("RATE_LIMIT_ENABLED", True),
            limits=limits,
            redis_timeout_s=env.float("RATE_REDIS_TIMEOUT_S", 0.25),
            redis_retry_s=env.float("RATE_REDIS_RETRY_S", 5.0),
            redis_sync_s=env.float("RATE_REDIS_SYNC_MS", 100.0) / 1000.0,
        )

    @classmethod
    def disabled(cls) -> RateLimitSettings:
        return cls(enabled=False)


def route_group(path: str) -> str | None:
    """The group a path belongs to; None for the exempt operational routes."""
    if path in EXEMPT_PATHS:
        return None
    for prefix, group in _PREFIXES:
        if path.startswith(prefix):
            return group
    return "default"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # burst of the bucket closest to empty
    remaining: int  # whole tokens left in it
    reset_s: int  # seconds until it is full again
    retry_after_s: int  # when refused: seconds until every bucket has a token

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


Bucket = tuple[str, Limit]  # (key, limit)


def decide(limits: list[Limit], tokens: list[float], allowed: bool, wait_s: float) -> Decision:
    """Folds the buckets' states (after the check) into the headers' view of them."""
    index = min(range(len(limits)), key=lambda i: tokens[i] / limits[i].burst)
    limit = limits[index]
    return Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=max(0, math.floor(tokens[index])),
        reset_s=math.ceil(limit.refill_s(tokens[index])),
        retry_after_s=max(1, math.ceil(wait_s)),
    )


class Store(Protocol):
    async def take(self, buckets: list[Bucket]) -> Decision: ...


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


class RateLimiter:
    """Checks a request's buckets: Redis when configured and healthy, else in-process."""

    def __init__(
        self,
        settings: RateLimitSettings,
        verifier: TokenVerifier | None = None,
        *,
        trust_forwarded_for: bool = False,
        shared: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._verifier = verifier
        self._trust_forwarded_for = trust_forwarded_for
        self._local = LocalStore(settings.max_local_keys, clock)
        self._shared = shared
        self._clock = clock
        self._shared_down_until = 0.0

    @classmethod
    def create(
        cls,
        settings: RateLimitSettings,
        redis_url: str | None,
        verifier: TokenVerifier | None,
        trust_forwarded_for: bool = False,
    ) -> RateLimiter:
        limiter = cls(settings, verifier, trust_forwarded_for=trust_forwarded_for)
        mode = "in-process"
        if redis_url and settings.enabled:
            redis = RedisStore.from_url(redis_url, settings.redis_timeout_s)
            if settings.redis_sync_s > 0:
                limiter._shared = SyncedStore(redis, limiter._local, settings)
                mode = f"redis-synced-{settings.redis_sync_s * 1000:g}ms"
            else:
                limiter._shared = redis
                mode = "redis-strict"
        log.info("rate_limiter_ready", enabled=settings.enabled, store=mode)
        return limiter

    async def close(self) -> None:
        if isinstance(self._shared, RedisStore | SyncedStore):
            await self._shared.close()

    @property
    def using_shared(self) -> bool:
        if isinstance(self._shared, SyncedStore) and not self._shared.healthy:
            return False
        return self._shared is not None and self._clock() >= self._shared_down_until

    async def check(self, group: str, address: str, user_id: str | None) -> Decision | None:
        """The decision for one request of `group`, or None when no bucket applies."""
        buckets: list[Bucket] = []
        ip_limit = self.settings.limits.get((group, "ip"))
        if ip_limit is not None and address:
            buckets.append((f"ip:{group}:{address}", ip_limit))
        user_limit = self.settings.limits.get((group, "user"))
        if user_limit is not None and user_id:
            buckets.append((f"user:{group}:{user_id}", user_limit))
        if not buckets:
            return None
        if self._shared is not None and self._clock() >= self._shared_down_until:
            try:
                decision = await self._shared.take(buckets)
            except Exception as exc:  # Redis down, slow or confused: never a 500
                if not self._shared_down_until:  # once per outage, not once per request
                    log.warning("rate_limit_redis_unavailable", error=type(exc).__name__,
                                detail=str(exc)[:200], retry_in_s=self.settings.redis_retry_s)
                self._shared_down_until = self._clock() + self.settings.redis_retry_s
            else:
                if self._shared_down_until and self._clock() >= self._shared_down_until:
                    self._shared_down_until = 0.0  # a retry succeeded (not a late in-flight call)
                    log.info("rate_limit_redis_recovered")
                return decision
        return self._local.take_now(buckets)

    def client_address(self, request: web.Request) -> str:
        if self._trust_forwarded_for:
            first = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
            if first:
                return first
        return request.remote or ""

    async def verified_user(self, request: web.Request) -> str | None:
        """The user id of a valid bearer token (cached by the verifier), else None."""
        if self._verifier is None:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            identity = await self._verifier.verify(token)
        except Exception:  # invalid token (the handler answers 401) or auth unreachable
            return None
        return identity.user_id


LIMITER = web.AppKey("rate_limiter", RateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses over-budget requests with 429 RATE_LIMITED; adds RateLimit-* headers."""
    limiter = request.app.get(LIMITER)
    group = route_group(request.path)
    if limiter is None or group is None or not limiter.settings.enabled:
        return await handler(request)
    has_user_limit = limiter.settings.limits.get((group, "user")) is not None
    user_id = await limiter.verified_user(request) if has_user_limit else None
    decision = await limiter.check(group, limiter.client_address(request), user_id)
    if decision is None:
        return await handler(request)
    if not decision.allowed:
        RATE_LIMITED.labels(group).inc()
        raise ApiError(429, "RATE_LIMITED", "too many requests, slow down and retry later",
                       decision.headers())
    try:
        response = await handler(request)
    except ApiError as exc:
        for name, value in decision.headers().items():
            exc.headers.setdefault(name, value)
        raise
    if not response.prepared:
        response.headers.update(decision.headers())
    return response
