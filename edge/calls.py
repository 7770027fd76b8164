"""The one helper routes use to call a service: `await rpc(request, "files", "GetFile", msg)`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.tokens import Identity
from edge.keys import REQUEST_ID, SETTINGS, UPSTREAMS
from edge.upstreams import unary


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


def client_ip(request: web.Request) -> str:
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.remote or ""


async def rpc(
    request: web.Request,
    upstream: str,
    method: str,
    message: Any,
    *,
    identity: Identity | None = None,
    timeout_s: float | None = None,
) -> Any:
    upstreams = request.app[UPSTREAMS]
    settings = request.app[SETTINGS]
    stub = getattr(upstreams, upstream)
    return await unary(
        upstreams,
        upstream,
        getattr(stub, method),
        message,
        request_id=request_id(request),
        timeout_s=timeout_s or settings.rpc_timeout_s,
        token=identity.token if identity else None,
        client_ip=client_ip(request),
    )
