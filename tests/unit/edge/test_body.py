"""Request bodies at a minimum rate (`edge.body`), over real HTTP against the edge's middleware:
a body that stops arriving or trickles below the rate is answered 408 and its connection closed;
a slow but steady body is read whole, however long it takes; time the edge spends not reading
(an upstream's flow control) is not the client's; a client that hangs up mid-body is 499, counted
as the client's, never a 500. The timeout here is short (0.5 s) so a test takes seconds; the
paces are far from the bound on either side (5× the minimum rate, or a tenth of it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from common.config import load
from edge import middleware
from edge.body import body
from edge.config import EdgeSettings
from edge.keys import SETTINGS
from edge.request import read_body
from edge.server import _Runner

TIMEOUT_S = 0.5
MIN_RATE = 1000  # bytes/s
ROUTE = "/api/test/body"


async def _json_echo(request: web.Request) -> web.Response:
    return web.json_response({"bytes": len(await read_body(request))})


async def _frames(request: web.Request) -> web.Response:
    """Reads the body in exact 4 KiB frames, pausing 1 s (twice the timeout) after the first, as
    a chunk stream does while the upload service is slow to take bytes."""
    reader = body(request)
    total = 0
    remaining = request.content_length or 0
    while remaining:
        frame = await reader.readexactly(min(4096, remaining))
        if total == 0 and request.query.get("pause"):
            await asyncio.sleep(2 * TIMEOUT_S)
        total += len(frame)
        remaining -= len(frame)
    return web.json_response({"bytes": total})


@dataclass(frozen=True)
class Server:
    host: str
    port: int


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """The app served as the edge serves it (its runner: a client that hangs up does not cancel
    the handler, its reads fail)."""
    settings = load(EdgeSettings, {"GOVAULT_BODY_TIMEOUT_S": str(TIMEOUT_S),
                                   "GOVAULT_BODY_MIN_RATE_BYTES_PER_S": str(MIN_RATE)})
    app = web.Application(middlewares=[middleware.observe])
    app[SETTINGS] = settings
    app.router.add_post(ROUTE, _json_echo)
    app.router.add_post(ROUTE + "/frames", _frames)
    runner = _Runner(app, settings)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield Server("127.0.0.1", runner.addresses[0][1])
    await runner.cleanup()


async def _send(server: Server, path: str, length: int, pieces: list[tuple[bytes, float]],
                content_type: str = "application/json") -> tuple[int, dict[str, object], bool]:
    """Sends the request head, then each (bytes, pause before it); returns the status, the JSON
    body and whether the server closed the connection after answering."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode())
    try:
        for data, pause_s in pieces:
            await asyncio.sleep(pause_s)
            writer.write(data)
            await writer.drain()
        async with asyncio.timeout(30):  # the test's guard against the hang it checks
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            payload = await reader.readexactly(int(headers["Content-Length"]))
            closed = headers.get("Connection") == "close" and await reader.read() == b""
    finally:
        writer.close()
    return int(lines[0].split()[1]), json.loads(payload), closed


async def test_a_body_that_stops_arriving_is_408_and_the_connection_closed(
        server: Server) -> None:
    start = time.monotonic()
    status, answer, closed = await _send(server, ROUTE, 100, [(b'{"email"', 0)])
    assert status == 408 and answer["code"] == "REQUEST_TIMEOUT", answer
    assert set(answer) == {"error", "code", "request_id"} and closed
    assert time.monotonic() - start < 10 * TIMEOUT_S  # generous: bounded, not a hang


async def test_a_trickle_below_the_minimum_rate_is_cut_off(server: Server) -> None:
    """A byte every 0.1 s (10 bytes/s, a hundredth of the rate): never silent for the timeout,
    but falling behind the rate, so cut off long before the 50 bytes are in. (The client may
    see its connection reset rather than read the 408: it was still sending when the edge
    closed; the edge counts the 408.)"""
    before = _count("408")
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(f"POST {ROUTE} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 "Content-Length: 50\r\n\r\n".encode())

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(50):
                await asyncio.sleep(0.1)
                writer.write(b" ")
                await writer.drain()

    sending = asyncio.create_task(trickle())
    try:
        async with asyncio.timeout(30):  # the test's guard against the hang it checks
            with contextlib.suppress(ConnectionError):
                while await reader.read(4096):
                    pass  # until the edge closes the connection
        assert not sending.done(), "the whole body went in: it was not cut off"
    finally:
        sending.cancel()
        writer.close()
    assert _count("408") == before + 1


async def test_a_slow_steady_body_is_read_whole_however_long_it_takes(
        server: Server) -> None:
    """5000 bytes/s (5× the minimum) for 2 s, four times the timeout, in pieces of 500 bytes."""
    payload = json.dumps({"pad": "x" * 9980}).encode()
    pieces = [(payload[i:i + 500], 0.1) for i in range(0, len(payload), 500)]
    status, answer, _ = await _send(server, ROUTE, len(payload), pieces)
    assert (status, answer) == (200, {"bytes": len(payload)})


async def test_a_frame_longer_to_arrive_than_the_timeout_is_not_cut(server: Server) -> None:
    """One 4 KiB frame read at once, arriving at 5000 bytes/s: 0.8 s, more than the timeout,
    but the bytes that arrive meanwhile keep the credit up."""
    data = b"x" * 4096
    pieces = [(data[i:i + 500], 0.1) for i in range(0, len(data), 500)]
    status, answer, _ = await _send(server, ROUTE + "/frames", len(data), pieces,
                                    "application/octet-stream")
    assert (status, answer) == (200, {"bytes": 4096})


async def test_time_the_edge_does_not_read_is_not_the_clients(server: Server) -> None:
    """The handler stops reading for twice the timeout after the first frame (an upstream's
    flow control) while the rest of the body waits in buffers: not a slow client."""
    data = b"x" * 8192
    status, answer, _ = await _send(server, ROUTE + "/frames?pause=1", len(data), [(data, 0)],
                                    "application/octet-stream")
    assert (status, answer) == (200, {"bytes": 8192})


def _count(status: str) -> float:
    value = REGISTRY.get_sample_value("govault_http_requests_total",
                                      {"route": ROUTE, "method": "POST", "status": status})
    return value or 0.0


async def test_a_client_that_hangs_up_mid_body_is_499_not_a_server_error(
        server: Server) -> None:
    before = {status: _count(status) for status in ("499", "500")}
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST " + ROUTE.encode() + b" HTTP/1.1\r\nHost: t\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"")
    await writer.drain()
    writer.close()
    for _ in range(200):  # until the edge has logged and counted the request
        if _count("499") > before["499"]:
            break
        await asyncio.sleep(0.02)
    assert _count("499") == before["499"] + 1
    assert _count("500") == before["500"]
