"""The closed catalog of stable error codes, and the domain error tree every service raises.

One catalog entry per code decides everything about it (tusd's `NewError(code, msg, status)`):
the HTTP status a client is answered with, and the gRPC status a service sends it with. Every
other mapping is derived from `CODES`:
- a service's error → gRPC status + the code in trailing metadata `govault-error-code`
  (`common.grpc.server.grpc_status_for`, applied by the interceptor);
- gRPC status + code → the HTTP answer (`edge.errors.from_rpc_error`: the code's status; a bare
  status, without a code, stands for its generic code, the entry marked `generic`);
- gRPC status + code → the same domain error in a calling service
  (`common.grpc.client.rpc_error_to_domain`, through `kind_of`).

The tree (each class is one kind of error, sent with its default code's gRPC status; a code may
only be raised with the class of its kind, which the constructor checks):

    GoVaultError         INTERNAL
    ├── InvalidArgument      INVALID_ARGUMENT
    ├── FailedPrecondition   FAILED_PRECONDITION
    ├── Unauthenticated      UNAUTHENTICATED
    ├── PermissionDenied     PERMISSION_DENIED
    ├── NotFound             NOT_FOUND
    ├── AlreadyExists        ALREADY_EXISTS
    ├── Conflict             ABORTED
    ├── ResourceExhausted    RESOURCE_EXHAUSTED (retry_after_s)
    ├── QuotaExceeded        RESOURCE_EXHAUSTED (a storage quota: not retried, answered 413)
    ├── StorageFull          RESOURCE_EXHAUSTED (the store is out of space: not retried, 507)
    └── Unavailable          UNAVAILABLE

Services raise these from `service.py`/`store.py`, through the named constructor of each code in
their own `errors.py`. The errors know nothing of transports. Anything else is INTERNAL and is
logged with its traceback, never sent to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ERROR_CODE_KEY = "govault-error-code"
RETRY_AFTER_KEY = "retry-after"

# The names of the grpc.StatusCode members a GoVault service sends (this module imports no grpc).
GrpcStatus = Literal[
    "INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNAUTHENTICATED", "PERMISSION_DENIED",
    "NOT_FOUND", "ALREADY_EXISTS", "ABORTED", "RESOURCE_EXHAUSTED", "CANCELLED", "UNAVAILABLE",
    "DEADLINE_EXCEEDED", "INTERNAL",
]


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One stable code: `http`, the status a client gets; `grpc`, the status a service sends it
    with (None: the edge answers it itself, no service sends it); `generic`, the code a bare
    `grpc` status stands for when it arrives without a code (one per gRPC status)."""

    http: int
    grpc: GrpcStatus | None
    generic: bool = False


def _generic(http: int, grpc: GrpcStatus) -> ErrorCode:
    return ErrorCode(http, grpc, generic=True)


