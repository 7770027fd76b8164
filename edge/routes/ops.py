"""Operational routes: liveness, readiness (every upstream serving) and the OpenAPI document."""

from __future__ import annotations

import asyncio

from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edge import api
from edge.api import ops
from edge.upstream import upstreams


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    channels = upstreams(request).channels

    async def check(name: str) -> tuple[str, str]:
        stub = health_pb2_grpc.HealthStub(channels[name].channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except Exception:
            return name, "unavailable"
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        return name, "serving" if serving else "not_serving"

    results = dict(await asyncio.gather(*(check(name) for name in channels)))
    ok = all(state == "serving" for state in results.values())
    return web.json_response({"status": "ready" if ok else "unavailable", "upstreams": results},
                             status=200 if ok else 503)


async def openapi_document(_request: web.Request) -> web.Response:
    return web.json_response(api.document())


def setup_routes(app: web.Application) -> None:
    for operation, handler in ((ops.HEALTH, health), (ops.READY, ready),
                               (ops.OPENAPI, openapi_document)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
