"""Auth's error tree: the shared domain errors (common.errors), re-exported so auth modules
import them from one place. Stable codes used here (all in `common.errors.CODES`):

    InvalidArgument    INVALID_ARGUMENT                       (bad username/email/password)
    Unauthenticated    INVALID_CREDENTIALS, INVALID_REFRESH_TOKEN, REFRESH_TOKEN_REUSED,
                       INVALID_TOKEN, TOKEN_EXPIRED
    AlreadyExists      EMAIL_TAKEN, USERNAME_TAKEN
    ResourceExhausted  TOO_MANY_ATTEMPTS (login throttle), OVERLOADED (hash queue full)
    Unavailable        UNAVAILABLE (database pool exhausted or unreachable)

The one mapping to gRPC codes is `common.errors.grpc_status_for`, applied by the interceptor.
"""

from __future__ import annotations

from common.errors import (
    AlreadyExists,
    GoVaultError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "GoVaultError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
]
