"""Operational routes: liveness, readiness (every upstream serving) and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edge import openapi
from edge.keys import UPSTREAMS

OPENAPI_PATHS: dict[str, Any] = {
    "/health": {"get": {"summary": "Liveness (no dependencies)", "tags": ["operations"],
                        "responses": {"200": {"description": "alive"}}}},
    "/ready": {"get": {"summary": "Readiness: every upstream service is serving",
                       "tags": ["operations"],
                       "responses": {"200": {"description": "ready"},
                                     "503": {"description": "an upstream is not serving"}}}},
    "/openapi.json": {"get": {"summary": "This document", "tags": ["operations"],
                              "responses": {"200": {"description": "OpenAPI 3 document"}}}},
}


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    upstreams = request.app[UPSTREAMS].by_name

    async def check(name: str) -> tuple[str, str]:
        stub = health_pb2_grpc.HealthStub(upstreams[name].channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except Exception:
            return name, "unavailable"
        serving = reply.status == health_pb2.HealthCheckResponse.SERVING
        return name, "serving" if serving else "not_serving"

    results = dict(await asyncio.gather(*(check(name) for name in upstreams)))
    ok = all(state == "serving" for state in results.values())
    return web.json_response({"status": "ready" if ok else "unavailable", "upstreams": results},
                             status=200 if ok else 503)


async def openapi_document(_request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/openapi.json", openapi_document)
