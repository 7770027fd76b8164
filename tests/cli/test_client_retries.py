"""The client's retries against a real HTTP server that misbehaves on purpose: 503 with
Retry-After, a connection closed before any answer, an error body turned into one exception;
the same for `Transport.fetch` (the store's Range GETs), and a body cut off midway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client import ApiError, TransportError
from client.http import RetryPolicy, Transport

OBJECT = bytes(range(256)) * 4


class Flaky(BaseHTTPRequestHandler):
    """GET /busy: 503 + Retry-After twice, then 200. GET /drop: closes the connection without
    answering. GET /missing: a GoVault error body. GET /object: 503 once, then the Range asked
    for of OBJECT (206). GET /short: promises OBJECT, sends 10 bytes and hangs up. GET /expired:
    S3's 403 XML."""

    protocol_version = "HTTP/1.1"  # keep-alive, as S3 answers
    calls: dict[str, int] = {}

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        n = Flaky.calls[path] = Flaky.calls.get(path, 0) + 1
        if path == "/object" and n > 1:
            first, last = self.headers["Range"].removeprefix("bytes=").split("-")
            self._bytes(206, OBJECT[int(first):int(last) + 1])
        elif path == "/short":
            self._bytes(200, OBJECT[:10], len(OBJECT))
            self.close_connection = True
        elif path == "/expired":
            self._bytes(403, b"<Error><Code>AccessDenied</Code></Error>")
        elif path in ("/busy", "/object") and n <= 2:
            self._answer(503, {"error": "busy", "code": "OVERLOADED", "request_id": "r-503"},
                         {"Retry-After": "0"})
        elif path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif path == "/missing":
            self._answer(404, {"error": "no such file", "code": "FILE_NOT_FOUND",
                               "request_id": "r-404"}, {})
        else:
            self._answer(200, {"ok": True}, {})

    def _answer(self, status: int, body: dict[str, object], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json",
                           "Content-Length": str(len(data)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _bytes(self, status: int, data: bytes, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Flaky.calls = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_503_is_retried_after_retry_after_then_succeeds(server: str) -> None:
    waits: list[float] = []
    transport = Transport(server, retry=RetryPolicy(attempts=4), sleep=waits.append)
    assert transport.request("GET", "/busy", idempotent=False).json() == {"ok": True}
    assert waits == [0.0, 0.0] and Flaky.calls["/busy"] == 3


def test_a_dropped_connection_is_retried_only_when_the_step_is_idempotent(server: str) -> None:
    waits: list[float] = []
    transport = Transport(server, retry=RetryPolicy(attempts=3), sleep=waits.append)
    with pytest.raises(TransportError):
        transport.request("GET", "/drop", idempotent=True)
    assert Flaky.calls["/drop"] == 3 and len(waits) == 2
    with pytest.raises(TransportError):
        transport.request("GET", "/drop", idempotent=False)
    assert Flaky.calls["/drop"] == 4


def test_an_error_body_becomes_one_exception(server: str) -> None:
    transport = Transport(server, sleep=lambda _s: None)
    with pytest.raises(ApiError) as caught:
        transport.request("GET", "/missing", idempotent=True)
    assert (caught.value.status, caught.value.code, caught.value.request_id) == \
        (404, "FILE_NOT_FOUND", "r-404")
    assert Flaky.calls["/missing"] == 1  # a 404 is an answer, not retried


def test_fetch_retries_like_an_idempotent_request_and_reads_the_range(server: str) -> None:
    waits: list[float] = []
    transport = Transport(server, retry=RetryPolicy(attempts=3), sleep=waits.append)
    with transport.fetch(f"{server}/object", headers={"Range": "bytes=100-899"}) as response:
        assert response.status == 206
        assert b"".join(response.blocks(300)) == OBJECT[100:900]
    assert waits == [0.0] and Flaky.calls["/object"] == 2
    with transport.fetch(f"{server}/object", headers={"Range": "bytes=0-9"}) as response:
        assert list(response.blocks(4)) == [OBJECT[:4], OBJECT[4:8], OBJECT[8:10]]
    with pytest.raises(TransportError):
        with transport.fetch(f"{server}/drop"):
            pass
    assert Flaky.calls["/drop"] == 3


def test_fetch_reports_a_cut_off_body_and_an_expired_link(server: str) -> None:
    transport = Transport(server, sleep=lambda _s: None)
    got = b""
    with pytest.raises(TransportError):
        with transport.fetch(f"{server}/short") as response:
            for block in response.blocks(4):
                got += block
    assert got == OBJECT[:10]
    with pytest.raises(ApiError) as caught:
        with transport.fetch(f"{server}/expired?X-Amz-Signature=secret"):
            pass
    assert (caught.value.status, caught.value.code) == (403, "PERMISSION_DENIED")
    assert Flaky.calls["/expired"] == 1
