"""Builds the aiohttp application: middleware, routes per area, and the resources created once
at start-up (gRPC channels, token verifier) and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from common.logging import get_logger
from common.loop import watch_loop_lag
from common.tokens import TokenVerifier, auth_key_loader
from edge import middleware
from edge.config import EdgeSettings
from edge.keys import DRAINING, SETTINGS, VERIFIER
from edge.ratelimit import middleware as ratelimit
from edge.routes import ROUTE_MODULES
from edge.streaming import STREAM_SLOTS, StreamSlots
from edge.upstream import UPSTREAMS, Upstreams

log = get_logger(__name__)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    upstreams = Upstreams.connect(app[SETTINGS])
    app[UPSTREAMS] = upstreams
    app[VERIFIER] = TokenVerifier(auth_key_loader(upstreams.auth))
    settings = app[SETTINGS]
    limiter = ratelimit.RateLimiter.create(settings.rate_limit, settings.redis_url)
    app[ratelimit.LIMITER] = limiter
    lag = asyncio.create_task(watch_loop_lag("edge"), name="loop-lag")
    yield
    lag.cancel()
    await limiter.close()
    await upstreams.close()


def build_app(settings: EdgeSettings) -> web.Application:
    # client_max_size bounds bodies read whole; chunk uploads stream and are bounded by the
    # upload service's chunk size (and max_chunk_bytes) instead.
    app = web.Application(
        middlewares=[middleware.observe, middleware.cors_preflight, ratelimit.limit],
        client_max_size=settings.max_json_bytes,
    )
    app[SETTINGS] = settings
    app[DRAINING] = asyncio.Event()
    app.on_response_prepare.append(middleware.drop_server_header)
    app.on_response_prepare.append(middleware.close_while_draining)
    app[STREAM_SLOTS] = StreamSlots(settings.max_streams_per_user)
    app.cleanup_ctx.append(_resources)
    for module in ROUTE_MODULES:
        module.setup_routes(app)
    return app
