"""Hostile input at the edge, as a client sends it (issue 10): every malformed request ends in a
clear 4xx with the standard error body, decided before any RPC, never a 500.

- integers beyond what their proto field / database column holds (int32 chunk index and part
  numbers, int64 sizes), non-ASCII digits in query integers;
- JSON nested deeper than any decoder follows (under the 64 KiB limit), lone surrogates, NUL in
  strings;
- a JSON body that arrives in several reads (read whole), oversized headers (JSON error body);
- the OpenAPI document describes what the server enforces (required fields, page >= 1, the
  statuses a client can meet).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from compose import Stack
from tests.support.processes import start_edge, start_service
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

INT32_OVER = 2**31
INT64_OVER = 2**63
A_UUID = "00000000-0000-4000-8000-000000000000"
JSON_ROUTES = [
    ("POST", "/auth/signup"), ("POST", "/auth/login"), ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"), ("POST", "/api/upload/proxy/session"),
    ("POST", "/api/upload/multipart/session"), ("POST", "/api/upload/multipart/part"),
    ("POST", "/api/upload/multipart/presign"), ("POST", "/api/upload/multipart/complete"),
    ("POST", "/api/upload/abort"), ("PATCH", f"/api/files/f/{A_UUID}"),
    ("POST", f"/api/files/f/{A_UUID}/copy"), ("POST", f"/api/files/f/{A_UUID}/shares"),
    ("PATCH", f"/api/files/f/{A_UUID}/shares/{A_UUID}"),
]


@pytest.fixture
async def user(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "hostile")


async def _send(http: aiohttp.ClientSession, method: str, url: str, user: User | None,
                raw: bytes | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = {**(user.auth if user else {}), **kwargs.pop("headers", {})}
    if raw is not None:
        headers.setdefault("Content-Type", "application/json")
    data = raw if raw is not None else kwargs.pop("data", None)
    async with http.request(method, url, headers=headers, data=data, **kwargs) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


def _assert_bad_input(status: int, body: Any, what: object) -> None:
    assert status == 400, (what, status, body)
    assert isinstance(body, dict) and set(body) == {"error", "code", "request_id"}, (what, body)


# 1, 2: integers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "payload"), [
    ("/api/upload/proxy/session", {"file_name": "a", "file_size_bytes": INT64_OVER}),
    ("/api/upload/multipart/session", {"file_name": "a", "file_size_bytes": INT64_OVER,
                                       "part_size_bytes": 5 * 2**20}),
    ("/api/upload/multipart/session", {"file_name": "a", "file_size_bytes": 10 * 2**20,
                                       "part_size_bytes": INT64_OVER}),
    ("/api/upload/multipart/part", {"upload_uuid": A_UUID, "part_number": INT32_OVER,
                                    "size_bytes": 1, "etag": "e"}),
    ("/api/upload/multipart/part", {"upload_uuid": A_UUID, "part_number": 1,
                                    "size_bytes": INT64_OVER, "etag": "e"}),
    ("/api/upload/multipart/presign", {"upload_uuid": A_UUID, "part_numbers": [INT32_OVER]}),
], ids=["proxy-size", "mp-size", "mp-part-size", "part-number", "part-size", "presign"])
async def test_integers_beyond_their_field_are_400(http: aiohttp.ClientSession, edge_url: str,
                                                   user: User, path: str,
                                                   payload: dict[str, Any]) -> None:
    status, body = await _send(http, "POST", edge_url + path, user, json=payload)
    _assert_bad_input(status, body, payload)


@pytest.mark.parametrize("chunk_id", ["2147483648", "99999999999999999999", "%C2%B2", "-1",
                                      "1e3"])
async def test_chunk_index_out_of_int32_or_not_ascii_digits_is_400(
        http: aiohttp.ClientSession, edge_url: str, user: User, chunk_id: str) -> None:
    url = f"{edge_url}/api/upload/proxy/chunk?id={chunk_id}"
    status, body = await _send(http, "POST", url, user, data=b"x",
                               headers={"Upload-UUID": A_UUID})
    _assert_bad_input(status, body, chunk_id)


@pytest.mark.parametrize("query", ["page=0", "page=%C2%B2", "page=2147483648",
                                   "limit=99999999999"])
async def test_page_parameters_are_range_checked(http: aiohttp.ClientSession, edge_url: str,
                                                 user: User, query: str) -> None:
    status, body = await _send(http, "GET", f"{edge_url}/api/files/me/owned?{query}", user)
    _assert_bad_input(status, body, query)


async def test_what_the_description_allows_is_accepted(http: aiohttp.ClientSession,
                                                      edge_url: str, user: User) -> None:
    """Found by the fuzz run (defect 13): 1024.0 is an integer (JSON Schema), the last page the
    description allows is answered, an empty page parameter counts as absent; a file name the
    description forbids is refused at the edge with a message naming the field."""
    status, body = await _send(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                               json={"file_name": "a.txt", "file_size_bytes": 1024.0})
    assert status == 200, body
    for query in ("page=1000000", "page=&limit="):
        status, body = await _send(http, "GET", f"{edge_url}/api/files/me/owned?{query}", user)
        assert status == 200 and body["files"] == [], body
    status, body = await _send(http, "GET", f"{edge_url}/api/files/me/owned?page=1000001", user)
    _assert_bad_input(status, body, "page=1000001")
    status, body = await _send(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                               json={"file_name": "..", "file_size_bytes": 1})
    _assert_bad_input(status, body, "..")
    assert "$.file_name" in body["error"] and "regex" not in body["error"]


# 3, 4, 5: JSON that decoders choke on ----------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=[p for _, p in JSON_ROUTES])
async def test_deeply_nested_json_is_400(http: aiohttp.ClientSession, edge_url: str, user: User,
                                         method: str, path: str) -> None:
    depth = 30_000  # 60,000 bytes: under the 64 KiB limit
    for raw in (b"[" * depth + b"]" * depth,
                b'{"x": ' + b"[" * depth + b"]" * depth + b', "name": "a"}'):
        status, body = await _send(http, method, edge_url + path, user, raw=raw)
        _assert_bad_input(status, body, path)


@pytest.mark.parametrize(("path", "raw"), [
    ("/auth/refresh", rb'{"refresh_token": "\ud800"}'),
    ("/auth/logout", rb'{"refresh_token": "a\udfffb"}'),
    ("/auth/login", rb'{"email": "\ud800@example.com", "password": "whatever12"}'),
    ("/auth/signup",
     rb'{"username": "abc", "email": "a@example.com", "password": "\ud800xxxxxxxx"}'),
    ("/api/upload/proxy/session", rb'{"file_name": "\ud800", "file_size_bytes": 1}'),
    ("/api/upload/multipart/part",
     rb'{"upload_uuid": "00000000-0000-4000-8000-000000000000", "part_number": 1, '
     rb'"size_bytes": 1, "etag": "\udc00"}'),
], ids=["refresh", "logout", "login", "signup", "proxy-session", "part"])
async def test_lone_surrogates_are_400(http: aiohttp.ClientSession, edge_url: str, user: User,
                                       path: str, raw: bytes) -> None:
    status, body = await _send(http, "POST", edge_url + path, user, raw=raw)
    _assert_bad_input(status, body, path)


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("POST", "/auth/login", {"email": "a\u0000@example.com", "password": "whatever12"}),
    ("POST", "/auth/login", {"email": "a@example.com", "password": "whatever\u000012"}),
    ("POST", "/auth/signup", {"username": "nul_user", "email": "n\u0000@example.com",
                              "password": "Test@1234"}),
    ("POST", "/auth/refresh", {"refresh_token": "\u0000"}),
    ("POST", "/api/upload/proxy/session", {"file_name": "a\u0000b", "file_size_bytes": 1}),
    ("POST", "/api/upload/multipart/part", {"upload_uuid": A_UUID, "part_number": 1,
                                            "size_bytes": 1, "etag": "e\u0000"}),
    ("PATCH", f"/api/files/f/{A_UUID}", {"name": "a\u0000"}),
    ("POST", f"/api/files/f/{A_UUID}/shares",
     {"recipients": [{"email": "b\u0000@example.com", "permission": "viewer"}]}),
], ids=["login-email", "login-password", "signup-email", "refresh", "file-name", "etag",
        "rename", "share-email"])
async def test_nul_in_any_string_is_400(http: aiohttp.ClientSession, edge_url: str, user: User,
                                        method: str, path: str, payload: dict[str, Any]) -> None:
    status, body = await _send(http, method, edge_url + path, user, json=payload)
    _assert_bad_input(status, body, payload)
    assert body["code"] == "INVALID_ARGUMENT"


# 9: a body in several reads --------------------------------------------------------------------

async def _raw_exchange(edge_url: str, head: bytes, pieces: list[bytes],
                        pause_s: float) -> bytes:
    parts = urlsplit(edge_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause_s)
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_json_body_arriving_in_several_reads_is_read_whole(edge_url: str) -> None:
    body = b'{"email": "nobody@example.com", "password": "wrong-password-1"}'
    head = (b"POST /auth/login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    answer = await _raw_exchange(edge_url, head, [body[:10], body[10:]], 0.05)
    status_line = answer.split(b"\r\n", 1)[0]
    # read whole: the wrong password is judged (400 INVALID_CREDENTIALS), not the JSON
    assert b" 400 " in status_line and b"INVALID_CREDENTIALS" in answer, answer[:600]


# 12: oversized headers ---------------------------------------------------------------------------

async def test_oversized_headers_answer_the_json_error_body(http: aiohttp.ClientSession,
                                                            edge_url: str) -> None:
    async with http.get(f"{edge_url}/health", headers={"X-Big": "x" * 9000}) as r:
        assert r.status in (400, 431)
        assert r.content_type == "application/json"
        body = await r.json()
        assert set(body) == {"error", "code", "request_id"} and body["code"]


# 13: the description matches the server ----------------------------------------------------------

async def test_openapi_marks_required_fields_and_the_statuses_clients_meet(
        http: aiohttp.ClientSession, edge_url: str) -> None:
    async with http.get(f"{edge_url}/openapi.json") as r:
        document = await r.json()
    schemas = document["components"]["schemas"]

    def body_schema(path: str, method: str = "post") -> dict[str, Any]:
        ref = document["paths"][path][method]["requestBody"]["content"]["application/json"][
            "schema"]["$ref"]
        schema: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return schema

    assert set(body_schema("/auth/login")["required"]) == {"email", "password"}
    assert set(body_schema("/api/upload/multipart/part")["required"]) == {
        "upload_uuid", "part_number", "size_bytes", "etag"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = set(operation["responses"])
            if path not in ("/health", "/ready", "/openapi.json"):
                assert {"429", "503"} <= responses, (method, path)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert {"400", "413", "415"} <= responses, (method, path)
    page = next(p for p in document["paths"]["/api/files/me/owned"]["get"]["parameters"]
                if p["name"] == "page")
    assert page["schema"]["minimum"] == 1


# 12: connection limits (an extra edge with small limits, next to the session's stack) --------

@pytest.fixture
def small_edge(stack: Stack, tmp_path: Path) -> Iterator[str]:
    edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                           keepalive_timeout_s="1", max_connections_per_client="3",
                           rate_limit_enabled="false")
    try:
        yield url
    finally:
        edge.stop()


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection (EOF) within a generous bound."""
    try:
        return await asyncio.wait_for(reader.read(65536), 15) == b""
    except (TimeoutError, ConnectionError):
        return False


