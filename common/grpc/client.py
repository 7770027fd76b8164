"""Outbound gRPC: channel options, the metadata a call to another GoVault service carries, and
the one way a service turns another service's error status back into a domain error."""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from govault.auth.v1 import auth_pb2
from govault.files.v1 import files_pb2
from govault.upload.v1 import upload_pb2

from common.errors import (
    CODES,
    ERROR_CODE_KEY,
    GENERIC,
    RETRY_AFTER_KEY,
    GoVaultError,
    QuotaExceeded,
    ResourceExhausted,
    StorageFull,
    Unavailable,
    kind_of,
)
from common.logging import get_logger

log = get_logger(__name__)

# A peer that stops answering (a frozen process, a dead host, a dropped network) is found by
# HTTP/2 pings: one goes out after KEEPALIVE_S without anything read from the connection, and a
# ping unanswered for PING_TIMEOUT_S closes it; the calls on it fail UNAVAILABLE (the edge answers
# 503 with Retry-After). A new connection to a peer that is still frozen is accepted by its
# kernel; it is closed when the peer does not acknowledge our HTTP/2 settings within the same
# bound, so an idempotent call retried onto it fails by then too, and new calls fail at once.
# Measured against a frozen server: a call in flight ends 4-5 s after the freeze, 7-8 s when
# retried (docs/operations.md). Pings are answered by gRPC's own threads, not the service's event
# loop, so a busy service is not taken for a frozen one. (gRPC bounds keepalive pings with
# `grpc.http2.ping_timeout_ms`, a minute by default.) Servers accept pings this often
# (common.grpc.server).
KEEPALIVE_S = 2
PING_TIMEOUT_S = 3

CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
    ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000),
    ("grpc.keepalive_timeout_ms", PING_TIMEOUT_S * 1000),
    ("grpc.http2.ping_timeout_ms", PING_TIMEOUT_S * 1000),
    ("grpc.http2.settings_timeout", PING_TIMEOUT_S * 1000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # A restarted peer is found again within ~2 s, however long it was down (gRPC's default
    # backoff grows to 120 s). While it is down, calls fail at once (wait_for_ready is off).
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # Loopback/LAN peers gain nothing from bandwidth-delay probing; it grew stream windows and
    # with them the memory held by 100 concurrent chunk streams (332 → 223 MiB RSS measured).
    ("grpc.http2.bdp_probe", 0),
    # A `dns:///` target is resolved again when a replica's connection fails (and whenever the
    # server ends a connection at its max age, common.grpc.server), at most every 5 s (gRPC's
    # default 30 s would leave a rescheduled pod's new address unknown that long).
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
)


# The services a GoVault channel calls; whether a method may be sent again is stated on each rpc
# in its proto (`option idempotency_level`).
SERVICES: tuple[ServiceDescriptor, ...] = tuple(
    file.services_by_name[name] for file, name in (
        (auth_pb2.DESCRIPTOR, "AuthService"), (files_pb2.DESCRIPTOR, "FilesService"),
        (upload_pb2.DESCRIPTOR, "UploadService")))
_SAFE_TO_REPEAT = frozenset({MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT})


def retried_methods(services: Sequence[ServiceDescriptor] = SERVICES) -> dict[str, list[str]]:
    """Service full name → the unary methods whose proto marks them NO_SIDE_EFFECTS or
    IDEMPOTENT: the ones a channel may send again (streams never: the channel would buffer
    their bytes)."""
    return {service.full_name: [
        method.name for method in service.methods
        if method.GetOptions().idempotency_level in _SAFE_TO_REPEAT
        and not method.client_streaming and not method.server_streaming]
        for service in services}


def service_config() -> str:
    """The gRPC service config of every GoVault channel (JSON):

    - `round_robin` over every address the target resolves to (`ipv4:a:p1,b:p2`, or a
      `dns:///name:port` with several A records such as a Kubernetes headless Service), so each
      replica takes its share and a replica whose connection breaks leaves the rotation at once;
    - client-side health checking (`grpc.health.v1.Health/Watch`, the server's overall status):
      a replica that is up but NOT_SERVING (draining after SIGTERM) is skipped as well;
    - a retry policy for `retried_methods()` (read from the protos' `idempotency_level`) on
      UNAVAILABLE and CANCELLED (what a replica that goes away mid-call sends: a stream reset, a
      handler cancelled at shutdown; a call this process cancels itself is never retried): the
      next attempt is picked by round_robin, i.e. goes to another replica. Retries stay within
      the call's deadline.
    """
    retry = {
        "maxAttempts": 4,
        "initialBackoff": "0.05s",
        "maxBackoff": "0.5s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
    }
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{
            "name": [{"service": service, "method": method}
                     for service, methods in retried_methods().items() for method in methods],
            "retryPolicy": retry,
        }],
        # Retries stop while more than half of a (large) token budget is spent: a whole
        # upstream that is down is not hammered with four attempts per call.
        "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1},
    })


def open_channel(address: str) -> grpc.aio.Channel:
    """A channel to every replica of a service: `host:port` (one), `ipv4:h:p1,h:p2` (a list),
    or `dns:///name:port` (every address the name resolves to); see `service_config()`."""
    options = (*CHANNEL_OPTIONS, ("grpc.service_config", service_config()),
               ("grpc.enable_retries", 1))
    return grpc.aio.insecure_channel(address, options=options)


# What the callee said about our request is kept as the same domain error (and stable code), so
# the caller's client gets the callee's answer. Every other status (UNAVAILABLE,
# DEADLINE_EXCEEDED, CANCELLED, INTERNAL, UNKNOWN, UNIMPLEMENTED, and UNAUTHENTICATED /
# PERMISSION_DENIED, which between services mean our service credential is wrong) is not the end
# client's fault and may pass on a retry: Unavailable.
_CALLERS_FAULT = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND",
                            "ALREADY_EXISTS", "ABORTED", "RESOURCE_EXHAUSTED"})


def rpc_error_to_domain(exc: grpc.aio.AioRpcError, callee: str) -> GoVaultError:
    """The domain error for a failed call to the `callee` service ("files", "auth")."""
    status = exc.code().name
    trailers = dict(exc.trailing_metadata() or ())
    sent = trailers.get(ERROR_CODE_KEY)
    code = (sent if isinstance(sent, str) and sent in CODES and CODES[sent].grpc == status
            else GENERIC.get(status))
    if status in _CALLERS_FAULT and code is not None:
        kind = kind_of(code)
        if kind is QuotaExceeded:
            return QuotaExceeded(exc.details() or "storage quota exceeded", code)
        if kind is StorageFull:
            return StorageFull(exc.details() or "the object store is out of space", code)
        if kind is ResourceExhausted:
            retry_after = trailers.get(RETRY_AFTER_KEY)
            wait = (int(retry_after) if isinstance(retry_after, str) and retry_after.isdecimal()
                    else 1)
            return ResourceExhausted(f"the {callee} service is busy, retry shortly", code,
                                     retry_after_s=max(1, min(wait, 3600)))
        return kind(f"the {callee} service refused the request: {exc.details()}", code)
    if status not in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"):
        log.warning("upstream_rpc_failed", callee=callee, status=status,
                    error_code=sent if isinstance(sent, str) else None, details=exc.details())
    return Unavailable(f"the {callee} service is unavailable, retry shortly")
