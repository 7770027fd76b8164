"""Who is calling a gRPC method: the user (access token in `authorization` metadata, verified
here, never a bare user-id header) or a fellow service (`x-govault-service` credential)."""

from __future__ import annotations

import hmac
from typing import Any, TypeAlias

import grpc
import structlog

from common.errors import PermissionDenied, Unauthenticated, token_refused
from common.grpc.client import AUTHORIZATION, CLIENT_IP, SERVICE_CREDENTIAL
from common.tokens import Identity, TokenError, TokenVerifier

__all__ = ["CLIENT_IP", "Context", "caller", "metadata_value", "optional_caller",
           "require_service"]

# The servicer context of any method (the request/response types do not matter here).
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


def metadata_value(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


def bearer_token(context: Context) -> str | None:
    header = metadata_value(context, AUTHORIZATION)
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


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
    presented = metadata_value(context, SERVICE_CREDENTIAL)
    if not presented:
        raise Unauthenticated("this method is internal: a service credential is required")
    if not hmac.compare_digest(presented.encode(), service_token.encode()):
        raise PermissionDenied("invalid service credential")
