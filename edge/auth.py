"""Bearer-token checks at the edge (the services verify the same token again themselves)."""

from __future__ import annotations

from aiohttp import web

from common.tokens import Identity, TokenError
from edge.errors import ApiError
from edge.keys import USER_ID, VERIFIER

_CHALLENGE = 'Bearer realm="govault"'


def _unauthorized(message: str, code: str, error: str | None = None) -> ApiError:
    challenge = _CHALLENGE + (f', error="{error}"' if error else "")
    return ApiError(401, code, message, {"WWW-Authenticate": challenge})


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <token>'", "INVALID_TOKEN",
                            "invalid_request")
    return token.strip()


async def optional_identity(request: web.Request) -> Identity | None:
    token = bearer(request)
    if token is None:
        return None
    try:
        identity = await request.app[VERIFIER].verify(token)
    except TokenError as exc:
        code = "TOKEN_EXPIRED" if exc.expired else "INVALID_TOKEN"
        raise _unauthorized(str(exc), code, "invalid_token") from None
    request[USER_ID] = identity.user_id
    return identity


async def require_identity(request: web.Request) -> Identity:
    identity = await optional_identity(request)
    if identity is None:
        raise _unauthorized("an access token is required", "UNAUTHENTICATED")
    return identity