CODES: dict[str, ErrorCode] = {
    # generic: one per gRPC status
    "INVALID_ARGUMENT": _generic(400, "INVALID_ARGUMENT"),
    "FAILED_PRECONDITION": _generic(400, "FAILED_PRECONDITION"),
    "UNAUTHENTICATED": _generic(401, "UNAUTHENTICATED"),
    "PERMISSION_DENIED": _generic(403, "PERMISSION_DENIED"),
    "NOT_FOUND": _generic(404, "NOT_FOUND"),
    "ALREADY_EXISTS": _generic(409, "ALREADY_EXISTS"),
    "CONFLICT": _generic(409, "ABORTED"),
    "RATE_LIMITED": _generic(429, "RESOURCE_EXHAUSTED"),
    "CANCELLED": _generic(499, "CANCELLED"),
    "INTERNAL": _generic(500, "INTERNAL"),
    "UNAVAILABLE": _generic(503, "UNAVAILABLE"),
    "TIMEOUT": _generic(504, "DEADLINE_EXCEEDED"),
    # the edge's own answers about the HTTP request
    "INVALID_JSON": ErrorCode(400, None),
    "ROUTE_NOT_FOUND": ErrorCode(404, None),
    "METHOD_NOT_ALLOWED": ErrorCode(405, None),
    "PAYLOAD_TOO_LARGE": ErrorCode(413, None),
    "UNSUPPORTED_MEDIA_TYPE": ErrorCode(415, None),
    # a body that stops arriving (below the minimum rate) / a client that hung up mid-request /
    # more upload byte streams of one account in flight than the edge allows
    "REQUEST_TIMEOUT": ErrorCode(408, None),
    "CLIENT_CLOSED": ErrorCode(499, None),
    "TOO_MANY_STREAMS": ErrorCode(429, None),
    # access tokens (the edge and every service verify them) and saturation
    "INVALID_TOKEN": ErrorCode(401, "UNAUTHENTICATED"),
    "TOKEN_EXPIRED": ErrorCode(401, "UNAUTHENTICATED"),
    "OVERLOADED": ErrorCode(503, "RESOURCE_EXHAUSTED"),
    # auth
    "INVALID_CREDENTIALS": ErrorCode(400, "INVALID_ARGUMENT"),
    "INVALID_REFRESH_TOKEN": ErrorCode(401, "UNAUTHENTICATED"),
    "REFRESH_TOKEN_REUSED": ErrorCode(401, "UNAUTHENTICATED"),
    "EMAIL_TAKEN": ErrorCode(409, "ALREADY_EXISTS"),
    "USERNAME_TAKEN": ErrorCode(409, "ALREADY_EXISTS"),
    "TOO_MANY_ATTEMPTS": ErrorCode(429, "RESOURCE_EXHAUSTED"),
    # uploads
    "CHECKSUM_MISMATCH": ErrorCode(400, "INVALID_ARGUMENT"),
    "CHUNK_OUT_OF_RANGE": ErrorCode(400, "INVALID_ARGUMENT"),
    "CHUNK_TOO_LARGE": ErrorCode(400, "INVALID_ARGUMENT"),
    "CHUNK_SIZE_MISMATCH": ErrorCode(400, "INVALID_ARGUMENT"),
    "PART_OUT_OF_RANGE": ErrorCode(400, "INVALID_ARGUMENT"),
    "PART_SIZE_MISMATCH": ErrorCode(400, "INVALID_ARGUMENT"),
    "FILE_TOO_LARGE": ErrorCode(400, "INVALID_ARGUMENT"),
    "UPLOAD_NOT_ACTIVE": ErrorCode(400, "FAILED_PRECONDITION"),
    "PARTS_MISSING": ErrorCode(400, "FAILED_PRECONDITION"),
    "PART_TOO_SMALL": ErrorCode(400, "FAILED_PRECONDITION"),
    "PART_NOT_UPLOADED": ErrorCode(400, "FAILED_PRECONDITION"),
    "UPLOAD_NOT_FOUND": ErrorCode(404, "NOT_FOUND"),
    "UPLOAD_ABORTED": ErrorCode(409, "ABORTED"),
    "UPLOAD_EXPIRED": ErrorCode(409, "ABORTED"),
    "UPLOAD_FAILED": ErrorCode(409, "ABORTED"),
    "UPLOAD_IN_PROGRESS": ErrorCode(409, "ABORTED"),
    # tus uploads (edge/routes/tus.py; the upload service raises the ones with a gRPC status)
    "LENGTH_REQUIRED": ErrorCode(411, "INVALID_ARGUMENT"),
    "UPLOAD_LENGTH_EXCEEDED": ErrorCode(413, "INVALID_ARGUMENT"),
    "UPLOAD_METADATA_INVALID": ErrorCode(400, "INVALID_ARGUMENT"),
    "CHECKSUM_ALGORITHM_UNSUPPORTED": ErrorCode(400, "INVALID_ARGUMENT"),
    "UPLOAD_CHECKSUM_MISMATCH": ErrorCode(460, "INVALID_ARGUMENT"),
    "UPLOAD_OFFSET_MISMATCH": ErrorCode(409, "ABORTED"),
    "UPLOAD_LOCKED": ErrorCode(423, "ABORTED"),
    "TUS_VERSION_UNSUPPORTED": ErrorCode(412, None),
    "UPLOAD_GONE": ErrorCode(410, None),
    "UPLOAD_LENGTH_MISSING": ErrorCode(400, None),
    # files
    "UNKNOWN_RECIPIENTS": ErrorCode(400, "INVALID_ARGUMENT"),
    "TOO_MANY_RECIPIENTS": ErrorCode(400, "INVALID_ARGUMENT"),
    "CANNOT_SHARE_WITH_SELF": ErrorCode(400, "INVALID_ARGUMENT"),
    "FILE_NOT_FOUND": ErrorCode(404, "NOT_FOUND"),
    "SHARE_NOT_FOUND": ErrorCode(404, "NOT_FOUND"),
    "QUOTA_EXCEEDED": ErrorCode(413, "RESOURCE_EXHAUSTED"),
    # the object store
    "STORAGE_FULL": ErrorCode(507, "RESOURCE_EXHAUSTED"),
}

# The code a bare gRPC status (one that arrives without a code: a transport failure, a deadline,
# a peer of another version) stands for; a status not listed stands for INTERNAL.
GENERIC: dict[str, str] = {entry.grpc: code for code, entry in CODES.items()
                           if entry.generic and entry.grpc is not None}


class GoVaultError(Exception):
    default_code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        entry = CODES.get(self.code)
        if entry is None or entry.grpc != CODES[self.default_code].grpc:
            raise ValueError(f"{self.code} cannot be raised as {type(self).__name__}: its entry "
                             f"in common.errors.CODES sends it as {entry and entry.grpc}")

    @property
    def grpc_status(self) -> GrpcStatus:
        """The name of the gRPC status this error is sent with (its code's, in the catalog)."""
        status = CODES[self.code].grpc
        assert status is not None  # checked in __init__
        return status


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


class StorageFull(GoVaultError):
    """The object store refuses writes for lack of space. Sent as RESOURCE_EXHAUSTED without a
    retry-after (answered 507): retrying will not help until space is freed or added."""

    default_code = "STORAGE_FULL"


class Unavailable(GoVaultError):
    default_code = "UNAVAILABLE"


def token_refused(message: str, expired: bool = False) -> Unauthenticated:
    """An access token that is not valid (any service verifies it, `common.grpc.identity`)."""
    return Unauthenticated(message, "TOKEN_EXPIRED" if expired else "INVALID_TOKEN")


def storage_full() -> StorageFull:
    """The object store refuses writes for lack of space (`common.s3`: told by the store, or
    found by a probe write; either service)."""
    return StorageFull("the object store is out of space")


# Each kind in the order `kind_of` prefers it for a gRPC status two kinds share.
KINDS: tuple[type[GoVaultError], ...] = (
    InvalidArgument, FailedPrecondition, Unauthenticated, PermissionDenied, NotFound,
    AlreadyExists, Conflict, ResourceExhausted, QuotaExceeded, StorageFull, Unavailable,
    GoVaultError,
)


def kind_of(code: str) -> type[GoVaultError]:
    """The class `code` is raised as: the kind whose default it is, else the first kind sent
    with the same gRPC status. ValueError for a code no service raises (the edge's own, and
    TIMEOUT and CANCELLED, which only a bare status stands for)."""
    status = CODES[code].grpc
    for kind in (*(k for k in KINDS if k.default_code == code),
                 *(k for k in KINDS if CODES[k.default_code].grpc == status)):
        return kind
    raise ValueError(f"no service raises {code}")
