"""The OpenAPI 3 document, assembled from each route module's `OPENAPI_PATHS`."""

from __future__ import annotations

from functools import cache
from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "code", "request_id"],
    "properties": {
        "error": {"type": "string", "description": "human-readable message"},
        "code": {"type": "string", "description": "stable error code"},
        "request_id": {"type": "string"},
    },
}


def error(description: str) -> dict[str, Any]:
    """A response entry using the standard error body."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def json_ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"description": description}
    if schema is not None:
        entry["content"] = {"application/json": {"schema": schema}}
    return entry


@cache
def document() -> dict[str, Any]:
    from edge.routes import ROUTE_MODULES

    paths: dict[str, Any] = {}
    for module in ROUTE_MODULES:
        for path, operations in module.OPENAPI_PATHS.items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "GoVault",
            "version": "1.0.0",
            "description": "Self-hostable file storage. Errors share one body: "
            "{error, code, request_id}.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
        },
    }
