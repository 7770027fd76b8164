"""Slow, silent and vanishing clients at the edge (issue 22, items 1, 2 and 9), with the stack's
default body settings (a body may send nothing for 10 s, or fall 10 s behind 1 KiB/s):

- headers, then part of a body, then silence: answered 408 REQUEST_TIMEOUT and closed, on a JSON
  route (the issue's `/auth/login` repro) and on a proxy chunk, where nothing is half-written:
  the chunk is not recorded, the session stays resumable and completes byte-exact afterwards;
- slow but steady clients (50 KiB/s, for longer than the timeout) complete;
- one account's chunk streams beyond the per-account cap are answered 429 TOO_MANY_STREAMS with
  Retry-After at once, and another account is not affected;
- a client that hangs up mid-body is logged and counted as 499 CLIENT_CLOSED, never as a server
  error (`unhandled_error`, status 500).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from compose import Stack
from tests.support.logs import ServiceLog
from tests.support.raw_http import Silent
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
BODY_TIMEOUT_S = 10  # the stack's default GOVAULT_BODY_TIMEOUT_S
STREAMS_PER_USER = 16  # the stack's default GOVAULT_MAX_STREAMS_PER_USER
CHUNK_ROUTE = "/api/upload/proxy/chunk"


async def _session(http: aiohttp.ClientSession, base: str, user: User, size: int,
                   **extra: Any) -> str:
    async with http.post(f"{base}/api/upload/proxy/session", headers=user.auth,
                         json={"file_name": "slow.bin", "file_size_bytes": size, **extra}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["upload_uuid"])


def _chunk_headers(user: User, upload_uuid: str) -> dict[str, str]:
    return {**user.auth, "Upload-UUID": upload_uuid,
            "Content-Type": "application/octet-stream"}


async def _now(http: aiohttp.ClientSession, base: str, user: User,
               upload_uuid: str) -> dict[str, Any]:
    """GET /api/upload/status, as it is now."""
    async with http.get(f"{base}/api/upload/status", params={"upload_uuid": upload_uuid},
                        headers=user.auth) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def _status(http: aiohttp.ClientSession, base: str, user: User,
                  upload_uuid: str) -> dict[str, Any]:
    """The session's status once the service has settled a cancelled chunk (a one-chunk file's
    claim is released just after the edge's answer); a generous deadline for a busy machine."""
    deadline = time.monotonic() + 60
    while True:
        body = await _now(http, base, user, upload_uuid)
        if body["status"] != "completing" or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def _send_chunk(http: aiohttp.ClientSession, base: str, user: User, upload_uuid: str,
                      index: int, data: bytes | AsyncIterator[bytes],
                      length: int | None = None) -> tuple[int, dict[str, Any]]:
    headers = _chunk_headers(user, upload_uuid)
    if length is not None:
        headers["Content-Length"] = str(length)
    async with http.post(f"{base}{CHUNK_ROUTE}?id={index}", data=data, headers=headers,
                         timeout=aiohttp.ClientTimeout(total=300)) as r:
        return r.status, await r.json()


async def _download(http: aiohttp.ClientSession, base: str, user: User, file_id: str) -> bytes:
    async with http.get(f"{base}/api/files/f/{file_id}/download", headers=user.auth) as r:
        assert r.status == 200, await r.text()
        url = (await r.json())["download_url"]
    async with http.get(url) as r:
        assert r.status == 200
        return await r.read()


@pytest.fixture
async def user(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "slow")


async def test_bodies_that_stop_arriving_are_408_and_nothing_is_half_written(
        http: aiohttp.ClientSession, edge_url: str, user: User) -> None:
    """The issue's repro (a login whose body stops after 8 bytes) and silent chunks of both
    proxy paths (a one-chunk file's single PUT, a part of a two-chunk file), side by side."""
    one = await _session(http, edge_url, user, MIB)
    two = await _session(http, edge_url, user, 5 * MIB + 100)
    silent = [
        await Silent.open(edge_url, "/auth/login", {"Content-Type": "application/json"}, 100,
                          b'{"email"'),
        await Silent.open(edge_url, f"{CHUNK_ROUTE}?id=0", _chunk_headers(user, one), MIB,
                          b"x" * 1024),
        await Silent.open(edge_url, f"{CHUNK_ROUTE}?id=0", _chunk_headers(user, two), 5 * MIB,
                          b"x" * 1024),
    ]
    for request in silent:
        status, payload, waited = await request.answer()
        assert status == 408 and b'"REQUEST_TIMEOUT"' in payload, (status, payload)
        assert BODY_TIMEOUT_S - 1 <= waited < 4 * BODY_TIMEOUT_S, waited

    # nothing of the silent chunks was kept: both sessions resume from the start and complete
    for upload_uuid in (one, two):
        state = await _status(http, edge_url, user, upload_uuid)
        assert state["status"] in ("pending", "uploading") and state["received"] == [], state
    data = os.urandom(MIB)
    code, answer = await _send_chunk(http, edge_url, user, one, 0, data)
    assert code == 200 and answer["status"] == "completed", answer
    assert await _download(http, edge_url, user, answer["file_id"]) == data
    data = os.urandom(5 * MIB + 100)
    code, answer = await _send_chunk(http, edge_url, user, two, 0, data[:5 * MIB])
    assert code == 200, answer
    code, answer = await _send_chunk(http, edge_url, user, two, 1, data[5 * MIB:])
    assert code == 200 and answer["status"] == "completed", answer
    assert hashlib.sha256(await _download(http, edge_url, user, answer["file_id"])).digest() == \
        hashlib.sha256(data).digest()


