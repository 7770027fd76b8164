"""The channel every GoVault client opens (common.grpc.client.open_channel) against two real gRPC
servers on loopback, as the edge sees two replicas of a service: calls are spread over both
(round_robin), a replica reporting NOT_SERVING (draining) leaves the rotation (client-side health
checking), and so does a replica that is gone. (Which methods the channel repeats:
tests/unit/common/test_retry_policy.py.)"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.grpc.client import open_channel


class _Replica:
    """One gRPC server with the standard health service; counts the calls it answered."""

    def __init__(self, calls: Counter[int]) -> None:
        replica = self

        class Counting(grpc.aio.ServerInterceptor):
            async def intercept_service(
                    self, continuation: Callable[
                        [grpc.HandlerCallDetails],
                        Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
                    details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
                if details.method.endswith("/Check"):
                    calls[replica.port] += 1
                return await continuation(details)

        self.server = grpc.aio.server(interceptors=[Counting()])
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def start(self) -> None:
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[list[_Replica], Counter[int]]]:
    calls: Counter[int] = Counter()
    made = []
    for _ in range(2):
        replica = _Replica(calls)
        await replica.start()
        made.append(replica)
    yield made, calls
    for replica in made:
        await replica.server.stop(None)


async def _check_many(stub: health_pb2_grpc.HealthStub, n: int, *, serving: bool = True) -> None:
    """n calls, each answered (and SERVING unless `serving` is False: a draining replica says
    NOT_SERVING until the channel has learnt it and stops picking it)."""
    for _ in range(n):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING or not serving


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_round_robin_over_replicas_and_unhealthy_or_dead_ones_leave(
        replicas: tuple[list[_Replica], Counter[int]]) -> None:
    (first, second), calls = replicas
    target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
    channel = open_channel(target)
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        async def both_ready() -> bool:
            calls.clear()
            await _check_many(stub, 10)
            return calls[first.port] > 0 and calls[second.port] > 0
        await _until(both_ready, "both replicas answer")
        calls.clear()
        await _check_many(stub, 20)
        assert calls[first.port] == calls[second.port] == 10  # strict alternation

        await first.health.enter_graceful_shutdown()  # NOT_SERVING: draining

        async def only_second() -> bool:
            calls.clear()
            await _check_many(stub, 4, serving=False)
            return calls[first.port] == 0
        await _until(only_second, "the draining replica leaves the rotation")
        calls.clear()
        await _check_many(stub, 20)
        assert calls == Counter({second.port: 20})

        await first.server.stop(None)  # gone altogether: nothing fails
        await first.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await _check_many(stub, 20)
    finally:
        await channel.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("target", [
    # one listed address has no server at all (a replica not started yet, or dead)
    "ipv4:127.0.0.1:{free},127.0.0.1:{port}",
    # as the Helm chart hands out (a headless Service); `localhost` resolves to one address
    # here: several A records are not available on this machine
    "dns:///localhost:{port}",
])
async def test_every_call_answered_through_each_target_form(
        replicas: tuple[list[_Replica], Counter[int]], target: str) -> None:
    (first, _), calls = replicas
    channel = open_channel(target.format(free=_free_port(), port=first.port))
    try:
        await _check_many(health_pb2_grpc.HealthStub(channel), 30)
        assert calls[first.port] == 30
    finally:
        await channel.close()
