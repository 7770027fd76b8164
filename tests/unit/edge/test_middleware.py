"""The edge middleware as a browser or client sees it, over real HTTP: security headers (a
route may send its own), CORS for allowed and refused origins (simple requests and preflights),
and the error body and status for every code of the catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common.config import load
from common.errors import CODES
from edge import middleware
from edge.config import EdgeSettings
from edge.errors import ApiError
from edge.keys import SETTINGS

Client = TestClient[web.Request, web.Application]
ALLOWED = "http://localhost:5173"
PAGE_CSP = "default-src 'self'"


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _page(_request: web.Request) -> web.Response:
    return web.Response(text="<html></html>", content_type="text/html",
                        headers={"Content-Security-Policy": PAGE_CSP})


async def _fail(request: web.Request) -> web.Response:
    raise ApiError(request.query["code"], "it failed")


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    app = web.Application(middlewares=[middleware.observe, middleware.cors_preflight])
    app[SETTINGS] = load(EdgeSettings, {"GOVAULT_CORS_ORIGINS": ALLOWED})
    app.router.add_get("/api/files/me/owned", _ok)
    app.router.add_post("/api/upload/proxy/chunk", _ok)
    app.router.add_get("/", _page)
    app.router.add_get("/fail", _fail)
    test_client: Client = TestClient(TestServer(app))
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_security_headers_on_every_answer(client: Client) -> None:
    for path in ("/api/files/me/owned", "/no/such/route"):
        response = await client.get(path)
        for name, value in middleware.SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)


async def test_a_route_may_send_its_own_content_security_policy(client: Client) -> None:
    response = await client.get("/")
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_cors_allowed_origin(client: Client) -> None:
    response = await client.get("/api/files/me/owned", headers={"Origin": ALLOWED})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers["Vary"]
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
            "RateLimit-Reset"} <= exposed


async def test_cors_preflight_from_an_allowed_origin(client: Client) -> None:
    response = await client.options("/api/upload/proxy/chunk", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Upload-UUID, Checksum, Authorization"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"Upload-UUID", "Checksum", "Authorization", "Content-Type"} <= allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0


async def test_cors_refused_origin(client: Client) -> None:
    evil = "https://evil.example"
    simple = await client.get("/api/files/me/owned", headers={"Origin": evil})
    assert "Access-Control-Allow-Origin" not in simple.headers
    preflight = await client.options("/api/files/me/owned", headers={
        "Origin": evil, "Access-Control-Request-Method": "GET"})
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    body = await preflight.json()
    assert body["code"] == "PERMISSION_DENIED" and body["request_id"]


@pytest.mark.parametrize("code", sorted(CODES))
async def test_every_code_is_answered_with_its_catalog_status(client: Client,
                                                              code: str) -> None:
    response = await client.get("/fail", params={"code": code})
    assert response.status == CODES[code].http
    body = await response.json()
    assert body["code"] == code and body["request_id"] == response.headers["X-Request-ID"]