async def test_slow_but_steady_uploads_complete(http: aiohttp.ClientSession, edge_url: str,
                                                user: User) -> None:
    """Eight concurrent one-chunk uploads of 1 MiB at 50 KiB/s each: about 20 s, twice the body
    timeout, with pauses of 0.2 s between pieces; all complete byte-exact."""
    async def paced(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 10 * 1024):
            await asyncio.sleep(0.2)
            yield data[start:start + 10 * 1024]

    async def upload() -> tuple[bytes, dict[str, Any]]:
        data = os.urandom(MIB)
        upload_uuid = await _session(http, edge_url, user, len(data))
        code, answer = await _send_chunk(http, edge_url, user, upload_uuid, 0, paced(data),
                                         len(data))
        assert code == 200 and answer["status"] == "completed", answer
        return data, answer

    for data, answer in await asyncio.gather(*(upload() for _ in range(8))):
        assert await _download(http, edge_url, user, answer["file_id"]) == data


async def test_chunk_streams_beyond_the_per_account_cap_are_429_at_once(
        http: aiohttp.ClientSession, edge_url: str, user: User) -> None:
    sessions = [await _session(http, edge_url, user, MIB) for _ in range(STREAMS_PER_USER + 1)]
    held = [await Silent.open(edge_url, f"{CHUNK_ROUTE}?id=0", _chunk_headers(user, uid), MIB,
                              b"x" * 1024) for uid in sessions[:STREAMS_PER_USER]]
    try:
        # each held stream has its slot once its one-chunk session is claimed for it (its
        # stream reached the upload service): wait for that, then the next chunk is refused
        deadline = time.monotonic() + 60  # generous: a busy machine
        for upload_uuid in sessions[:STREAMS_PER_USER]:
            while (await _now(http, edge_url, user, upload_uuid))["status"] != "completing":
                assert time.monotonic() < deadline, \
                    f"the stream of {upload_uuid} never reached the service"
                await asyncio.sleep(0.1)
        async with http.post(f"{edge_url}{CHUNK_ROUTE}?id=0", data=b"x" * 100,
                             headers=_chunk_headers(user, sessions[-1])) as r:
            refused = await r.json()
        assert r.status == 429 and refused["code"] == "TOO_MANY_STREAMS", refused
        assert r.headers.get("Retry-After"), r.headers

        other = await new_user(http, edge_url, "slow_other")
        data = os.urandom(MIB)
        code, answer = await _send_chunk(http, edge_url, other,
                                         await _session(http, edge_url, other, MIB), 0, data)
        assert code == 200 and answer["status"] == "completed", answer
    finally:
        for request in held:
            request.close()
    # the slots come back when the held streams end (their clients hung up)
    data = os.urandom(MIB)
    deadline = time.monotonic() + 60
    while True:
        code, answer = await _send_chunk(http, edge_url, user, sessions[-1], 0, data)
        if code != 429 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert code == 200 and answer["status"] == "completed", answer


async def _metric(http: aiohttp.ClientSession, port: int, name: str,
                  match: Callable[[dict[str, str]], bool]) -> float:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name and match(sample.labels))


async def test_a_client_that_hangs_up_mid_body_is_499_not_a_server_error(
        http: aiohttp.ClientSession, edge_url: str, stack: Stack, user: User,
        service_log: Callable[[str], ServiceLog]) -> None:
    edge_log = service_log("edge")
    port = stack.metrics_ports["edge"]

    def chunk_requests(status: str) -> Callable[[dict[str, str]], bool]:
        return lambda labels: labels.get("route") == CHUNK_ROUTE and labels["status"] == status

    before = {status: await _metric(http, port, "govault_http_requests_total",
                                    chunk_requests(status)) for status in ("499", "500")}
    since = edge_log.mark()
    upload_uuid = await _session(http, edge_url, user, MIB)
    request = await Silent.open(edge_url, f"{CHUNK_ROUTE}?id=0",
                                {**_chunk_headers(user, upload_uuid), "X-Request-ID": upload_uuid},
                                MIB, b"x" * 300 * 1024)
    request.close()  # mid-body
    line = await asyncio.to_thread(edge_log.wait_for,
                                   lambda line: line.get("request_id") == upload_uuid
                                   and line.get("event") == "request", since, 30.0)
    assert (line["status"], line["error_code"]) == (499, "CLIENT_CLOSED"), line
    assert edge_log.find(lambda line: line.get("event") == "unhandled_error", since) == []
    after = {status: await _metric(http, port, "govault_http_requests_total",
                                   chunk_requests(status)) for status in ("499", "500")}
    assert after == {"499": before["499"] + 1, "500": before["500"]}
    status = await _status(http, edge_url, user, upload_uuid)
    assert status["received"] == [], status  # nothing of the lost chunk was kept
