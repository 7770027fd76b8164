"""Readiness from the dependencies: a service whose database (or store) does not answer reports
NOT_SERVING on the standard gRPC health service until it answers again, so the edge's `/ready`
(and a load balancer's health check) says so, and comes back by itself.

A dependency is down after `failures_to_down` probes in a row fail (one slow answer under load is
not an outage) and up again after one that succeeds. Each probe is bounded by `timeout_s`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

from grpc_health.v1 import health, health_pb2
from prometheus_client import Gauge

from common.config import Settings, var
from common.logging import get_logger

log = get_logger(__name__)

DEPENDENCY_UP = Gauge("govault_dependency_up",
                      "1 while the service's probe of a dependency succeeds, 0 while it is down",
                      ["service", "dependency"])

Probe = Callable[[], Awaitable[object]]  # raises (or times out) when the dependency is down


class ReadinessSettings(Settings):
    """The dependency probes behind a service's gRPC health status."""

    interval_s: float = var("READINESS_INTERVAL_S", 2.0, ge=0, description=(
        "period of the dependency probes (database, store) behind gRPC health; 0: no probing"))
    timeout_s: float = var("READINESS_TIMEOUT_S", 3.0, gt=0, description="bound of one probe")
    failures_to_down: int = var("READINESS_FAILURES", 2, ge=1, description=(
        "failed probes in a row before the service reports NOT_SERVING"))


class Readiness:
    def __init__(self, service: str, probes: Mapping[str, Probe], settings: ReadinessSettings,
                 servicer: health.aio.HealthServicer, names: Iterable[str]) -> None:
        self._service = service
        self._probes = dict(probes)
        self._settings = settings
        self._servicer = servicer
        self._names = ["", *names]
        self._failures = dict.fromkeys(self._probes, 0)
        self._errors: dict[str, str] = {}
        self.down: set[str] = set()
        for name in self._probes:
            DEPENDENCY_UP.labels(service, name).set(1)

    async def check_once(self) -> None:
        results = await asyncio.gather(*(self._probe(name, probe)
                                         for name, probe in self._probes.items()))
        was_down = bool(self.down)
        for name, ok in zip(self._probes, results, strict=True):
            self._failures[name] = 0 if ok else self._failures[name] + 1
            if ok and name in self.down:
                self.down.discard(name)
                log.info("dependency_back", dependency=name)
            elif self._failures[name] >= self._settings.failures_to_down and name not in self.down:
                self.down.add(name)
                log.warning("dependency_down", dependency=name, failures=self._failures[name],
                            error=self._errors.get(name, ""))
            DEPENDENCY_UP.labels(self._service, name).set(0 if name in self.down else 1)
        if bool(self.down) != was_down:
            status = (health_pb2.HealthCheckResponse.NOT_SERVING if self.down
                      else health_pb2.HealthCheckResponse.SERVING)
            for service_name in self._names:
                await self._servicer.set(service_name, status)

    async def _probe(self, name: str, probe: Probe) -> bool:
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                await probe()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of a probe means "not answering"
            self._errors[name] = repr(exc) if not isinstance(exc, TimeoutError) else (
                f"no answer within {self._settings.timeout_s:g}s")
            return False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._settings.interval_s)
            await self.check_once()
