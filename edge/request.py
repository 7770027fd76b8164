"""Reading a request: the caller (bearer token and client address, parsed once per request and
kept on it), JSON bodies decoded and validated into the API's models, query integers and UUID
parameters. Every malformed input is a 400 with a precise message, never a 500."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import msgspec
from aiohttp import web

from edge.api.base import UUID_PATTERN, Model, Param
from edge.body import body
from edge.errors import ApiError
from edge.keys import SETTINGS

M = TypeVar("M", bound=Model)
_UUID = re.compile(UUID_PATTERN)
_REGEX = re.compile(r"matching regex '.*'(?= - at )")  # the pattern itself helps no one
_DIGITS = re.compile(r"^[0-9]{1,19}$")  # ASCII only: str.isdigit() also accepts "²"


@dataclass(frozen=True, slots=True)
class Caller:
    """What the request says about who sends it: the bearer token (None when absent), whether
    the Authorization header was malformed, and the client address."""

    token: str | None
    malformed: bool
    address: str


CALLER = web.RequestKey("caller", Caller)


def caller(request: web.Request) -> Caller:
    """The request's caller, parsed on first use and reused by the limiter and the handler."""
    if CALLER in request:
        return request[CALLER]
    token: str | None = None
    malformed = False
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, rest = header.partition(" ")
        rest = rest.strip()
        if scheme.lower() == "bearer" and rest and rest.isascii():  # a JWT is ASCII
            token = rest
        else:
            malformed = True
    address = request.remote or ""
    settings = request.app.get(SETTINGS)
    if settings is not None and settings.trust_forwarded_for:
        first = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        address = first or address
    found = Caller(token, malformed, address)
    request[CALLER] = found
    return found


def invalid(message: str, code: str = "INVALID_ARGUMENT") -> ApiError:
    return ApiError(code, message)


@cache
def _decoder(model: type[M]) -> msgspec.json.Decoder[M]:
    return msgspec.json.Decoder(model)


async def read_body(request: web.Request, at_least: int = 0) -> bytes:
    """The whole JSON body (however many reads it arrives in), bounded by max_json_bytes (or
    `at_least`, a route whose lists need more) and read at the minimum rate (`edge.body`)."""
    max_bytes = max(request.app[SETTINGS].max_json_bytes, at_least)
    if request.content_type != "application/json":
        raise ApiError("UNSUPPORTED_MEDIA_TYPE", "the body must be application/json")
    too_large = ApiError("PAYLOAD_TOO_LARGE", f"the body must be at most {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    parts: list[bytes] = []
    size = 0
    reader = body(request)
    while data := await reader.read(max_bytes + 1 - size):
        parts.append(data)
        size += len(data)
        if size > max_bytes:
            raise too_large
    return b"".join(parts)


def decode(raw: bytes, model: type[M]) -> M:
    """`raw` as `model`: INVALID_JSON when it is not a JSON object (or not UTF-8, which JSON
    must be: RFC 8259 §8.1), INVALID_ARGUMENT when a field is missing, mistyped or out of
    range. Unknown fields are ignored."""
    try:
        if not raw.isascii():
            raw.decode()  # JSON is UTF-8 throughout, in the fields a model ignores too
        decoded: M = _decoder(model).decode(raw)
    except msgspec.ValidationError:
        # The decoder validates as it parses: make sure the JSON itself was well formed.
        plain = _plain_json(raw)
        if not isinstance(plain, dict):
            raise invalid("the body must be a JSON object", "INVALID_JSON") from None
        try:
            # JSON has one number type: 143.0 is the integer 143 (as JSON Schema counts it).
            return msgspec.convert({k: _integral(v) for k, v in plain.items()}, model)
        except msgspec.ValidationError as lax:  # its reason: the strict one may be a 143.0
            raise invalid(_REGEX.sub("in the format /openapi.json describes", str(lax))) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise _not_json() from None
    return decoded


_MODEL_DEPTH = 4  # the deepest integer of a request model: a field of an object in a list


def _integral(value: object, depth: int = 0) -> object:
    """A whole-number float as an int, in a field, a list's items or the fields of a listed
    object (where the models have integers; deeper nesting is left as it is, no model has
    any); anything else unchanged, for the model to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if depth >= _MODEL_DEPTH:
        return value
    if isinstance(value, list):
        return [_integral(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v, depth + 1) for k, v in value.items()}
    return value


def _not_json() -> ApiError:
    return invalid("the body is not valid JSON", "INVALID_JSON")


def _plain_json(raw: bytes) -> object:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # malformed, a lone surrogate, bytes that are not UTF-8 inside a string (msgspec raises
        # UnicodeDecodeError for those), or nested beyond what the decoder follows
        raise _not_json() from None


async def read_model(request: web.Request, model: type[M], at_least: int = 0) -> M:
    return decode(await read_body(request, at_least), model)


def query_int(request: web.Request, param: Param, default: int, *,
              code: str = "INVALID_ARGUMENT") -> int:
    """An integer query parameter of ASCII digits within the minimum and maximum its description
    declares, or `default` when absent (or empty, where the description allows an empty value)."""
    name = param.name
    minimum: int = param.schema["minimum"]
    maximum: int = param.schema["maximum"]
    raw = query_value(request, name, code)
    if raw is None or (raw == "" and param.allow_empty):
        return default
    if not _DIGITS.match(raw) or not minimum <= int(raw) <= maximum:
        raise invalid(f"query parameter {name} must be an integer from {minimum} to {maximum}",
                      code)
    return int(raw)


def query_value(request: web.Request, name: str, code: str = "INVALID_ARGUMENT") -> str | None:
    """The query parameter `name`, None when absent; given twice it is a 400 (which one counts
    would be a guess, as with two Authorization headers)."""
    values = request.query.getall(name, ())
    if len(values) > 1:
        raise invalid(f"query parameter {name} must be given once", code)
    return values[0] if values else None


def uuid_param(value: str | None, name: str) -> str:
    """A UUID from a path, query or header parameter: 400 when malformed."""
    if not value or not _UUID.match(value):
        raise invalid(f"{name} must be a UUID")
    return value.lower()
