"""Routes for the files area (to be filled in)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI_PATHS: dict[str, Any] = {}


def setup_routes(app: web.Application) -> None:
    return None
