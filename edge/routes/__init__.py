"""One module per area, each with `setup_routes(app)` and its `OPENAPI_PATHS`."""

from __future__ import annotations

from types import ModuleType

from edge.routes import auth, files, ops, uploads, web

ROUTE_MODULES: tuple[ModuleType, ...] = (ops, auth, uploads, files, web)
