"""Operational routes: liveness, readiness (every upstream serving; whether the object store
accepts writes) and the OpenAPI document."""

from __future__ import annotations

import asyncio

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.grpc.readiness import STORE_SPACE, advisory_name
from edge import api
from edge.api import ops
from edge.keys import DRAINING, SETTINGS
from edge.upstream import upstreams


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Every service's health, asked at once, each within GOVAULT_READY_TIMEOUT_S (the whole
    answer stays inside the readiness probe's timeout)."""
    if request.app[DRAINING].is_set():  # stopping (edge.server): take this replica out
        return web.json_response({"status": "draining"}, status=503)
    channels = upstreams(request).channels
    timeout_s = request.app[SETTINGS].ready_timeout_s

    async def check(name: str) -> tuple[str, str]:
        stub = health_pb2_grpc.HealthStub(channels[name].channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""),
                                     timeout=timeout_s)
        except Exception:
            return name, "unavailable"
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        return name, "serving" if serving else "not_serving"

    async def store() -> str:
        """The upload service's advisory on the store's space (common.grpc.readiness)."""
        stub = health_pb2_grpc.HealthStub(channels["upload"].channel)
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=advisory_name(STORE_SPACE)),
                timeout=timeout_s)
        except grpc.aio.AioRpcError:
            return "unknown"
        return "ok" if reply.status == health_pb2.HealthCheckResponse.SERVING else "full"

    space_task = asyncio.ensure_future(store())
    results = dict(await asyncio.gather(*(check(name) for name in channels)))
    space = await space_task
    ok = all(state == "serving" for state in results.values())
    status = "unavailable" if not ok else "degraded" if space == "full" else "ready"
    return web.json_response({"status": status, "upstreams": results, "store": space},
                             status=200 if ok else 503)


async def openapi_document(_request: web.Request) -> web.Response:
    return web.json_response(api.document())


def setup_routes(app: web.Application) -> None:
    for operation, handler in ((ops.HEALTH, health), (ops.READY, ready),
                               (ops.OPENAPI, openapi_document)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
