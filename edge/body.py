"""Reading request bodies at a minimum transfer rate, as nginx (`client_body_timeout`) and Apache
(mod_reqtimeout `MinRate`) do: a body that stops arriving is cut off, a slow but steady one is not.

The client holds a credit of time, at most `body_timeout_s`. Time the edge spends waiting for the
body's bytes is taken from it, and every byte received gives 1 / `body_min_rate_bytes_per_s`
seconds back. When the credit runs out while the edge waits, the request is answered
408 REQUEST_TIMEOUT and its connection closed (the handler's upstream stream, if any, is
cancelled by the exception on its way out). So:

- a client that sends nothing for `body_timeout_s` (headers, then silence) is cut after that;
- a client that trickles below the minimum rate is cut once it is `body_timeout_s` behind it;
- one that sends at the minimum rate or faster never is, however long its body;
- only waiting counts: while a chunk's bytes wait for the upload service (flow control), the
  edge does not read, and the clock does not run.

The clock is lazy: one timer per read, due when the credit would run out; when it fires, the
bytes that arrived meanwhile are counted (the request's `total_bytes`) and it is set again, so a
read of a 256 KiB frame at 20 KiB/s is not cut for taking longer than the credit.

A client that hangs up mid-body is 499 CLIENT_CLOSED: the client's doing, logged and counted as
such, never as a server error. A body whose framing is broken (chunked encoding, a connection
closed short of its Content-Length) is 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from edge.config import EdgeSettings
from edge.errors import ApiError
from edge.keys import SETTINGS

# Closing the connection is the only way to stop a body the edge will not read any more.
CLOSE_CODES = frozenset({"REQUEST_TIMEOUT", "CLIENT_CLOSED"})


class Body:
    """One request's body, read under the minimum-rate clock (`body(request)`)."""

    __slots__ = ("_content", "_counted", "_credit_s", "_loop", "_per_byte_s", "_since",
                 "_timeout_s", "_timer", "expired")

    def __init__(self, request: web.Request, settings: EdgeSettings) -> None:
        self._content = request.content
        self._timeout_s = settings.body_timeout_s
        self._per_byte_s = 1.0 / settings.body_min_rate_bytes_per_s
        self._credit_s = self._timeout_s
        self._counted = self._content.total_bytes
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the current wait began (None: not waiting)
        self._timer: asyncio.TimerHandle | None = None
        self.expired = False

    async def read(self, n: int) -> bytes:
        """Up to `n` bytes, b"" at the end of the body."""
        return await self._timed(self._content.read(n))

    async def readexactly(self, n: int) -> bytes:
        """Exactly `n` bytes (asyncio.IncompleteReadError when the body ends first)."""
        return await self._timed(self._content.readexactly(n))

    async def _timed(self, reading: Awaitable[bytes]) -> bytes:
        task = asyncio.current_task()
        assert task is not None
        now = self._loop.time()
        self._settle(now)
        self._since = now
        self._timer = self._loop.call_at(now + self._credit_s, self._check, task)
        try:
            return await reading
        except asyncio.CancelledError:
            if self.expired and task.uncancel() == 0:
                raise ApiError("REQUEST_TIMEOUT", "the request body stopped arriving (slower "
                               f"than {1 / self._per_byte_s:g} bytes/s for "
                               f"{self._timeout_s:g}s)") from None
            raise
        except ConnectionResetError:
            raise ApiError("CLIENT_CLOSED", "the client closed the connection mid-body"
                           ) from None
        except HttpProcessingError as exc:
            raise ApiError("INVALID_ARGUMENT", f"malformed request body: {exc.message}"[:300]
                           ) from None
        finally:
            self._timer.cancel()
            self._settle(self._loop.time())
            self._since = None

    def _settle(self, now: float) -> None:
        """Charges the time waited since the last settling and credits the bytes received."""
        received = self._content.total_bytes
        if self._since is not None:
            self._credit_s -= now - self._since
            self._since = now
        self._credit_s = min(self._timeout_s,
                             self._credit_s + (received - self._counted) * self._per_byte_s)
        self._counted = received

    def _check(self, task: asyncio.Task[object]) -> None:
        now = self._loop.time()
        self._settle(now)
        if self._credit_s > 0.001:  # bytes came meanwhile: wait on
            self._timer = self._loop.call_at(now + self._credit_s, self._check, task)
            return
        self.expired = True
        task.cancel()


BODY = web.RequestKey("body", Body)


def body(request: web.Request) -> Body:
    """The request's body reader (one clock per request, however many reads)."""
    found = request.get(BODY)
    if found is None:
        found = request[BODY] = Body(request, request.app[SETTINGS])
    return found


def client_allowance_s(settings: EdgeSettings, length: int) -> float:
    """The longest a client sending `length` bytes at the minimum rate may take (a bound for
    deadlines that include the client's sending time)."""
    return settings.body_timeout_s + length / settings.body_min_rate_bytes_per_s
