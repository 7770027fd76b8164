"""The HTTP answer to an error: a service's (gRPC status + stable code) or the edge's own, with
the status its code has in the catalog (`common.errors.CODES`), and the error body."""

from __future__ import annotations

import grpc
from aiohttp import web

from common.errors import CODES, ERROR_CODE_KEY, GENERIC, RETRY_AFTER_KEY


def bare_code(status: grpc.StatusCode) -> str:
    """The code a gRPC status stands for when it arrives without one (common.errors.GENERIC)."""
    return GENERIC.get(status.name, "INTERNAL")


def http_status_for(status: grpc.StatusCode) -> int:
    """The HTTP status of a bare gRPC status: its generic code's in the catalog (grpc-gateway's
    table: INVALID_ARGUMENT and FAILED_PRECONDITION 400, ABORTED 409, RESOURCE_EXHAUSTED 429,
    CANCELLED 499, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...; anything else 500)."""
    return CODES[bare_code(status)].http


# Messages for statuses whose gRPC details are not meant for clients.
_OPAQUE = {
    grpc.StatusCode.UNAVAILABLE: "a backend service is unavailable, try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a backend service did not answer in time",
    grpc.StatusCode.CANCELLED: "the request was cancelled",
}


# 401s about the access token carry a Bearer challenge (RFC 6750): without `error` when none
# was presented (UNAUTHENTICATED, e.g. an anonymous request for a file that is not public), with
# `error="invalid_token"` when the one presented is refused.
CHALLENGE = 'Bearer realm="govault"'
_TOKEN_CODES = frozenset({"INVALID_TOKEN", "TOKEN_EXPIRED"})


class ApiError(Exception):
    """An error answered to the client with the standard body and its code's status in the
    catalog (`common.errors.CODES`)."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = CODES[code].http
        self.code = code
        self.message = message
        self.headers = headers or {}


# Statuses GoVault services only ever send with a stable code in the trailers: without one, the
# call broke in transport (the service died mid-call, a stream was reset), so the upstream is
# unavailable, and the client may retry. A bare CANCELLED is one of them: the edge never cancels a
# call it then answers (a client that hung up cancels the handler, which answers nobody), so it
# came from a replica that went away with the call in flight (seen when a files pod was
# force-deleted: 499 to a client that had not gone anywhere).
_TRANSPORT_FAILURES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                                 grpc.StatusCode.CANCELLED})


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    """A service's error as the client's answer: the status of the code the service named (a
    bare status: of its generic code). INTERNAL details are never sent; 429 and 503 carry
    Retry-After; 401s about the token carry a Bearer challenge."""
    status_code = exc.code()
    trailers = dict(exc.trailing_metadata() or ())  # grpc.aio.Metadata yields (key, value)
    sent = trailers.get(ERROR_CODE_KEY)
    if status_code in _TRANSPORT_FAILURES and sent is None:
        status_code = grpc.StatusCode.UNAVAILABLE
    code = sent if isinstance(sent, str) and sent in CODES else bare_code(status_code)
    status = CODES[code].http
    if status == 500:
        return ApiError("INTERNAL", "internal error")
    message = _OPAQUE.get(status_code) or exc.details() or code.lower().replace("_", " ")
    headers: dict[str, str] = {}
    retry_after = trailers.get(RETRY_AFTER_KEY)
    if status == 429 or status == 503:
        headers["Retry-After"] = retry_after if isinstance(retry_after, str) else "1"
    if status == 401 and code == "UNAUTHENTICATED":
        headers["WWW-Authenticate"] = CHALLENGE
    elif status == 401 and code in _TOKEN_CODES:
        headers["WWW-Authenticate"] = CHALLENGE + ', error="invalid_token"'
    return ApiError(code, message, headers)


def error_body(error: ApiError, request_id: str) -> dict[str, str]:
    return {"error": error.message, "code": error.code, "request_id": request_id}


def error_response(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error_body(error, request_id), status=error.status,
                             headers=error.headers)
