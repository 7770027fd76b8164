"""The metadata of calls between GoVault processes, written and read in one place
(CONTRIBUTING.md "gRPC metadata"): its key names, what a call to another service carries
(`outgoing_metadata`), and how a servicer reads what it was sent: the request id (bound into the
log context by the interceptor and passed on from there), the bearer token, the service
credential and the client address. Verifying the caller is `common.grpc.identity`; the error
trailers (`govault-error-code`, the retry pause) belong to the catalog, `common.errors`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeAlias

import grpc
import structlog

AUTHORIZATION = "authorization"
SERVICE_CREDENTIAL = "x-govault-service"
REQUEST_ID = "x-request-id"
CLIENT_IP = "x-client-ip"
# Initial metadata of WriteTus creating an upload: its id, once it exists (proto TusWriteHeader).
TUS_UPLOAD = "govault-tus-upload"

# The servicer context of any method (the request/response types do not matter here).
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"


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
    """The request id of the call being served (bound by the server's interceptor), to pass on."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def incoming_request_id(metadata: Sequence[Any] | None) -> str:
    """The request id a call carries (`HandlerCallDetails.invocation_metadata`), or a new one."""
    for item in metadata or ():
        if item.key == REQUEST_ID and item.value:
            value = item.value
            return value.decode() if isinstance(value, bytes) else str(value)
    return uuid.uuid4().hex


def metadata_value(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


def bearer_token(context: Context) -> str | None:
    """The access token of `authorization: Bearer <token>`, or None."""
    header = metadata_value(context, AUTHORIZATION)
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def service_credential(context: Context) -> str | None:
    return metadata_value(context, SERVICE_CREDENTIAL)


def client_ip(context: Context) -> str | None:
    """The edge's view of the client address (believed only with a service credential)."""
    return metadata_value(context, CLIENT_IP)
