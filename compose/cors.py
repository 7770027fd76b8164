"""Which browser origins the local stack lets in: the API's CORS list and the store's.

Browser clients under development run on the usual local origins (3000: React/Next, 5173: Vite,
5500: Live Server; `localhost` and `127.0.0.1` forms), so `make up` allows those by default.
`GOVAULT_CORS_ORIGINS` replaces the list (comma-separated; empty or `none` allows no origin).
Outside the launcher (containers, an edge started by hand) the edge's own default is none.

The local store (SeaweedFS) answers CORS for the same origins plus the edge's own: the web page the
edge serves PUTs multipart parts straight to presigned URLs on the store's port, another origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

DEV_PORTS = (3000, 5173, 5500)
DEV_ORIGINS = tuple(f"http://{host}:{port}"
                    for port in DEV_PORTS for host in ("localhost", "127.0.0.1"))
_LOOPBACK = ("localhost", "127.0.0.1")


def api_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    """`GOVAULT_CORS_ORIGINS` when set (empty or `none`: no origin), else DEV_ORIGINS."""
    raw = environ.get("GOVAULT_CORS_ORIGINS")
    if raw is None:
        return DEV_ORIGINS
    if raw.strip().lower() == "none":
        return ()
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def store_origins(api: tuple[str, ...], edge_url: str) -> tuple[str, ...]:
    """The API's origins plus the edge's own (both loopback spellings when it is loopback)."""
    parts = urlsplit(edge_url)
    hosts = _LOOPBACK if parts.hostname in _LOOPBACK else (parts.hostname,)
    own = tuple(f"{parts.scheme}://{host}:{parts.port}" for host in hosts)
    return tuple(dict.fromkeys((*api, *own)))


def describe(origins: tuple[str, ...]) -> str:
    """For the start-up summary."""
    listed = ", ".join(origins) if origins else "none"
    return f"{listed} (and the store for presigned PUTs; change with GOVAULT_CORS_ORIGINS)"
