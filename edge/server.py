"""Serving the edge app: the HTTP connection limits aiohttp's `run_app` does not expose, and a
graceful stop.

- Keep-alive timeout (`keepalive_timeout_s`): an idle connection is closed after it, and (in the
  aiohttp version pinned) so is a connection that has not completed a request's headers within
  it, so half-open and trickling connections cannot hold file descriptors for long.
- A cap on open connections per client address (`max_connections_per_client`, 0 = none): the
  connection over the cap is closed at once. It counts the TCP peer: behind a proxy every client
  is the proxy, so set it to 0 there.
- Listen backlog (`listen_backlog`, capped by the kernel's `net.core.somaxconn`): aiohttp's
  default of 128 let a burst of connects overflow the accept queue (5 of 1,500 rapid connects
  waited a second for a SYN retransmit); the gRPC servers listen with somaxconn already.
- Errors found while parsing a request (headers over 8 KiB, a malformed request line) answer the
  standard JSON error body instead of aiohttp's plain text.
- SIGTERM/SIGINT: first `drain_s` of serving on with every answer closing its connection and
  /ready 503 (clients move to new connections, i.e. to another replica), then stop accepting,
  let in-flight requests finish within `shutdown_grace_s`, close the channels; a second signal
  exits at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from common.logging import get_logger
from edge.config import EdgeSettings
from edge.errors import ApiError, error_body
from edge.keys import DRAINING
from edge.middleware import SECURITY_HEADERS

log = get_logger(__name__)


class _Bare(web.Response):
    """A response without aiohttp's `Server` header: the app's own responses lose it in
    `middleware.drop_server_header`, but a request refused while parsing never reaches the app."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall("Server", None)


class _Handler(RequestHandler):
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: nothing more can be sent
            raise ConnectionError("the response has started, cannot send an error")
        if status >= 500:
            log.error("http_protocol_error", status=status, error=type(exc).__name__)
            error = ApiError("INTERNAL", "internal error")
        else:
            reason = message or "malformed request"
            # aiohttp's parser reports every malformed request as 400
            error = ApiError("INVALID_ARGUMENT", f"malformed request: {reason}"[:300])
        request_id = uuid.uuid4().hex
        response = _Bare(text=json.dumps(error_body(error, request_id)), status=error.status,
                         content_type="application/json", headers=error.headers)
        response.headers["X-Request-ID"] = request_id
        response.headers.update(SECURITY_HEADERS)
        response.force_close()
        return response


class _Server(web.Server):
    """aiohttp's server with a cap on connections per client address."""

    def __init__(self, made: web.Server, *, max_per_client: int,
                 handler_kwargs: dict[str, Any]) -> None:
        super().__init__(made.request_handler, request_factory=made.request_factory,
                         handler_cancellation=made.handler_cancellation, **handler_kwargs)
        self._handler_kwargs = handler_kwargs
        self._max_per_client = max_per_client
        self._per_client: Counter[str] = Counter()
        self._address: dict[RequestHandler, str] = {}

    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=asyncio.get_running_loop(), **self._handler_kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if not self._max_per_client:
            return
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if self._per_client[address] >= self._max_per_client:
            handler.force_close()
            return
        self._per_client[address] += 1
        self._address[handler] = address

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        address = self._address.pop(handler, None)
        if address is not None:
            self._per_client[address] -= 1
            if not self._per_client[address]:
                del self._per_client[address]
        super().connection_lost(handler, exc)


class _Runner(web.AppRunner):
    def __init__(self, app: web.Application, settings: EdgeSettings) -> None:
        self._handler_kwargs: dict[str, Any] = {
            "keepalive_timeout": settings.keepalive_timeout_s, "access_log": None}
        self._max_per_client = settings.max_connections_per_client
        super().__init__(app, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s,
                         **self._handler_kwargs)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # runs the app's start-up
        return _Server(made, max_per_client=self._max_per_client,
                       handler_kwargs=self._handler_kwargs)


async def serve(app: web.Application, settings: EdgeSettings) -> None:
    """Serves until SIGTERM/SIGINT, then drains and cleans up."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(1)  # a second signal: at once
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    runner = _Runner(app, settings)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.listen_host, settings.edge_port,
                           backlog=settings.listen_backlog)
        await site.start()
        log.info("edge_listening", host=settings.listen_host, port=settings.edge_port)
        await stop.wait()
        if settings.drain_s:
            app[DRAINING].set()
            log.info("edge_draining", drain_s=settings.drain_s)
            await asyncio.sleep(settings.drain_s)
        log.info("edge_stopping", grace_s=settings.shutdown_grace_s)
    finally:
        await runner.cleanup()
