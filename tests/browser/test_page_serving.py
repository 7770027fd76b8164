"""How the edge serves the web page over plain HTTP: the HTML at / and /p/<id>, its modules and
styles with their types, the page's own Content-Security-Policy next to the edge's other security
headers, revalidation with ETag, and nothing outside edge/web/."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.parametrize("path", ["/", "/p/0b9e4c52-4f43-4d43-9d38-2b1a4d0c8f3e"])
def test_the_page_is_served_with_its_own_policy(stack: Any, path: str) -> None:
    status, headers, body = get(stack.edge_url + path)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/web/app.js">' in body
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert f"connect-src 'self' {stack.s3_endpoint}" in policy  # presigned PUTs to the store
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Request-ID"]


@pytest.mark.parametrize(("name", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("api.js", "text/javascript; charset=utf-8"),
    ("upload.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("icon.svg", "image/svg+xml"),
])
def test_assets_have_their_types_and_revalidate(stack: Any, name: str, content_type: str) -> None:
    status, headers, body = get(f"{stack.edge_url}/web/{name}")
    assert status == 200 and body
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-cache"
    status, _, body = get(f"{stack.edge_url}/web/{name}", {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


@pytest.mark.parametrize("path", ["/web/missing.js", "/web/../routes/web.py",
                                  "/web/%2e%2e/%2e%2e/pyproject.toml", "/web/"])
def test_nothing_else_is_served(stack: Any, path: str) -> None:
    status, headers, _ = get(stack.edge_url + path)
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")


def test_the_api_keeps_the_strict_policy(stack: Any) -> None:
    status, headers, _ = get(f"{stack.edge_url}/health")
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]
