"""Request parsing helpers: JSON bodies with precise errors, typed fields, query integers."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from edge.errors import ApiError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def invalid(message: str, code: str = "INVALID_ARGUMENT") -> ApiError:
    return ApiError(400, code, message)


async def read_json(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object. Unknown fields are kept (and ignored by callers)."""
    if request.content_type != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body must be at most {max_bytes} bytes")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body must be at most {max_bytes} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("the body is not valid JSON", "INVALID_JSON") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object", "INVALID_JSON")
    return body


def string(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    return value


def integer(body: dict[str, Any], name: str, *, required: bool = True) -> int:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{name} is required")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{name} must be an integer")
    return value


def query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"query parameter {name} must be an integer") from None


def uuid_param(value: str | None, name: str) -> str:
    """A UUID from a path or query parameter: 400 when malformed."""
    if not value or not _UUID.match(value):
        raise invalid(f"{name} must be a UUID")
    return value.lower()
