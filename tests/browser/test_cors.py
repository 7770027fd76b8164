"""A browser client on http://localhost:3000 (a development server, as `make up` expects) talks to
the stack: the preflights pass, and the browser itself lets the page read the API's answers to
requests carrying its bearer token and the ETag of a part it PUTs to a presigned URL on the store.
Origins outside the list are refused by both.

The development server is a real one on a free loopback port that Chromium reaches as
localhost:3000 (`--host-resolver-rules`): port 3000 itself may be taken on a shared machine, and a
page Playwright fulfils itself has no address, so Chromium's local-network-access check would
treat it as a public page calling loopback.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import PageWatch, chromium_path

pytestmark = pytest.mark.e2e

DEV_ORIGIN = "http://localhost:3000"
PASSWORD = "Test@1234"

# What a client written for the original GoVault does, run in the page at DEV_ORIGIN.
CLIENT = """
async ([api, email, password]) => {
  const json = async (path, method, body, token) => {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(api + path, { method, headers, body: body && JSON.stringify(body) });
    return { status: r.status, requestId: r.headers.get("X-Request-ID"), body: await r.json() };
  };
  const out = {};
  const username = email.split("@")[0].replace("-", "_");
  out.signup = await json("/auth/signup", "POST", { username, email, password });
  const login = await json("/auth/login", "POST", { email, password });
  out.login = login.status;
  const token = login.body.token;
  out.me = await json("/auth/me", "GET", undefined, token);
  const bytes = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
  const session = await json("/api/upload/multipart/session", "POST", {
    file_name: "from-dev-server.bin",
    file_size_bytes: bytes.length,
    part_size_bytes: 5 * 1024 * 1024,
  }, token);
  out.session = session.status;
  const put = await fetch(session.body.parts[0].url, { method: "PUT", body: bytes });
  out.put = put.status;
  out.etag = put.headers.get("ETag");
  await put.text();
  const uuid = session.body.upload_uuid;
  const part = await json("/api/upload/multipart/part", "POST",
    { upload_uuid: uuid, part_number: 1, size_bytes: bytes.length, etag: out.etag }, token);
  out.part = part.status;
  const done = await json("/api/upload/multipart/complete", "POST", { upload_uuid: uuid }, token);
  out.complete = done.status;
  out.size = done.body.size_bytes;
  return out;
}
"""


def preflight(url: str, origin: str, method: str, headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def presigned_put_url(stack: Any) -> str:
    from datetime import timedelta

    from compose import seaweed

    s3 = seaweed.client(stack.s3_endpoint, stack.s3_access_key, stack.s3_secret_key,
                        stack.s3_region)
    return str(s3.get_presigned_url("PUT", stack.s3_bucket, "cors-probe/object",
                                    expires=timedelta(minutes=5)))


class DevPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>dev client</title><p>dev client</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dev_browser() -> Iterator[Browser]:
    """Chromium for which http://localhost:3000 is a real server on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), DevPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rule = f"--host-resolver-rules=MAP localhost:3000 127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(),
                                                 args=["--no-sandbox", rule])
            yield browser
            browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_preflights_from_dev_origins_pass_and_others_are_refused(stack: Any) -> None:
    api = f"{stack.edge_url}/api/files/me/owned"
    status, headers = preflight(api, DEV_ORIGIN, "GET", "authorization")
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == DEV_ORIGIN
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()
    assert preflight(api, "http://evil.example", "GET", "authorization")[0] == 403

    put = presigned_put_url(stack)
    for origin in ("http://localhost:5173", "http://127.0.0.1:5500", DEV_ORIGIN):
        status, headers = preflight(put, origin, "PUT", "content-type")
        assert status == 200, origin
        assert headers["Access-Control-Allow-Origin"] == origin
        assert "etag" in headers["Access-Control-Expose-Headers"].lower()
    assert preflight(put, "http://evil.example", "PUT", "content-type")[0] == 403


def test_browser_client_on_localhost_3000_uses_api_and_store(
        stack: Any, dev_browser: Browser, page_watch: PageWatch) -> None:
    context = dev_browser.new_context()
    page = page_watch.watch(context.new_page(), "dev-client")
    page.goto(f"{DEV_ORIGIN}/")
    assert page.evaluate("location.origin") == DEV_ORIGIN
    email = f"devclient-{id(page):x}@example.com"
    out = page.evaluate(CLIENT, [str(stack.edge_url), email, PASSWORD])
    context.close()

    assert out["signup"]["status"] == 200
    assert out["login"] == 200
    assert out["me"]["status"] == 200 and out["me"]["body"]["email"] == email
    assert out["me"]["requestId"]  # exposed to the page
    assert out["session"] == 200
    assert out["put"] == 200 and out["etag"]
    assert out["part"] == 200
    assert out["complete"] == 200 and out["size"] == 1024 * 1024
    page_watch.assert_clean()
