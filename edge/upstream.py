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

import math
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

import grpc
from aiohttp import web
from govault.auth.v1 import auth_pb2_grpc
from govault.files.v1 import files_pb2_grpc
from govault.upload.v1 import upload_pb2_grpc
from prometheus_client import Counter

from common.grpc.client import open_channel, outgoing_metadata
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
MAX_RETRY_AFTER_S = 30


@dataclass
class CallQueue:
    """One unary method's calls to an upstream: how many are in flight, and when calls
    completed over the last RATE_WINDOW_S. Kept per method: a login waiting for a hashing
    thread says nothing about how long a profile read will wait."""

    in_flight: int = 0
    completed: deque[float] = field(default_factory=deque)  # monotonic times, last window
    since: float | None = None  # the first call: the window cannot reach before it

    def expected_wait_s(self, now: float) -> float:
        """How long the calls in flight take to drain at the recent completion rate (Little's
        law): what a call admitted now would queue behind. 0 without recent completions (idle,
        or nothing finished yet: no evidence of a queue)."""
        done = self._forget_before(now - RATE_WINDOW_S)
        if not done or self.since is None:
            return 0.0
        window = max(min(RATE_WINDOW_S, now - self.since), RATE_WINDOW_S / 8)
        return self.in_flight * window / len(done)

    def finished(self, now: float) -> None:
        self.in_flight -= 1
        self._forget_before(now - RATE_WINDOW_S)  # the window holds seconds, not history
        self.completed.append(now)

    def _forget_before(self, start: float) -> deque[float]:
        done = self.completed
        while done and done[0] < start:
            done.popleft()
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

    def admit(self, method: object | None) -> CallQueue | None:
        """Takes a slot for a call of `method` (None: a stream, not timed), or raises
        OVERLOADED. Returns what `release` needs back."""
        if self.in_flight >= self.max_in_flight:
            self._refuse(1)
        queue = None
        if method is not None:
            queue = self.queues.get(method)
            if queue is None:
                queue = self.queues[method] = CallQueue(since=time.monotonic())
            if self.max_wait_s and queue.in_flight >= MIN_QUEUED:
                wait = queue.expected_wait_s(time.monotonic())
                if wait > self.max_wait_s:
                    self._refuse(min(MAX_RETRY_AFTER_S, math.ceil(wait - self.max_wait_s)))
            queue.in_flight += 1
        self.in_flight += 1
        return queue

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


def call_metadata(request: web.Request, identity: Identity | None) -> Metadata:
    return outgoing_metadata(token=identity.token if identity else None,
                             request_id=request[REQUEST_ID], client_ip=caller(request).address)


@contextmanager
def admitted(request: web.Request, method: object, unary: bool = True) -> Iterator[None]:
    """Runs the block under the method's upstream bounds (a unary call: the time bound of its
    method too), mapping gRPC errors."""
    upstream = upstreams(request).owner(method)
    queue = upstream.admit(method if unary else None)
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
) -> Resp:
    """One unary call to a service on behalf of the request's caller."""
    timeout = timeout_s or request.app[SETTINGS].rpc_timeout_s
    metadata = call_metadata(request, identity)
    with admitted(request, method):
        return await method(message, timeout=timeout, metadata=metadata)
