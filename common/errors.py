"""The domain error tree every service raises, and the closed catalog of stable error codes.

    GoVaultError (code: stable string from CODES)
    ├── InvalidArgument
    ├── FailedPrecondition
    ├── Unauthenticated
    ├── PermissionDenied
    ├── NotFound
    ├── AlreadyExists
    ├── Conflict
    ├── ResourceExhausted    (retry_after_s)
    ├── QuotaExceeded        (a storage quota: not retried, answered 413)
    └── Unavailable

Services raise these from `service.py`/`store.py`. The errors know nothing of transports: the
gRPC status for each class is chosen at the server boundary (`common.grpc.server.DOMAIN_TO_GRPC`,
applied by the interceptor, with the stable code in trailing metadata `govault-error-code`), and
a service-to-service client turns a status back into these (`common.grpc.client
.rpc_error_to_domain`). Anything else is INTERNAL and is logged with its traceback, never sent to
the client.
"""

from __future__ import annotations

ERROR_CODE_KEY = "govault-error-code"
RETRY_AFTER_KEY = "retry-after"

# The closed catalog of stable error codes that may appear in an error body, each with the HTTP
# status it is answered with (one entry per code, as tusd's `NewError(code, msg, status)`). The
# gRPC status a service sends for a domain error is chosen by the server boundary
# (DOMAIN_TO_GRPC next to the interceptor), and the edge maps gRPC → HTTP in one table.
CODES: dict[str, int] = {
    # generic
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "CONFLICT": 409,
    "RATE_LIMITED": 429, "UNAVAILABLE": 503, "TIMEOUT": 504, "CANCELLED": 499, "INTERNAL": 500,
    # edge / HTTP
    "INVALID_JSON": 400, "UNSUPPORTED_MEDIA_TYPE": 415, "PAYLOAD_TOO_LARGE": 413,
    "ROUTE_NOT_FOUND": 404, "METHOD_NOT_ALLOWED": 405, "INVALID_TOKEN": 401,
    "TOKEN_EXPIRED": 401, "OVERLOADED": 503,
    # a body that stops arriving (below the minimum rate) / a client that hung up mid-request
    "REQUEST_TIMEOUT": 408, "CLIENT_CLOSED": 499,
    # auth
    "INVALID_CREDENTIALS": 400, "EMAIL_TAKEN": 409, "USERNAME_TAKEN": 409,
    "INVALID_REFRESH_TOKEN": 401, "REFRESH_TOKEN_REUSED": 401, "TOO_MANY_ATTEMPTS": 429,
    # uploads
    "UPLOAD_NOT_FOUND": 404, "UPLOAD_NOT_ACTIVE": 400, "UPLOAD_ABORTED": 409,
    "UPLOAD_EXPIRED": 409, "UPLOAD_FAILED": 409, "UPLOAD_IN_PROGRESS": 409,
    "CHECKSUM_MISMATCH": 400, "CHUNK_OUT_OF_RANGE": 400, "CHUNK_TOO_LARGE": 400,
    "CHUNK_SIZE_MISMATCH": 400, "PART_OUT_OF_RANGE": 400, "PART_SIZE_MISMATCH": 400,
    "PARTS_MISSING": 400, "PART_TOO_SMALL": 400, "PART_NOT_UPLOADED": 400,
    "FILE_TOO_LARGE": 400, "TOO_MANY_STREAMS": 429,
    # tus uploads (edge/routes/tus.py answers each with its status here)
    "TUS_VERSION_UNSUPPORTED": 412, "LENGTH_REQUIRED": 411, "UPLOAD_OFFSET_MISMATCH": 409,
    "UPLOAD_LOCKED": 423, "UPLOAD_GONE": 410, "UPLOAD_LENGTH_EXCEEDED": 413,
    "UPLOAD_LENGTH_MISSING": 400, "UPLOAD_METADATA_INVALID": 400,
    "CHECKSUM_ALGORITHM_UNSUPPORTED": 400, "UPLOAD_CHECKSUM_MISMATCH": 460,
    # files
    "FILE_NOT_FOUND": 404, "SHARE_NOT_FOUND": 404, "UNKNOWN_RECIPIENTS": 400,
    "TOO_MANY_RECIPIENTS": 400, "CANNOT_SHARE_WITH_SELF": 400, "SHORTCUT_EXISTS": 409,
    "QUOTA_EXCEEDED": 413,
}


class GoVaultError(Exception):
    default_code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        assert self.code in CODES, f"unknown error code {self.code}"


class InvalidArgument(GoVaultError):
    default_code = "INVALID_ARGUMENT"


class FailedPrecondition(GoVaultError):
    default_code = "FAILED_PRECONDITION"


class Unauthenticated(GoVaultError):
    default_code = "UNAUTHENTICATED"


class PermissionDenied(GoVaultError):
    default_code = "PERMISSION_DENIED"


class NotFound(GoVaultError):
    default_code = "NOT_FOUND"


class AlreadyExists(GoVaultError):
    default_code = "ALREADY_EXISTS"


class Conflict(GoVaultError):
    default_code = "CONFLICT"


class ResourceExhausted(GoVaultError):
    default_code = "RATE_LIMITED"

    def __init__(self, message: str, code: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class QuotaExceeded(GoVaultError):
    """The caller's storage quota cannot hold what they asked to store (the message says how
    much is free). Sent as RESOURCE_EXHAUSTED without a retry-after: waiting does not help,
    deleting files or a larger quota does."""

    default_code = "QUOTA_EXCEEDED"


class Unavailable(GoVaultError):
    default_code = "UNAVAILABLE"
