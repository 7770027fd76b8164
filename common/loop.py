"""The event loop every process runs on."""

from __future__ import annotations


def install_event_loop() -> None:
    """uvloop when available (measured +10–17 % here); grpc.aio and aiohttp run under it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return
    uvloop.install()
