"""Typed application keys: what the edge creates once at start-up and closes at shutdown."""

from __future__ import annotations

from aiohttp import web

from common.tokens import TokenVerifier
from edge.config import EdgeSettings
from edge.upstreams import Upstreams

SETTINGS = web.AppKey("settings", EdgeSettings)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
VERIFIER = web.AppKey("verifier", TokenVerifier)

# Per-request values the middleware and routes share.
REQUEST_ID = web.RequestKey("request_id", str)
USER_ID = web.RequestKey("user_id", str)
