"""The web page: `GET /` (the app), `GET /p/{file_id}` (the anonymous page of a public file) and
`GET /web/{name}` (its modules, styles and licences), all from edge/web/, build-free.

The files are read once at start-up and served from memory with an ETag. The page calls the API on
its own origin (no CORS) and PUTs multipart parts straight to the store, so its
Content-Security-Policy allows scripts and styles from this origin only, and connections to this
origin plus the store's public endpoint (`GOVAULT_S3_PUBLIC_ENDPOINT`; any http(s) origin when the
edge is not told it). The middleware adds the other security headers without replacing these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from edge.keys import SETTINGS

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class WebPage:
    assets: dict[str, Asset]
    headers: dict[str, str]


WEB_PAGE = web.AppKey("web_page", WebPage)


def load_assets(folder: Path = WEB_DIR) -> dict[str, Asset]:
    """Every servable file under `folder`, keyed by its relative path (`vendor/x.js`)."""
    assets = {}
    for path in sorted(folder.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and content_type is not None:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[path.relative_to(folder).as_posix()] = Asset(body, content_type, etag)
    return assets


def content_security_policy(store_endpoint: str | None) -> str:
    connect = "'self' http: https:"
    if store_endpoint:
        parts = urlsplit(store_endpoint)
        connect = f"'self' {parts.scheme}://{parts.netloc}"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")


def _serve(request: web.Request, name: str) -> web.Response:
    page = request.app[WEB_PAGE]
    asset = page.assets.get(name)
    if asset is None:
        raise web.HTTPNotFound()
    headers = {**page.headers, "ETag": asset.etag}
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


async def index(request: web.Request) -> web.Response:
    return _serve(request, "index.html")


async def asset(request: web.Request) -> web.Response:
    return _serve(request, request.match_info["name"])


def load_web_page(s3_public_endpoint: str | None) -> WebPage:
    """The files and response headers, read once at start-up."""
    csp = content_security_policy(s3_public_endpoint)
    return WebPage(load_assets(), {"Content-Security-Policy": csp, "Cache-Control": "no-cache"})


def setup_routes(app: web.Application) -> None:
    app[WEB_PAGE] = load_web_page(app[SETTINGS].s3_public_endpoint)
    app.router.add_get("/", index)
    app.router.add_get("/p/{file_id}", index)
    app.router.add_get("/web/{name:.+}", asset)
