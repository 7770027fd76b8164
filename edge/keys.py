"""Typed application and request keys: what the edge creates once at start-up, and the
per-request values the middleware and routes share. The upstream channels' key lives beside
them in edge.upstream (`UPSTREAMS`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from common.tokens import Identity, TokenVerifier
from edge.config import EdgeSettings

SETTINGS = web.AppKey("settings", EdgeSettings)
VERIFIER = web.AppKey("verifier", TokenVerifier)
# set when the edge starts to stop (edge.server): answers close their connection, /ready is 503
DRAINING = web.AppKey("draining", asyncio.Event)

REQUEST_ID = web.RequestKey("request_id", str)
USER_ID = web.RequestKey("user_id", str)
# the verified identity of the bearer token, once verified (by the rate limiter or a handler)
IDENTITY = web.RequestKey("identity", Identity)
