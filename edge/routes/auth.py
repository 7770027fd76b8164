"""Routes for the auth area: sign-up, login, refresh, logout, and the caller's account.

Each handler checks the request's shape (a JSON object, the fields it needs, their types), makes
one call to the auth service and shapes the answer. Formats and lengths are the service's to
judge; unknown JSON fields are ignored (clients of the original send `username` with a login).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from govault.auth.v1 import auth_pb2

from edge import openapi
from edge.auth import require_identity
from edge.calls import rpc
from edge.http import read_json, string
from edge.keys import SETTINGS, USER_ID
from edge.shape import timestamp


async def _body(request: web.Request) -> dict[str, Any]:
    return await read_json(request, request.app[SETTINGS].max_json_bytes)


async def signup(request: web.Request) -> web.Response:
    body = await _body(request)
    message = auth_pb2.SignUpRequest(
        username=string(body, "username"),
        email=string(body, "email"),
        password=string(body, "password"),
    )
    reply = await rpc(request, "auth", "SignUp", message)
    return web.json_response({"message": "signup successful", "user_id": reply.user_id})


async def login(request: web.Request) -> web.Response:
    body = await _body(request)
    message = auth_pb2.LoginRequest(email=string(body, "email"),
                                    password=string(body, "password"))
    reply = await rpc(request, "auth", "Login", message)
    request[USER_ID] = reply.user.user_id
    return web.json_response({
        "token": reply.access_token,
        "username": reply.user.username,
        "email": reply.user.email,
        "user_id": reply.user.user_id,
        "refresh_token": reply.refresh_token,
        "expires_in": reply.expires_in_s,
    })


async def refresh(request: web.Request) -> web.Response:
    body = await _body(request)
    message = auth_pb2.RefreshRequest(refresh_token=string(body, "refresh_token"))
    reply = await rpc(request, "auth", "Refresh", message)
    return web.json_response({
        "token": reply.access_token,
        "refresh_token": reply.refresh_token,
        "expires_in": reply.expires_in_s,
    })


async def logout(request: web.Request) -> web.Response:
    body = await _body(request)
    message = auth_pb2.LogoutRequest(refresh_token=string(body, "refresh_token"))
    await rpc(request, "auth", "Logout", message)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    reply = await rpc(request, "auth", "GetUser", auth_pb2.GetUserRequest(), identity=identity)
    user = reply.user
    return web.json_response({
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "created_at": timestamp(user.created_at),
    })


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/auth/signup", signup)
    app.router.add_post("/auth/login", login)
    app.router.add_post("/auth/refresh", refresh)
    app.router.add_post("/auth/logout", logout)
    app.router.add_get("/auth/me", me)


# ----------------------------------------------------------------------------------- OpenAPI
def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BAD = openapi.error("invalid input (malformed JSON, missing or mistyped field, bad format)")
_UNSUPPORTED = openapi.error("the body is not application/json")
_TOO_LARGE = openapi.error("the body is too large")
_TOKEN_FIELD = {"type": "string", "description": "opaque refresh token"}


def _operation(summary: str, body: dict[str, Any] | None, responses: dict[str, Any],
               secured: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": summary, "tags": ["auth"], "responses": responses}
    if body is not None:
        entry["requestBody"] = openapi.json_body(body)
        responses.setdefault("400", _BAD)
        responses.setdefault("413", _TOO_LARGE)
        responses.setdefault("415", _UNSUPPORTED)
    entry["security"] = [{"bearer": []}] if secured else []
    return entry


OPENAPI_PATHS: dict[str, Any] = {
    "/auth/signup": {"post": _operation(
        "Create an account",
        _object(["username", "email", "password"],
                username={"type": "string", "minLength": 3, "maxLength": 64,
                          "pattern": "^[A-Za-z0-9_.-]+$"},
                email={"type": "string", "format": "email"},
                password={"type": "string", "minLength": 8, "maxLength": 256}),
        {"200": openapi.json_ok("created", _object(["message", "user_id"], message=_STR,
                                                   user_id={"type": "string",
                                                            "format": "uuid"})),
         "409": openapi.error("email or username taken (EMAIL_TAKEN, USERNAME_TAKEN)"),
         "429": openapi.error("password hashing saturated (OVERLOADED); see Retry-After")},
    )},
    "/auth/login": {"post": _operation(
        "Exchange email and password for an access token and a refresh token",
        _object(["email", "password"], email=_STR, password=_STR),
        {"200": openapi.json_ok("logged in", _object(
            ["token", "username", "email", "user_id", "refresh_token", "expires_in"],
            token={"type": "string", "description": "access JWT (EdDSA)"},
            username=_STR, email=_STR, user_id=_STR, refresh_token=_TOKEN_FIELD,
            expires_in={"type": "integer", "description": "access token lifetime, seconds"})),
         "401": openapi.error("invalid email or password (INVALID_CREDENTIALS)"),
         "429": openapi.error("too many failed logins (TOO_MANY_ATTEMPTS) or hashing "
                              "saturated (OVERLOADED); see Retry-After")},
    )},
    "/auth/refresh": {"post": _operation(
        "Rotate a refresh token: returns a new access token and a new refresh token",
        _object(["refresh_token"], refresh_token=_TOKEN_FIELD),
        {"200": openapi.json_ok("rotated", _object(["token", "refresh_token", "expires_in"],
                                                   token=_STR, refresh_token=_TOKEN_FIELD,
                                                   expires_in=_INT)),
         "401": openapi.error("unknown, expired or revoked (INVALID_REFRESH_TOKEN), or "
                              "already used (REFRESH_TOKEN_REUSED: the whole token family "
                              "is revoked)")},
    )},
    "/auth/logout": {"post": _operation(
        "Revoke the refresh token's family (unknown tokens are accepted)",
        _object(["refresh_token"], refresh_token=_TOKEN_FIELD),
        {"204": {"description": "logged out"}},
    )},
    "/auth/me": {"get": _operation(
        "The caller's account",
        None,
        {"200": openapi.json_ok("the account", _object(
            ["user_id", "username", "email", "created_at"], user_id=_STR, username=_STR,
            email=_STR, created_at={"type": "string", "format": "date-time"})),
         "401": openapi.error("missing, invalid or expired access token")},
        secured=True,
    )},
}
