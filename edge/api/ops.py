"""The operational routes' descriptions: liveness, readiness and this document."""

from __future__ import annotations

from typing import Annotated

import msgspec

from edge.api.base import Model, Operation


class Health(Model):
    status: str


class Ready(Model):
    status: Annotated[str, msgspec.Meta(
        description="ready; degraded (every upstream serving, the object store refusing writes "
                    "for lack of space: uploads answer 507 STORAGE_FULL, reads and deletes "
                    "work); unavailable")]
    upstreams: dict[str, str]
    store: Annotated[str, msgspec.Meta(
        description="ok, full (out of space: free or add space; deleted files' space comes "
                    "back as the store compacts), or unknown")] = "unknown"


HEALTH = Operation("get", "/health", "Liveness (no dependencies)", "operations", ok=Health,
                   auth="none", upstream=False)
READY = Operation("get", "/ready", "Readiness: every upstream service is serving (a full object "
                  "store is reported, and stays 200: the edge still serves reads and the deletes "
                  "that free space)", "operations", ok=Ready, auth="none", upstream=False,
                  errors={503: "an upstream is not serving"})
OPENAPI = Operation("get", "/openapi.json", "This document", "operations", auth="none",
                    upstream=False)

OPERATIONS = (HEALTH, READY, OPENAPI)
