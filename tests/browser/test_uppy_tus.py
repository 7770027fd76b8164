"""Uppy with @uppy/tus (the `uppy` bundle from npm, tests/tus_clients) in Debian's Chromium, on a
small test page served from a development origin (http://localhost:5173, which the stack's CORS
lets in): a 20 MiB file goes up in Uppy's default single PATCH, through a proxy that slows the
upload to about 4 MiB/s (http://localhost:3000 → the edge); once the server has kept a part,
the page is reloaded; the same file added again resumes from the offset the server kept (Uppy
finds the upload in the browser's storage and asks HEAD), and the file is stored byte-exact.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Request, sync_playwright

from tests.support.browser import PageWatch, chromium_path, wait_until
from tests.support.tus_clients import installed_tus_clients

pytestmark = pytest.mark.e2e

DEV_ORIGIN = "http://localhost:5173"
MIB = 1024 * 1024
SIZE = 20 * MIB
PASSWORD = "Test@1234"

PAGE = """<!doctype html>
<meta charset="utf-8"><title>Uppy → GoVault (tus)</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/uppy/uppy.min.css">
<p id="state">loading</p>
<script type="module">
import { Uppy, Tus } from "/uppy/uppy.min.mjs";
const params = new URLSearchParams(location.search);
window.log = [];
const uppy = new Uppy({ autoProceed: false });
uppy.use(Tus, {
  endpoint: params.get("api") + "/api/upload/tus/",
  headers: { Authorization: "Bearer " + params.get("token") },
  retryDelays: [0, 1000, 3000],
});
uppy.on("upload-progress", (file, progress) => {
  window.sent = progress.bytesUploaded;
});
uppy.on("upload-success", (file, response) => {
  window.log.push({ success: response.uploadURL });
  document.getElementById("state").textContent = "done";
});
uppy.on("upload-error", (file, error) => window.log.push({ error: String(error) }));
window.upload = (size) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) % 251;
  // the same name, type, size and date after a reload: the same tus fingerprint
  const file = new File([bytes], "uppy-resumed.bin",
                        { type: "application/octet-stream", lastModified: 1700000000000 });
  uppy.addFile({ name: file.name, type: file.type, data: file, source: "test" });
  return uppy.upload();
};
document.getElementById("state").textContent = "ready";
</script>
"""


def pattern(size: int) -> bytes:
    return bytes((i * 31 + 7) % 251 for i in range(size))


RATE = 4 * MIB  # bytes per second, browser → edge
API_ORIGIN = "http://localhost:3000"  # the slow proxy to the edge


class SlowProxy:
    """A TCP proxy on a free loopback port to `target` that forwards what the client sends at
    about RATE bytes per second (answers at full speed)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Every connection reset at once (what is buffered in between is dropped): the network
        drops under the page."""
        for end in self.open:
            with contextlib.suppress(OSError):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                end.shutdown(socket.SHUT_RDWR)  # wakes the pumps; close() alone would not
                end.close()
        self.open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, slow: bool) -> None:
        try:
            while data := source.recv(64 * 1024):
                sink.sendall(data)
                if slow:
                    time.sleep(len(data) / RATE)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


TYPES = {".mjs": "text/javascript", ".css": "text/css", ".map": "application/json"}


class DevServer(BaseHTTPRequestHandler):
    """The test page at /, the uppy bundle's files under /uppy/."""

    dist: Path

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            self._send(PAGE.encode(), "text/html")
            return
        name = path.removeprefix("/uppy/")
        file = self.dist / name
        if path.startswith("/uppy/") and "/" not in name and file.is_file():
            self._send(file.read_bytes(), TYPES.get(file.suffix, "application/octet-stream"))
            return
        self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dev_browser(stack: Any) -> Iterator[tuple[Browser, SlowProxy]]:
    """Chromium for which http://localhost:5173 is the test page's server on a free port, and
    http://localhost:3000 the slow proxy to the stack's edge."""
    dist = installed_tus_clients() / "node_modules" / "uppy" / "dist"
    handler = type("Served", (DevServer,), {"dist": dist})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    edge = urllib.parse.urlsplit(str(stack.edge_url))
    proxy = SlowProxy((edge.hostname or "127.0.0.1", edge.port or 80))
    rule = (f"--host-resolver-rules=MAP localhost:5173 127.0.0.1:{server.server_address[1]},"
            f"MAP localhost:3000 127.0.0.1:{proxy.port}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(),
                                                 args=["--no-sandbox", rule])
            yield browser, proxy
            browser.close()
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def _get(url: str, token: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers={
        "Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers), response.read()


def test_uppy_resumes_after_a_reload(stack: Any, dev_browser: tuple[Browser, SlowProxy],
                                     page_watch: PageWatch) -> None:
    browser, dev_browser_proxy = dev_browser
    api = str(stack.edge_url)
    tag = hex(id(browser))[2:]
    email = f"uppy-{tag}@example.com"
    _post(api + "/auth/signup", {"username": f"uppy_{tag}", "email": email,
                                 "password": PASSWORD})
    token = _post(api + "/auth/login", {"email": email, "password": PASSWORD})["token"]
    context = browser.new_context()
    page = page_watch.watch(context.new_page(), "uppy")
    patches: list[dict[str, str]] = []
    locations: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "PATCH":
            patches.append(request.headers)

    page.on("request", seen)
    page.on("response", lambda r: locations.append(r.headers.get("location", ""))
            if r.request.method == "POST" and r.status == 201 else None)
    url = f"{DEV_ORIGIN}/?api={API_ORIGIN}&token={token}"
    page.goto(url)
    wait_until(page, lambda: page.locator("#state").text_content() == "ready", "the page")
    page.evaluate(f"() => {{ window.upload({SIZE}); }}")  # not waiting for the upload

    def created() -> str | None:
        return next((u for u in locations if u), None)

    wait_until(page, lambda: created() is not None, "the upload's creation")
    upload_url = api + str(created())
    wait_until(page, lambda: int(_get(upload_url, token, "HEAD")[1]["Upload-Offset"]) > 0,
               "a part kept by the server", timeout_s=120)
    with page_watch.expecting(r"request failed", r"ERR_", r"HTTP 4\d\d", r"console error"):
        dev_browser_proxy.cut()
        page.reload()
        wait_until(page, lambda: page.locator("#state").text_content() == "ready",
                   "the reloaded page")
    status, headers, _ = _get(upload_url, token, "HEAD")
    kept = int(headers["Upload-Offset"])
    assert status == 200 and 5 * MIB <= kept < SIZE  # whole parts survived the reload

    patches.clear()
    page.evaluate(f"() => {{ window.upload({SIZE}); }}")
    wait_until(page, lambda: page.locator("#state").text_content() == "done",
               "the resumed upload", timeout_s=180)
    log = page.evaluate("window.log")
    context.close()
    assert [e for e in log if "error" in e] == []
    assert log[-1]["success"].rstrip("/").rsplit("/", 1)[-1] == upload_url.rsplit("/", 1)[-1]
    assert patches and int(patches[0]["upload-offset"]) == kept  # from where it stopped

    _, _, listing = _get(api + "/api/files/me/owned", token)
    files = [f for f in json.loads(listing)["files"] if f["name"] == "uppy-resumed.bin"]
    assert len(files) == 1 and files[0]["size_bytes"] == SIZE
    _, _, link = _get(f"{api}/api/files/f/{files[0]['file_id']}/download", token)
    with urllib.request.urlopen(json.loads(link)["download_url"], timeout=60) as response:
        assert response.read() == pattern(SIZE)
    page_watch.assert_clean()
