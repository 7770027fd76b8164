"""Edge middleware: request id, one JSON log line and metrics per request (labelled by route
template), security headers (and no `Server` header naming the software and its version), CORS,
the error body for everything that goes wrong, and the framing a request must not be ambiguous
about: one Authorization (Content-Type, Content-Length, Upload-UUID, Checksum) header, no transfer
coding but chunked, no content coding (a body is stored as sent, never decompressed here), no
byte above ASCII in a header the API defines. A client that hung up mid-body is logged and
counted with status 499 (CLIENT_CLOSED, `edge.body`), not as a server error."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram

from common.logging import get_logger
from common.metrics import LATENCY_BUCKETS
from edge.body import CLOSE_CODES
from edge.errors import ApiError, error_response
from edge.keys import DRAINING, REQUEST_ID, SETTINGS, USER_ID

log = get_logger("edge.http")

REQUESTS = Counter("govault_http_requests_total", "HTTP requests", ["route", "method", "status"])
DURATION = Histogram(
    "govault_http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("govault_http_requests_in_flight", "HTTP requests in progress")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# Headers a request may carry once: with two, which one counts would be a guess (RFC 9110 §5.3),
# and a proxy in front may have judged the other one.
SINGLE_HEADERS = ("Authorization", "Content-Type", "Content-Length", "Upload-UUID", "Checksum",
                  "Upload-Offset", "Upload-Length", "Upload-Checksum")
# Headers the API gives a meaning to, whose every valid value is ASCII (a byte above 0x7f reaches a
# handler as a lone surrogate, which encoding or base64-decoding raises on). Authorization is
# judged with the token (`edge.request.caller`: 401 INVALID_TOKEN).
ASCII_HEADERS = ("Upload-UUID", "Checksum", "Upload-Offset", "Upload-Length", "Upload-Checksum",
                 "Upload-Metadata", "Upload-Defer-Length", "Tus-Resumable")
CORS_METHODS = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
# tus 1.0 (edge/routes/tus.py): what its clients send, and the answers' headers they read
TUS_REQUEST_HEADERS = ("Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, "
                       "Upload-Defer-Length, Upload-Checksum, Upload-Concat")
TUS_RESPONSE_HEADERS = ("Location, Upload-Offset, Upload-Length, Upload-Metadata, "
                        "Upload-Defer-Length, Upload-Expires, Upload-Concat, Tus-Resumable, "
                        "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, "
                        "GoVault-File-Id")
CORS_HEADERS = ("Authorization, Content-Type, Upload-UUID, Checksum, X-Request-ID, "
                + TUS_REQUEST_HEADERS)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    route = route_template(request)
    method = request.method if request.method in _METHODS else "OTHER"
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, route=route, method=method)
    start = time.perf_counter()
    IN_FLIGHT.inc()
    status = 500
    error_code = None
    try:
        try:
            check_framing(request)
            response = await handler(request)
        except ApiError as exc:
            error_code = exc.code
            response = error_response(exc, request_id)
        except web.HTTPException as exc:
            error_code, message = _http_exception_code(exc)
            response = error_response(ApiError(error_code, message, _passthrough_headers(exc)),
                                      request_id)
        except Exception:
            log.exception("unhandled_error")
            error_code = "INTERNAL"
            response = error_response(ApiError("INTERNAL", "internal error"), request_id)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        for name, value in SECURITY_HEADERS.items():  # a route may send its own (a web page's CSP)
            response.headers.setdefault(name, value)
        _cors(request, response)
        if error_code in CLOSE_CODES:
            await _answer_and_close(request, response)
        return response
    finally:
        elapsed = time.perf_counter() - start
        IN_FLIGHT.dec()
        REQUESTS.labels(route, method, str(status)).inc()
        DURATION.labels(route, method).observe(elapsed)
        log.info(
            "request",
            status=status,
            error_code=error_code,
            user_id=request.get(USER_ID),
            duration_ms=round(elapsed * 1000, 2),
        )


def check_framing(request: web.Request) -> None:
    """400 for a request whose meaning would depend on which of two headers is read, with a byte
    that is not ASCII in a header the API defines (ASCII_HEADERS), or whose body is wrapped in a
    transfer coding other than chunked (aiohttp's parser takes `Transfer-Encoding: gzip, chunked`
    as chunked and ignores the gzip); 415 for a content coding (aiohttp would decompress it:
    bytes a client hashed before compressing would be stored decompressed, and a small body
    could expand to many times the limits)."""
    headers = request.headers
    for name in SINGLE_HEADERS:
        if len(headers.getall(name, ())) > 1:
            raise ApiError("INVALID_ARGUMENT", f"more than one {name} header")
    for name in ASCII_HEADERS:
        if not headers.get(name, "").isascii():
            raise ApiError("INVALID_ARGUMENT", f"the {name} header must be ASCII")
    if "Transfer-Encoding" in headers:
        codings = ",".join(headers.getall("Transfer-Encoding")).lower().replace(" ", "")
        if codings != "chunked":
            raise ApiError("INVALID_ARGUMENT",
                           "Transfer-Encoding: only chunked is supported (no other coding)")
    if "Content-Encoding" in headers:
        codings = ",".join(headers.getall("Content-Encoding")).strip().lower()
        if codings not in ("", "identity"):
            raise ApiError("UNSUPPORTED_MEDIA_TYPE",
                           "Content-Encoding is not supported: send the body as is")


async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: aiohttp adds `Server: Python/3.x aiohttp/3.x` to every response;
    the software and its version are nobody's business."""
    response.headers.popall("Server", None)


async def close_while_draining(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: once the edge is stopping (edge.server), every answer closes its
    connection, so the client sends its next request on a new one (to another replica) instead
    of on one the stop is about to close under it."""
    if request.app[DRAINING].is_set():
        response.force_close()
        response.headers["Connection"] = "close"  # the headers were prepared before this hook


async def _answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Sends the answer, then closes the connection at once: the rest of the body will not be
    read (aiohttp would otherwise keep reading and ignoring it for up to 10 s first)."""
    response.force_close()
    with contextlib.suppress(ConnectionError):  # a client gone cannot read it
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()


def _http_exception_code(exc: web.HTTPException) -> tuple[str, str]:
    if exc.status == 404:
        return "ROUTE_NOT_FOUND", "no such route"
    if exc.status == 405:
        return "METHOD_NOT_ALLOWED", "method not allowed on this route"
    if exc.status == 413:
        return "PAYLOAD_TOO_LARGE", "the request body is too large"
    if exc.status < 500:
        return "INVALID_ARGUMENT", exc.reason
    return "INTERNAL", "internal error"


def _passthrough_headers(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def _cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if not origin or origin not in request.app[SETTINGS].cors_origins:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = (
        "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
        + TUS_RESPONSE_HEADERS)


@web.middleware
async def cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = request.headers.get("Origin", "")
        if origin in request.app[SETTINGS].cors_origins:
            return web.Response(status=204, headers={
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": CORS_HEADERS,
                "Access-Control-Max-Age": "600",
            })
        raise ApiError("PERMISSION_DENIED", "origin not allowed")
    return await handler(request)
