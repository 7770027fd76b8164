"""Who is calling a gRPC method: the user (access token in `authorization` metadata, verified
here, never a bare user-id header) or a fellow service (`x-govault-service` credential)."""

from __future__ import annotations

import hmac

import grpc
import structlog

from common.errors import PermissionDenied, Unauthenticated
from common.tokens import Identity, TokenError, TokenVerifier

AUTHORIZATION = "authorization"
SERVICE_CREDENTIAL = "x-govault-service"
REQUEST_ID = "x-request-id"
CLIENT_IP = "x-client-ip"


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            value = item.value
            return value.decode() if isinstance(value, bytes) else value
    return None


def bearer_token(context: grpc.aio.ServicerContext) -> str | None:
    header = metadata_value(context, AUTHORIZATION)
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def optional_caller(
    context: grpc.aio.ServicerContext, verifier: TokenVerifier
) -> Identity | None:
    """The caller when a token is present; an invalid token is still an error."""
    token = bearer_token(context)
    if token is None:
        return None
    try:
        identity = await verifier.verify(token)
    except TokenError as exc:
        code = "TOKEN_EXPIRED" if exc.expired else "INVALID_TOKEN"
        raise Unauthenticated(str(exc), code) from None
    structlog.contextvars.bind_contextvars(user_id=identity.user_id)
    return identity


async def caller(context: grpc.aio.ServicerContext, verifier: TokenVerifier) -> Identity:
    identity = await optional_caller(context, verifier)
    if identity is None:
        raise Unauthenticated("an access token is required")
    return identity


def require_service(context: grpc.aio.ServicerContext, service_token: str) -> None:
    presented = metadata_value(context, SERVICE_CREDENTIAL)
    if not presented:
        raise Unauthenticated("this method is internal: a service credential is required")
    if not hmac.compare_digest(presented.encode(), service_token.encode()):
        raise PermissionDenied("invalid service credential")


def outgoing_metadata(
    *,
    token: str | None = None,
    request_id: str | None = None,
    service_token: str | None = None,
    client_ip: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """Metadata for a call to another GoVault service."""
    items: list[tuple[str, str]] = []
    if token:
        items.append((AUTHORIZATION, f"Bearer {token}"))
    if request_id:
        items.append((REQUEST_ID, request_id))
    if service_token:
        items.append((SERVICE_CREDENTIAL, service_token))
    if client_ip:
        items.append((CLIENT_IP, client_ip))
    return tuple(items)


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None
