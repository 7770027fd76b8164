"""The operational routes' descriptions: liveness, readiness and this document."""

from __future__ import annotations

from edge.api.base import Model, Operation


class Health(Model):
    status: str


class Ready(Model):
    status: str
    upstreams: dict[str, str]


HEALTH = Operation("get", "/health", "Liveness (no dependencies)", "operations", ok=Health,
                   auth="none", upstream=False)
READY = Operation("get", "/ready", "Readiness: every upstream service is serving", "operations",
                  ok=Ready, auth="none", upstream=False,
                  errors={503: "an upstream is not serving"})
OPENAPI = Operation("get", "/openapi.json", "This document", "operations", auth="none",
                    upstream=False)

OPERATIONS = (HEALTH, READY, OPENAPI)
