"""The readiness rule (common.grpc.readiness): a dependency is down after N failed probes in a
row, up after one that succeeds, and the health service follows for every service name but
`liveness`, which a liveness probe asks and which stays SERVING through a dependency's outage."""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health, health_pb2

from common.grpc.readiness import LIVENESS, Readiness, ReadinessSettings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _status(servicer: health.aio.HealthServicer, name: str) -> int:
    reply = await servicer.Check(health_pb2.HealthCheckRequest(service=name), None)
    return int(reply.status)


async def test_down_after_repeated_failures_and_back_after_one_success() -> None:
    servicer = health.aio.HealthServicer()
    for name in ("", "govault.x.v1.X", LIVENESS):
        await servicer.set(name, SERVING)
    answers = {"database": True, "object_store": True}

    async def probe(name: str) -> None:
        if not answers[name]:
            raise ConnectionError(name)

    async def hangs() -> None:
        await asyncio.sleep(60)

    readiness = Readiness("x", {"database": lambda: probe("database"),
                                "object_store": lambda: probe("object_store"),
                                "slow": lambda: probe("database") if answers["database"]
                                else hangs()},
                          ReadinessSettings(interval_s=1, timeout_s=0.05, failures_to_down=2),
                          servicer, ["govault.x.v1.X"])
    await readiness.check_once()
    assert readiness.down == set()
    answers["database"] = False
    await readiness.check_once()  # one failure is not an outage
    assert readiness.down == set() and await _status(servicer, "") == SERVING
    await readiness.check_once()
    assert readiness.down == {"database", "slow"}  # a probe that does not answer fails too
    assert await _status(servicer, "") == NOT_SERVING
    assert await _status(servicer, "govault.x.v1.X") == NOT_SERVING
    assert await _status(servicer, LIVENESS) == SERVING  # no restart for a database outage
    answers["database"] = True
    await readiness.check_once()
    assert readiness.down == set()
    assert await _status(servicer, "") == SERVING
    assert await _status(servicer, "govault.x.v1.X") == SERVING
