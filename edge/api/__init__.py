"""The public API's description: request/response models per area (msgspec Structs that also
validate request bodies) and one `Operation` per route, from which `/openapi.json` is built.

Owns: field types and ranges, required fields, documented statuses. Must not: call services or
shape responses (the route modules do), or import aiohttp.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import msgspec

from edge.api import auth, files, ops, tus, uploads
from edge.api.base import Model, Operation

OPERATIONS: tuple[Operation, ...] = (*ops.OPERATIONS, *auth.OPERATIONS, *uploads.OPERATIONS,
                                     *tus.OPERATIONS, *files.OPERATIONS)
_REF = "#/components/schemas/{name}"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "code", "request_id"],
    "properties": {
        "error": {"type": "string", "description": "human-readable message"},
        "code": {"type": "string", "description": "stable error code"},
        "request_id": {"type": "string"},
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "integer"}}}
_RETRYABLE = frozenset({429, 503})


def _error(description: str, status: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}},
    }
    if status in _RETRYABLE:
        entry["headers"] = _RETRY_AFTER
    return entry


def _errors(op: Operation) -> dict[int, str]:
    """Every error status the operation can answer: its own, plus those of its kind."""
    errors: dict[int, str] = {}
    if op.body is not None or op.raw_body or op.params:
        errors[400] = "invalid input (INVALID_ARGUMENT, INVALID_JSON or a specific code)"
    if op.body is not None or op.raw_body:
        errors[408] = ("the body stopped arriving, or arrived slower than the minimum rate "
                       "(REQUEST_TIMEOUT); the connection is closed")
    if op.body is not None:
        errors[413] = "the body is too large (PAYLOAD_TOO_LARGE)"
        errors[415] = "the body is not application/json (UNSUPPORTED_MEDIA_TYPE)"
    if op.auth != "none":
        errors[401] = "missing, invalid or expired access token"
    if op.path not in {"/health", "/ready", "/openapi.json"}:
        errors[429] = "rate limited (RATE_LIMITED); see Retry-After"
    if op.upstream:
        errors[503] = "a backend is unavailable or saturated (UNAVAILABLE, OVERLOADED); retry"
        errors[504] = "a backend did not answer in time (TIMEOUT)"
    errors.update(op.errors)
    return errors


def _schema_ref(model: type[Model]) -> dict[str, str]:
    return {"$ref": _REF.format(name=model.__name__)}


def _operation(op: Operation) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": op.summary}
    if op.ok is not None:
        schema: dict[str, Any] = _schema_ref(op.ok)
        if op.ok_list:
            schema = {"type": "array", "items": schema}
        ok["content"] = {"application/json": {"schema": schema}}
    responses: dict[str, Any] = {str(op.ok_status): ok}
    for status, description in sorted(_errors(op).items()):
        responses[str(status)] = _error(description, status)
    entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "responses": responses}
    entry["security"] = {"required": [{"bearer": []}], "optional": [{"bearer": []}, {}],
                         "none": []}[op.auth]
    if op.params:
        entry["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required, "schema": dict(p.schema),
             **({"description": p.description} if p.description else {}),
             **({"allowEmptyValue": True} if p.allow_empty else {})}
            for p in op.params]
    if op.body is not None:
        entry["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": _schema_ref(op.body)}}}
    elif op.raw_body:
        entry["requestBody"] = {"required": op.body_required, "content": {op.raw_media_type: {
            "schema": {"type": "string", "format": "binary"}}}}
    return entry


def _models(operations: Iterable[Operation]) -> list[type[Model]]:
    models = {m for op in operations for m in (op.body, op.ok) if m is not None}
    return sorted(models, key=lambda m: m.__name__)


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation (3.1: its schemas are JSON Schema 2020-12,
    which is what msgspec generates)."""
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    _, components = msgspec.json.schema_components(_models(OPERATIONS), ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GoVault",
            "version": "1.0.0",
            "description": "Self-hostable file storage. Errors share one body: "
            "{error, code, request_id}.",
        },
        "paths": paths,
        "components": {
            "schemas": {**components, "Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
        },
    }
