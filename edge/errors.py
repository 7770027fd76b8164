"""The one gRPC → HTTP status table, the error body, and the edge's own errors."""

from __future__ import annotations

import grpc
from aiohttp import web

from common.errors import CODES, ERROR_CODE_KEY, RETRY_AFTER_KEY

STATUS_TABLE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

# The error code used when a service did not name one.
DEFAULT_CODES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    grpc.StatusCode.FAILED_PRECONDITION: "FAILED_PRECONDITION",
    grpc.StatusCode.OUT_OF_RANGE: "INVALID_ARGUMENT",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.ALREADY_EXISTS: "ALREADY_EXISTS",
    grpc.StatusCode.ABORTED: "CONFLICT",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    grpc.StatusCode.CANCELLED: "CANCELLED",
    grpc.StatusCode.UNAVAILABLE: "UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "TIMEOUT",
}

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
    """An error answered to the client with the standard body. Its HTTP status is the code's
    in the catalog (`common.errors.CODES`); only a service's error, mapped through
    `STATUS_TABLE`, names its status itself."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None, *,
                 status: int | None = None) -> None:
        super().__init__(message)
        assert code in CODES, f"unknown error code {code}"
        self.status = CODES[code] if status is None else status
        self.code = code
        self.message = message
        self.headers = headers or {}


def http_status_for(code: grpc.StatusCode) -> int:
    return STATUS_TABLE.get(code, 500)


# Statuses GoVault services only ever send with a stable code in the trailers: without one, the
# call broke in transport (the service died mid-call, a stream was reset), so the upstream is
# unavailable, and the client may retry.
_TRANSPORT_FAILURES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    status_code = exc.code()
    trailers = dict(exc.trailing_metadata() or ())  # grpc.aio.Metadata yields (key, value)
    code = trailers.get(ERROR_CODE_KEY)
    if status_code in _TRANSPORT_FAILURES and code is None:
        status_code = grpc.StatusCode.UNAVAILABLE
    status = http_status_for(status_code)
    if not isinstance(code, str) or code not in CODES:
        code = DEFAULT_CODES.get(status_code, "INTERNAL")
    elif status_code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # the code's catalog status: a client's own excess (RATE_LIMITED, TOO_MANY_ATTEMPTS) is
        # 429; a saturated server (OVERLOADED) is 503 like every other "saturated" answer, both
        # with Retry-After; a storage quota (QUOTA_EXCEEDED) is 413 and a store out of space
        # (STORAGE_FULL) 507, without: waiting does not help
        status = CODES[code]
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
    return ApiError(code, message, headers, status=status)


def error_body(error: ApiError, request_id: str) -> dict[str, str]:
    return {"error": error.message, "code": error.code, "request_id": request_id}


def error_response(error: ApiError, request_id: str) -> web.Response:
    return web.json_response(error_body(error, request_id), status=error.status,
                             headers=error.headers)
