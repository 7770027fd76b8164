"""Auth's own named errors. The tree itself is `common.errors`; the codes used here (all in
`common.errors.CODES`):

    InvalidArgument    INVALID_ARGUMENT                       (bad username/email/password)
                       INVALID_CREDENTIALS                    (wrong password or unknown email)
    Unauthenticated    INVALID_REFRESH_TOKEN, REFRESH_TOKEN_REUSED, INVALID_TOKEN, TOKEN_EXPIRED
    AlreadyExists      EMAIL_TAKEN, USERNAME_TAKEN
    ResourceExhausted  TOO_MANY_ATTEMPTS (login throttle), OVERLOADED (hash queue full)
    Unavailable        UNAVAILABLE (database pool exhausted or unreachable)
"""

from __future__ import annotations

from common.errors import AlreadyExists, InvalidArgument, ResourceExhausted

INVALID_CREDENTIALS_MESSAGE = "invalid email or password"


def invalid_credentials() -> InvalidArgument:
    """The one answer to a wrong password and to an unknown email (existence is not leaked).
    A bad request, not a missing token: 400 like OAuth2's `invalid_grant` and GoTrue, so a
    client may read every 401 as "sign in again"."""
    return InvalidArgument(INVALID_CREDENTIALS_MESSAGE, "INVALID_CREDENTIALS")


def too_many_attempts(retry_after_s: int) -> ResourceExhausted:
    return ResourceExhausted("too many failed logins, try again later", "TOO_MANY_ATTEMPTS",
                             retry_after_s=retry_after_s)


def email_taken() -> AlreadyExists:
    return AlreadyExists("an account with this email already exists", "EMAIL_TAKEN")


def username_taken() -> AlreadyExists:
    return AlreadyExists("this username is taken", "USERNAME_TAKEN")
