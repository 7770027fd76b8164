"""gRPC channels and typed stubs to the three services, and the one way routes call them:

    reply = await call(request, upstreams(request).files.GetFile, message, identity=identity)

The stub method itself is passed (typed: request and response types are checked), with the
caller's token, the request id, the client address and a deadline; a bound on in-flight calls per
upstream (fast 503 OVERLOADED instead of piling up on a stuck service); gRPC errors become
`ApiError`s through the status table. The chunk stream (`edge.streaming`) runs under the same
bound and error mapping through `admitted`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

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
from edge.keys import REQUEST_ID, SETTINGS, UPSTREAMS
from edge.request import caller

SHED = Counter("govault_edge_shed_total", "Requests refused because an upstream was saturated",
               ["upstream"])
for _upstream in ("auth", "upload", "files"):  # every series exists from the start, at 0
    SHED.labels(_upstream)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Upstream:
    """One service's channel and its in-flight bound."""

    name: str
    channel: grpc.aio.Channel
    max_in_flight: int
    in_flight: int = 0

    def admit(self) -> None:
        if self.in_flight >= self.max_in_flight:
            SHED.labels(self.name).inc()
            raise ApiError("OVERLOADED", f"the {self.name} service is saturated, retry shortly",
                           {"Retry-After": "1"})
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1


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
            return Upstream(name, open_channel(address), settings.upstream_max_in_flight)

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


def upstreams(request: web.Request) -> Upstreams:
    return request.app[UPSTREAMS]


def call_metadata(request: web.Request, identity: Identity | None) -> Metadata:
    return outgoing_metadata(token=identity.token if identity else None,
                             request_id=request[REQUEST_ID], client_ip=caller(request).address)


@contextmanager
def admitted(request: web.Request, method: object) -> Iterator[None]:
    """Runs the block under the method's upstream in-flight bound, mapping gRPC errors."""
    upstream = upstreams(request).owner(method)
    upstream.admit()
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from None
    finally:
        upstream.release()


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
