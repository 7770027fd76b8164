"""The auth service's errors: one named constructor per stable code it raises (the code's
statuses are its entry in `common.errors.CODES`; the class is the code's kind there). Bad input
without a code of its own is a bare `InvalidArgument("…")`; a refused access token is
`common.errors.token_refused`; the database pool exhausted or unreachable is `Unavailable`.
"""

from __future__ import annotations

from common.errors import AlreadyExists, InvalidArgument, ResourceExhausted, Unauthenticated

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


def invalid_refresh_token() -> Unauthenticated:
    return Unauthenticated("the refresh token is invalid or expired", "INVALID_REFRESH_TOKEN")


def refresh_token_reused() -> Unauthenticated:
    return Unauthenticated(
        "this refresh token was already used; the sessions from that login are revoked",
        "REFRESH_TOKEN_REUSED")


def overloaded(retry_after_s: int) -> ResourceExhausted:
    """The password hashing queue is full: a new hash would start too late."""
    return ResourceExhausted("too many password checks in progress, retry shortly",
                             "OVERLOADED", retry_after_s=retry_after_s)
