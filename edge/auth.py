"""Bearer-token checks at the edge (the services verify the same token again themselves). The
token is parsed once per request (`edge.request.caller`) and verified once: the rate limiter and
the handler share the verified identity."""

from __future__ import annotations

from aiohttp import web

from common.tokens import Identity, TokenError
from edge.errors import CHALLENGE, ApiError
from edge.keys import IDENTITY, USER_ID, VERIFIER
from edge.request import caller


def _unauthorized(message: str, code: str, error: str | None = None) -> ApiError:
    challenge = CHALLENGE + (f', error="{error}"' if error else "")
    return ApiError(code, message, {"WWW-Authenticate": challenge})


async def verify(request: web.Request, token: str) -> Identity:
    """The token's identity (kept on the request); TokenError when it is not valid."""
    identity = request.get(IDENTITY)
    if identity is None:
        identity = await request.app[VERIFIER].verify(token)
        request[IDENTITY] = identity
        request[USER_ID] = identity.user_id
    return identity


async def optional_identity(request: web.Request) -> Identity | None:
    who = caller(request)
    if who.malformed:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'", "INVALID_TOKEN",
                            "invalid_request")
    if who.token is None:
        return None
    try:
        return await verify(request, who.token)
    except TokenError as exc:
        code = "TOKEN_EXPIRED" if exc.expired else "INVALID_TOKEN"
        raise _unauthorized(str(exc), code, "invalid_token") from None


async def require_identity(request: web.Request) -> Identity:
    identity = await optional_identity(request)
    if identity is None:
        raise _unauthorized("an access token is required", "UNAUTHENTICATED")
    return identity
