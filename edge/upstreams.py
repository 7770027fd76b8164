"""gRPC channels and stubs to the three services, and the one way routes call them: with the
caller's token, the request id and a deadline, a bound on in-flight calls per upstream (fast 503
instead of piling up), and gRPC errors turned into `ApiError` by the status table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from govault.auth.v1 import auth_pb2_grpc
from govault.files.v1 import files_pb2_grpc
from govault.upload.v1 import upload_pb2_grpc
from prometheus_client import Counter

from common.grpc_client import open_channel
from common.identity import outgoing_metadata
from edge.config import EdgeSettings
from edge.errors import ApiError, from_rpc_error

SHED = Counter("govault_edge_shed_total", "Requests refused because an upstream was saturated",
               ["upstream"])
for _upstream in ("auth", "upload", "files"):  # every series exists from the start, at 0
    SHED.labels(_upstream)

T = TypeVar("T")


@dataclass
class Upstream:
    name: str
    channel: grpc.aio.Channel
    max_in_flight: int
    in_flight: int = 0

    def admit(self) -> None:
        if self.in_flight >= self.max_in_flight:
            SHED.labels(self.name).inc()
            message = f"the {self.name} service is saturated, retry shortly"
            raise ApiError(503, "OVERLOADED", message, {"Retry-After": "1"})
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1


@dataclass
class Upstreams:
    auth: auth_pb2_grpc.AuthServiceStub
    upload: upload_pb2_grpc.UploadServiceStub
    files: files_pb2_grpc.FilesServiceStub
    by_name: dict[str, Upstream] = field(default_factory=dict)

    @classmethod
    def connect(cls, settings: EdgeSettings) -> Upstreams:
        channels = {
            "auth": open_channel(settings.auth_addr),
            "upload": open_channel(settings.upload_addr),
            "files": open_channel(settings.files_addr),
        }
        return cls(
            auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
            upload=upload_pb2_grpc.UploadServiceStub(channels["upload"]),
            files=files_pb2_grpc.FilesServiceStub(channels["files"]),
            by_name={
                name: Upstream(name, channel, settings.upstream_max_in_flight)
                for name, channel in channels.items()
            },
        )

    async def close(self) -> None:
        for upstream in self.by_name.values():
            await upstream.channel.close()


def call_metadata(
    request_id: str, token: str | None = None, client_ip: str | None = None
) -> tuple[tuple[str, str], ...]:
    return outgoing_metadata(token=token, request_id=request_id, client_ip=client_ip)


async def guarded(upstream: Upstream, call: Callable[[], Awaitable[T]]) -> T:
    """Runs one upstream call under its in-flight bound, mapping gRPC errors."""
    upstream.admit()
    try:
        return await call()
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from None
    finally:
        upstream.release()


async def unary(
    upstreams: Upstreams,
    name: str,
    method: Callable[..., Any],
    message: Any,
    *,
    request_id: str,
    timeout_s: float,
    token: str | None = None,
    client_ip: str | None = None,
) -> Any:
    metadata = call_metadata(request_id, token, client_ip)
    return await guarded(
        upstreams.by_name[name],
        lambda: method(message, timeout=timeout_s, metadata=metadata),
    )
