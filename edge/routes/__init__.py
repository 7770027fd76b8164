"""One module per area: handlers only, each module with `setup_routes(app)` registering its
handlers at the paths of their `edge.api` operations."""

from __future__ import annotations

from types import ModuleType

from edge.routes import auth, files, ops, tus, uploads, web

# The REST API (described in /openapi.json), then the web page served next to it.
API_MODULES: tuple[ModuleType, ...] = (ops, auth, uploads, tus, files)
ROUTE_MODULES: tuple[ModuleType, ...] = (*API_MODULES, web)
