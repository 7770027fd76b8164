"""Typed application and request keys: what the edge creates once at start-up and closes at
shutdown, and the per-request values the middleware and routes share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from common.tokens import Identity, TokenVerifier
from edge.config import EdgeSettings

if TYPE_CHECKING:
    from edge.upstream import Upstreams

SETTINGS = web.AppKey("settings", EdgeSettings)
UPSTREAMS: web.AppKey[Upstreams] = web.AppKey("upstreams")
VERIFIER = web.AppKey("verifier", TokenVerifier)

REQUEST_ID = web.RequestKey("request_id", str)
USER_ID = web.RequestKey("user_id", str)
# the verified identity of the bearer token, once verified (by the rate limiter or a handler)
IDENTITY = web.RequestKey("identity", Identity)
