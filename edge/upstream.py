"""gRPC channels and typed stubs to the three services, and the one way routes call them:

    reply = await call(request, upstreams(request).files.GetFile, message, identity=identity)

The stub method itself is passed (typed: request and response types are checked), with the
caller's token, the request id, the client address and a deadline; bounds per upstream on the
calls in flight and on the time a new call would queue behind them (a fast 503 OVERLOADED with
Retry-After instead of piling up on a stuck or overloaded service); gRPC errors become
`ApiError`s through the status table. The chunk stream (`edge.streaming`) runs under the same
bound and error mapping through `admitted`.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

import grpc
from aiohttp import web
from govault.auth.v1 import auth_pb2_grpc
from govault.files.v1 import files_pb2_grpc
from govault.upload.v1 import upload_pb2_grpc
from prometheus_client import Counter

from common.grpc.client import open_channel
from common.grpc.metadata import outgoing_metadata
from common.tokens import Identity
from edge.config import EdgeSettings
from edge.errors import ApiError, from_rpc_error
from edge.keys import REQUEST_ID, SETTINGS
from edge.request import caller

SHED = Counter("govault_edge_shed_total", "Requests refused because an upstream was saturated",
               ["upstream"])
for _upstream in ("auth", "upload", "files"):  # every series exists from the start, at 0
    SHED.labels(_upstream)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Metadata = tuple[tuple[str, str], ...]


# The recent completion rate is counted over this many seconds; below MIN_QUEUED calls of a
# method in flight nothing is refused for time (a handful of slow calls is not a queue).
RATE_WINDOW_S = 2.0
MIN_QUEUED = 16
HOLD_MARGIN_S = 0.005  # a held call is judged again just past the moment its verdict turns
MAX_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class Verdict:
    """What the time bound says about one more call: admit it, refuse it (`wait_s`: the queue
    it would join), or hold it in the edge for up to `hold_s` until a call completes (the
    evidence is too thin to tell a quick burst from a service that just stopped)."""

    admit: bool
    wait_s: float = 0.0
    hold_s: float = 0.0


ADMIT = Verdict(True)


@dataclass
class CallQueue:
    """One unary method's calls to an upstream: how many are in flight, when calls completed
    over the last RATE_WINDOW_S, and when the method was busy (had calls in flight). Kept per
    method: a login waiting for a hashing thread says nothing about how long a profile read
    will wait."""

    in_flight: int = 0
    completed: deque[float] = field(default_factory=deque)  # monotonic times, last window
    busy_since: float | None = None  # the current busy period's start (None: idle)
    busy: deque[tuple[float, float]] = field(default_factory=deque)  # ended ones, last window
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def judge(self, now: float, budget_s: float) -> Verdict:
        """Little's law over busy time only (after an idle moment the window holds no demand,
        and dividing by idle seconds took a burst that drains in 0.12 s for a queue of many
        seconds). Without recent completions nothing is refused (idle, or nothing finished
        yet: no evidence of a queue; a stuck service is the count bound's job)."""
        start = now - RATE_WINDOW_S
        done = self._forget_before(start)
        if not done:
            return ADMIT
        began = now if self.busy_since is None else self.busy_since
        first = bisect.bisect_right(done, began)
        recent = len(done) - first
        if recent:
            # Calls complete in this busy period: the time to its first completion (the
            # service's latency), then the calls in flight at the pace completions came since.
            latency_s = done[first] - max(began, start)
            return self._verdict(latency_s + self.in_flight * (now - done[first]) / recent,
                                 budget_s)
        # None has completed yet in this busy period: its silence pooled with the earlier
        # periods (their completions over their busy time). Thin evidence either way (one
        # quick call before a burst, or before a service that stopped), so a call this could
        # turn away waits here for the next completion, until the pooled wait or the silence
        # passes the budget.
        earlier_s = sum(end - max(begin, start) for begin, end in self.busy)
        silent_s = now - began
        wait_s = self.in_flight * (earlier_s + silent_s) / len(done)
        if wait_s > budget_s or silent_s >= budget_s:
            return Verdict(False, max(wait_s, silent_s))
        crossing_s = budget_s * len(done) / self.in_flight - earlier_s
        return Verdict(False, wait_s, min(crossing_s, budget_s) - silent_s + HOLD_MARGIN_S)

    @staticmethod
    def _verdict(wait_s: float, budget_s: float) -> Verdict:
        return Verdict(False, wait_s) if wait_s > budget_s else ADMIT

    async def next_completion(self, timeout_s: float) -> None:
        """Returns when a call of this method completes, or after `timeout_s`."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def started(self, now: float) -> None:
        if not self.in_flight:
            self.busy_since = now
        self.in_flight += 1

    def finished(self, now: float) -> None:
        self.in_flight -= 1
        self._forget_before(now - RATE_WINDOW_S)  # the window holds seconds, not history
        self.completed.append(now)
        if not self.in_flight and self.busy_since is not None:
            self.busy.append((self.busy_since, now))
            self.busy_since = None
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _forget_before(self, start: float) -> deque[float]:
        done = self.completed
        while done and done[0] < start:
            done.popleft()
        busy = self.busy
        while busy and busy[0][1] < start:
            busy.popleft()
        return done


@dataclass
class Upstream:
    """One service's channel and its bounds: on the calls in flight (a stuck service), and on
    the time a new unary call would wait behind the calls of its method in flight (an
    overloaded one). Chunk streams are not timed: a stream lasts as long as its client takes to
    send the bytes, which says nothing about the service's queue."""

    name: str
    channel: grpc.aio.Channel
    max_in_flight: int
    max_wait_s: float = 0.0  # 0: no time bound
    in_flight: int = 0
    queues: dict[object, CallQueue] = field(default_factory=dict)  # unary method → its calls

    async def admit(self, method: object | None) -> CallQueue | None:
        """Takes a slot for a call of `method` (None: a stream, not timed), or raises
        OVERLOADED; a unary call may first be held briefly (see `Verdict`). Returns what
        `release` needs back."""
        if method is None:
            self._count_bound()
            self.in_flight += 1
            return None
        queue = self.queues.get(method)
        if queue is None:
            queue = self.queues[method] = CallQueue()
        while True:
            self._count_bound()
            now = time.monotonic()
            if not self.max_wait_s or queue.in_flight < MIN_QUEUED:
                break
            verdict = queue.judge(now, self.max_wait_s)
            if verdict.admit:
                break
            if not verdict.hold_s:
                self._refuse(min(MAX_RETRY_AFTER_S, math.ceil(verdict.wait_s - self.max_wait_s)))
            await queue.next_completion(verdict.hold_s)
        queue.started(now)
        self.in_flight += 1
        return queue

    def _count_bound(self) -> None:
        if self.in_flight >= self.max_in_flight:
            self._refuse(1)

    def release(self, queue: CallQueue | None) -> None:
        self.in_flight -= 1
        if queue is not None:
            queue.finished(time.monotonic())

    def _refuse(self, retry_after_s: int) -> NoReturn:
        SHED.labels(self.name).inc()
        raise ApiError("OVERLOADED", f"the {self.name} service is saturated, retry shortly",
                       {"Retry-After": str(max(1, retry_after_s))})


@dataclass
class Upstreams:
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    upload: upload_pb2_grpc.UploadServiceAsyncStub
    files: files_pb2_grpc.FilesServiceAsyncStub
    channels: dict[str, Upstream]
    # each stub method → the upstream it belongs to (so a call names only the method)
    _owners: dict[int, Upstream] = field(default_factory=dict)

    @classmethod
    def connect(cls, settings: EdgeSettings) -> Upstreams:
        def upstream(name: str, address: str) -> Upstream:
            return Upstream(name, open_channel(address), settings.upstream_max_in_flight,
                            settings.upstream_max_wait_s)

        auth = upstream("auth", settings.auth_addr)
        upload = upstream("upload", settings.upload_addr)
        files = upstream("files", settings.files_addr)
        made = cls(
            auth=auth_pb2_grpc.AuthServiceStub(auth.channel),
            upload=upload_pb2_grpc.UploadServiceStub(upload.channel),
            files=files_pb2_grpc.FilesServiceStub(files.channel),
            channels={u.name: u for u in (auth, upload, files)},
        )
        for stub, owner in ((made.auth, auth), (made.upload, upload), (made.files, files)):
            for method in vars(stub).values():
                made._owners[id(method)] = owner
        return made

    def owner(self, method: object) -> Upstream:
        return self._owners[id(method)]

    async def close(self) -> None:
        for upstream in self.channels.values():
            await upstream.channel.close()


# the app's channels, created at start-up (edge.app) and closed at shutdown
UPSTREAMS = web.AppKey("upstreams", Upstreams)


def upstreams(request: web.Request) -> Upstreams:
    return request.app[UPSTREAMS]


def call_metadata(request: web.Request, identity: Identity | None,
                  as_service: bool = False) -> Metadata:
    """The caller's token, the request id and the client address; `as_service`: the edge's
    service credential too, for an RPC that trusts the client address it is told (auth Login)."""
    return outgoing_metadata(
        token=identity.token if identity else None, request_id=request[REQUEST_ID],
        client_ip=caller(request).address,
        service_token=request.app[SETTINGS].service_token if as_service else None)


@asynccontextmanager
async def admitted(request: web.Request, method: object,
                   unary: bool = True) -> AsyncIterator[None]:
    """Runs the block under the method's upstream bounds (a unary call: the time bound of its
    method too), mapping gRPC errors."""
    upstream = upstreams(request).owner(method)
    queue = await upstream.admit(method if unary else None)
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from None
    finally:
        upstream.release(queue)


async def call(
    request: web.Request,
    method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp],
    message: Req,
    *,
    identity: Identity | None = None,
    timeout_s: float | None = None,
    as_service: bool = False,
) -> Resp:
    """One unary call to a service on behalf of the request's caller (`as_service`: see
    `call_metadata`)."""
    timeout = timeout_s or request.app[SETTINGS].rpc_timeout_s
    metadata = call_metadata(request, identity, as_service)
    async with admitted(request, method):
        return await method(message, timeout=timeout, metadata=metadata)
