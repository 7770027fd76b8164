"""The domain error tree every service raises, and its one mapping to gRPC status codes.

    GoVaultError (code: stable string from CODES)
    ├── InvalidArgument      → INVALID_ARGUMENT     (HTTP 400)
    ├── FailedPrecondition   → FAILED_PRECONDITION  (HTTP 400)
    ├── Unauthenticated      → UNAUTHENTICATED      (HTTP 401)
    ├── PermissionDenied     → PERMISSION_DENIED    (HTTP 403)
    ├── NotFound             → NOT_FOUND            (HTTP 404)
    ├── AlreadyExists        → ALREADY_EXISTS       (HTTP 409)
    ├── Conflict             → ABORTED              (HTTP 409)
    ├── ResourceExhausted    → RESOURCE_EXHAUSTED   (HTTP 429, retry_after_s)
    └── Unavailable          → UNAVAILABLE          (HTTP 503)

Services raise these from `service.py`/`store.py`; the gRPC interceptor turns them into a status
with the stable code in trailing metadata (`govault-error-code`). Anything else is INTERNAL and is
logged with its traceback, never sent to the client.
"""

from __future__ import annotations

import grpc

ERROR_CODE_KEY = "govault-error-code"
RETRY_AFTER_KEY = "retry-after"

# The closed catalog of stable error codes that may appear in an error body.
CODES = frozenset(
    {
        # generic
        "INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNAUTHENTICATED", "PERMISSION_DENIED",
        "NOT_FOUND", "ALREADY_EXISTS", "CONFLICT", "RATE_LIMITED", "UNAVAILABLE",
        "TIMEOUT", "CANCELLED", "INTERNAL",
        # edge / HTTP
        "INVALID_JSON", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE", "ROUTE_NOT_FOUND",
        "METHOD_NOT_ALLOWED", "INVALID_TOKEN", "TOKEN_EXPIRED", "OVERLOADED",
        # auth
        "INVALID_CREDENTIALS", "EMAIL_TAKEN", "USERNAME_TAKEN", "INVALID_REFRESH_TOKEN",
        "REFRESH_TOKEN_REUSED", "TOO_MANY_ATTEMPTS",
        # uploads
        "UPLOAD_NOT_FOUND", "UPLOAD_NOT_ACTIVE", "UPLOAD_ABORTED", "UPLOAD_EXPIRED",
        "UPLOAD_FAILED", "UPLOAD_IN_PROGRESS", "CHECKSUM_MISMATCH", "CHUNK_OUT_OF_RANGE",
        "CHUNK_TOO_LARGE", "CHUNK_SIZE_MISMATCH", "PART_OUT_OF_RANGE", "PART_SIZE_MISMATCH",
        "PARTS_MISSING", "PART_TOO_SMALL", "PART_NOT_UPLOADED", "FILE_TOO_LARGE",
        # files
        "FILE_NOT_FOUND", "SHARE_NOT_FOUND", "UNKNOWN_RECIPIENTS", "TOO_MANY_RECIPIENTS",
        "CANNOT_SHARE_WITH_SELF", "SHORTCUT_EXISTS",
    }
)


class GoVaultError(Exception):
    grpc_code = grpc.StatusCode.INTERNAL
    default_code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        assert self.code in CODES, f"unknown error code {self.code}"


class InvalidArgument(GoVaultError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    default_code = "INVALID_ARGUMENT"


class FailedPrecondition(GoVaultError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    default_code = "FAILED_PRECONDITION"


class Unauthenticated(GoVaultError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    default_code = "UNAUTHENTICATED"


class PermissionDenied(GoVaultError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    default_code = "PERMISSION_DENIED"


class NotFound(GoVaultError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    default_code = "NOT_FOUND"


class AlreadyExists(GoVaultError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    default_code = "ALREADY_EXISTS"


class Conflict(GoVaultError):
    grpc_code = grpc.StatusCode.ABORTED
    default_code = "CONFLICT"


class ResourceExhausted(GoVaultError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = "RATE_LIMITED"

    def __init__(self, message: str, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class Unavailable(GoVaultError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    default_code = "UNAVAILABLE"


def grpc_status_for(exc: GoVaultError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """The one mapping from a domain error to (status code, details, trailing metadata)."""
    trailers: list[tuple[str, str]] = [(ERROR_CODE_KEY, exc.code)]
    if isinstance(exc, ResourceExhausted):
        trailers.append((RETRY_AFTER_KEY, str(exc.retry_after_s)))
    return exc.grpc_code, exc.message, tuple(trailers)
