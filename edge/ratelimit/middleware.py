"""The limiter (Redis when configured and healthy, else in-process) and the aiohttp middleware
that answers 429 RATE_LIMITED and adds RateLimit-* headers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter

from common.logging import get_logger
from edge.auth import verify
from edge.errors import ApiError
from edge.ratelimit.local import LocalStore
from edge.ratelimit.redis import RedisStore, SyncedStore
from edge.ratelimit.spec import GROUPS, Bucket, Decision, RateLimitSettings, Store, route_group
from edge.request import caller

log = get_logger(__name__)

RATE_LIMITED = Counter(
    "govault_edge_rate_limited_total", "Requests refused by the edge rate limiter", ["group"]
)
for _group in GROUPS:  # every series exists from the start (dashboards, alerts see a 0)
    RATE_LIMITED.labels(_group)

class RateLimiter:
    """Checks a request's buckets: Redis when configured and healthy, else in-process."""

    def __init__(
        self,
        settings: RateLimitSettings,
        *,
        shared: Store | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._local = LocalStore(settings.max_local_keys, clock)
        self._shared = shared
        self._clock = clock
        self._shared_down_until = 0.0

    @classmethod
    def create(
        cls,
        settings: RateLimitSettings,
        redis_url: str | None,
    ) -> RateLimiter:
        limiter = cls(settings)
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

    @staticmethod
    async def verified_user(request: web.Request) -> str | None:
        """The user id of a valid bearer token (kept on the request for the handler), else
        None."""
        token = caller(request).token
        if token is None:
            return None
        try:
            identity = await verify(request, token)
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
    decision = await limiter.check(group, caller(request).address, user_id)
    if decision is None:
        return await handler(request)
    if not decision.allowed:
        RATE_LIMITED.labels(group).inc()
        raise ApiError("RATE_LIMITED", "too many requests, slow down and retry later",
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
