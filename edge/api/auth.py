"""Request and response models of the auth area, and its operations."""

from __future__ import annotations

from typing import Annotated

import msgspec

from edge.api.base import END, STRIPPED, Model, Operation, Timestamp, Uuid, text

Username = Annotated[str, msgspec.Meta(min_length=3, max_length=64,
                                       pattern=rf"^[A-Za-z0-9_.-]+{END}",
                                       description="letters, digits and _ . -")]
# The auth service's rule (svc_auth.rules.EMAIL_RE), case-insensitive and with the surrounding
# spaces it strips: emails are stored trimmed and lowercased. local@domain.tld, no spaces, quotes
# or angle brackets inside.
EMAIL_PATTERN = (rf"^{STRIPPED}*[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.\-]{{1,64}}"
                 r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
                 rf"{STRIPPED}*{END}")
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, min_length=3, max_length=254,
                                    description="an address: name@example.com")]
Password = Annotated[str, text(min_length=8, max_length=256)]
RefreshToken = Annotated[str, text(max_length=512, description="opaque refresh token")]


class SignUp(Model):
    username: Username
    email: Email
    password: Password


class SignUpReply(Model):
    message: str
    user_id: Uuid


class Login(Model):
    email: Email
    password: Annotated[str, text(min_length=1, max_length=256)]


class LoginReply(Model):
    token: Annotated[str, msgspec.Meta(description="access JWT (EdDSA)")]
    username: str
    email: str
    user_id: str
    refresh_token: str
    expires_in: Annotated[int, msgspec.Meta(description="access token lifetime, seconds")]


class Refresh(Model):
    refresh_token: RefreshToken


class RefreshReply(Model):
    token: str
    refresh_token: str
    expires_in: int


class Logout(Model):
    refresh_token: RefreshToken


class Me(Model):
    user_id: str
    username: str
    email: str
    created_at: Timestamp


SIGNUP = Operation(
    "post", "/auth/signup", "Create an account", "auth", ok=SignUpReply, body=SignUp,
    auth="none", errors={409: "email or username taken (EMAIL_TAKEN, USERNAME_TAKEN)",
                         503: "password hashing saturated: more than its wait budget queued "
                              "(OVERLOADED); see Retry-After"})
LOGIN = Operation(
    "post", "/auth/login", "Exchange email and password for an access token and a refresh token",
    "auth", ok=LoginReply, body=Login, auth="none",
    errors={400: "missing email or password (INVALID_ARGUMENT, INVALID_JSON), or invalid email or "
                 "password (INVALID_CREDENTIALS: a bad request, not a 401; 401 always means "
                 "sign in again)",
            429: "too many failed logins (TOO_MANY_ATTEMPTS); see Retry-After",
            503: "password hashing saturated: more than its wait budget queued (OVERLOADED); "
                 "see Retry-After"})
REFRESH = Operation(
    "post", "/auth/refresh",
    "Rotate a refresh token: returns a new access token and a new refresh token", "auth",
    ok=RefreshReply, body=Refresh, auth="none",
    errors={401: "unknown, expired or revoked (INVALID_REFRESH_TOKEN), or already used "
                 "(REFRESH_TOKEN_REUSED: the whole token family is revoked)"})
LOGOUT = Operation(
    "post", "/auth/logout", "Revoke the refresh token's family (unknown tokens are accepted)",
    "auth", ok_status=204, body=Logout, auth="none")
ME = Operation("get", "/auth/me", "The caller's account", "auth", ok=Me)

OPERATIONS = (SIGNUP, LOGIN, REFRESH, LOGOUT, ME)
