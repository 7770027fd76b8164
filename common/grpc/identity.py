"""Who is calling a gRPC method: the user (access token in `authorization` metadata, verified
here, never a bare user-id header) or a fellow service (`x-govault-service` credential). The
metadata itself is read by `common.grpc.metadata`."""

from __future__ import annotations

import hmac

import structlog

from common.errors import PermissionDenied, Unauthenticated, token_refused
from common.grpc.metadata import Context, bearer_token, service_credential
from common.tokens import Identity, TokenError, TokenVerifier


async def optional_caller(
    context: Context, verifier: TokenVerifier
) -> Identity | None:
    """The caller when a token is present; an invalid token is still an error."""
    token = bearer_token(context)
    if token is None:
        return None
    try:
        identity = await verifier.verify(token)
    except TokenError as exc:
        raise token_refused(str(exc), exc.expired) from None
    structlog.contextvars.bind_contextvars(user_id=identity.user_id)
    return identity


async def caller(context: Context, verifier: TokenVerifier) -> Identity:
    identity = await optional_caller(context, verifier)
    if identity is None:
        raise Unauthenticated("an access token is required")
    return identity


def require_service(context: Context, service_token: str) -> None:
    presented = service_credential(context)
    if not presented:
        raise Unauthenticated("this method is internal: a service credential is required")
    if not hmac.compare_digest(presented.encode(), service_token.encode()):
        raise PermissionDenied("invalid service credential")