async def test_a_connection_that_never_finishes_its_headers_is_closed(small_edge: str) -> None:
    parts = urlsplit(small_edge)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: ")  # never ends
        await writer.drain()
        assert await _closed_by_server(reader)
    finally:
        writer.close()


async def test_connections_per_client_address_are_capped(small_edge: str) -> None:
    parts = urlsplit(small_edge)
    held = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(3)]
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            assert await _closed_by_server(reader)  # the fourth one
        finally:
            writer.close()
        ok_reader, ok_writer = held[0]
        ok_writer.write(b"GET /health HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(ok_reader.read(65536), 10)
        assert answer.startswith(b"HTTP/1.1 200")  # the ones within the cap are served
    finally:
        for _, writer in held:
            writer.close()


# 8: the upload service dies while a chunk streams ------------------------------------------------

STREAMS = 6

async def test_upload_service_dying_mid_chunk_is_503_with_retry_after(
        stack: Stack, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    user = await new_user(http, stack.edge_url, "dying")
    upload, upload_addr = start_service("svc_upload", stack.service_env("upload"),
                                        tmp_path / "upload.log")
    edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                           upload_addr=upload_addr, rate_limit_enabled="false")
    try:
        size = 10 * 2**20
        sessions = []
        for _ in range(STREAMS):
            status, session = await _send(http, "POST", f"{url}/api/upload/proxy/session", user,
                                          json={"file_name": "dying.bin", "file_size_bytes": size})
            assert status == 200, session
            sessions.append(session["upload_uuid"])
        piece = os.urandom(64 * 1024)
        started = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            for i in range(size // len(piece)):
                if i == 16:
                    started.set()
                yield piece
                await asyncio.sleep(0.01)

        async def send(upload_uuid: str) -> tuple[int, dict[str, Any], str | None]:
            headers = {**user.auth, "Upload-UUID": upload_uuid, "Content-Length": str(size)}
            async with http.post(f"{url}/api/upload/proxy/chunk?id=0", data=slow_body(),
                                 headers=headers) as r:
                return r.status, await r.json(), r.headers.get("Retry-After")

        sends = [asyncio.create_task(send(u)) for u in sessions]
        await started.wait()
        upload.kill()  # kill -9 while the chunks stream through the edge
        for status, body, retry_after in await asyncio.gather(*sends):
            assert status == 503, body
            assert body["code"] == "UNAVAILABLE"
            assert retry_after is not None and int(retry_after) >= 1
    finally:
        edge.stop()
        upload.stop()
