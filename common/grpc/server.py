"""gRPC server bootstrap: interceptor (request id, one log line per call, metrics, error
mapping), the standard health service, reflection, and graceful shutdown on SIGTERM/SIGINT
(a second signal exits at once)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
import structlog
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Gauge, Histogram

from common.config import Settings, load, var
from common.errors import (
    ERROR_CODE_KEY,
    RETRY_AFTER_KEY,
    GoVaultError,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)
from common.grpc.client import KEEPALIVE_S
from common.grpc.metadata import Context, incoming_request_id
from common.grpc.readiness import LIVENESS, Probe, Readiness, ReadinessSettings
from common.logging import get_logger
from common.loop import watch_loop_lag
from common.metrics import LATENCY_BUCKETS

log = get_logger(__name__)

HANDLED = Counter(
    "govault_grpc_server_handled_total", "gRPC calls handled", ["service", "method", "code"]
)
HANDLING_SECONDS = Histogram(
    "govault_grpc_server_handling_seconds",
    "gRPC call latency",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("govault_grpc_server_in_flight", "gRPC calls in progress", ["service"])

NO_RETRY = ("grpc-retry-pushback-ms", "-1")  # gRPC A6: a negative pushback ends retrying

_QUIET_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def grpc_status_for(exc: GoVaultError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """(status code, details, trailing metadata) for a domain error: its code's gRPC status in
    the catalog (`common.errors.CODES`), the code itself in the trailers."""
    trailers: list[tuple[str, str]] = [(ERROR_CODE_KEY, exc.code)]
    if isinstance(exc, ResourceExhausted):
        trailers.append((RETRY_AFTER_KEY, str(exc.retry_after_s)))
    if isinstance(exc, Unavailable):
        # A replica that answers "unavailable" has waited on a dependency every replica shares
        # (the database, the store): the channel's retry policy must not repeat the call on
        # another one (a negative pushback stops it). A replica that died is retried as before:
        # that failure carries no answer from the server.
        trailers.append((NO_RETRY[0], NO_RETRY[1]))
    return grpc.StatusCode[exc.grpc_status], exc.message, tuple(trailers)


class GrpcServerSettings(Settings):
    """A gRPC service process: where it listens, its metrics port (0: none), how long shutdown
    drains. Each service subclasses it with its own default ports."""

    host: str = var("LISTEN_HOST", "127.0.0.1", description="address the process binds")
    port: int = var("GRPC_PORT", 0, ge=0, le=65535, description="the service's gRPC port")
    metrics_port: int = var("METRICS_PORT", 0, ge=0, le=65535, description=(
        "port of the process's Prometheus listener (0: none)"))
    grace_s: float = var("SHUTDOWN_GRACE_S", 10.0, ge=0, description=(
        "on SIGTERM, how long work in flight may finish (a second signal exits at once)"))
    max_message_bytes: int = var("GRPC_MAX_MESSAGE_BYTES", 8 * 1024 * 1024, gt=0, description=(
        "largest gRPC message the service sends or receives"))
    log_level: str = var("LOG_LEVEL", "info", description="debug, info, warning or error")


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Binds request_id/rpc into the log context, writes one line per call, counts it, and maps
    domain errors to statuses. Unknown exceptions become INTERNAL and are logged with traceback."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails],
                               Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        found = await continuation(details)
        if found is None or details.method.startswith(_QUIET_PREFIXES):
            return found
        handler: Any = found
        method = details.method.rpartition("/")[2]
        request_id = incoming_request_id(details.invocation_metadata)
        if handler.unary_unary:
            inner_uu = handler.unary_unary

            async def unary(request: Any, context: Context) -> Any:
                return await self._observe(method, request_id, context,
                                           _checked(request, inner_uu, context))

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream(requests: Any, context: Context) -> Any:
                return await self._observe(method, request_id, context, inner_su(requests, context))

            return grpc.stream_unary_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return found

    async def _observe(
        self,
        method: str,
        request_id: str,
        context: Context,
        call: Awaitable[Any],
    ) -> Any:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, rpc=method)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        error_code: str | None = None
        IN_FLIGHT.labels(self._service).inc()
        try:
            return await call
        except GoVaultError as exc:
            code, message, trailers = grpc_status_for(exc)
            error_code = exc.code
            await context.abort(code, message, trailers)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("rpc_failed")
            await context.abort(code, "internal error", ((ERROR_CODE_KEY, "INTERNAL"),))
        finally:
            elapsed = time.perf_counter() - start
            IN_FLIGHT.labels(self._service).dec()
            HANDLED.labels(self._service, method, code.name).inc()
            HANDLING_SECONDS.labels(self._service, method).observe(elapsed)
            log.info(
                "rpc",
                code=code.name,
                error_code=error_code,
                duration_ms=round(elapsed * 1000, 2),
            )
        raise AssertionError("unreachable")  # pragma: no cover


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The name of the first string field (at any depth) holding a NUL character, or None.
    PostgreSQL refuses NUL in text, and no GoVault field means one."""
    for field, value in message.ListFields():
        name = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if _repeated(field) else (value,)
            if any("\x00" in item for item in values):
                return name
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in (value if _repeated(field) else (value,)):
                if not isinstance(item, Message):  # a map's scalar values
                    continue
                found = nul_field(item, name + ".")
                if found:
                    return found
    return None


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


async def _checked(request: Any, handler: Any, context: Context) -> Any:
    """Invalid input is refused at the boundary, before any rule or query runs."""
    if isinstance(request, Message):
        field = nul_field(request)
        if field:
            raise InvalidArgument(f"{field} must not contain NUL characters")
    return await handler(request, context)


Registrar = Callable[[grpc.aio.Server], str]  # registers a servicer, returns its full name


async def serve(
    service: str,
    settings: GrpcServerSettings,
    registrars: Sequence[Registrar],
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    probes: Mapping[str, Probe] | None = None,
    advisory: Mapping[str, Probe] | None = None,
) -> None:
    """Runs the server until SIGTERM/SIGINT, then drains within the grace period. `probes`: the
    dependencies whose outage turns the health service NOT_SERVING; `advisory`: the ones
    published under a health name of their own instead (common.grpc.readiness)."""
    server = grpc.aio.server(
        interceptors=[ObservabilityInterceptor(service)],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
            ("grpc.http2.bdp_probe", 0),
            # Clients ping every KEEPALIVE_S to find a frozen peer (common.grpc.client); accept
            # that, idle or not (a ping too often would count a strike and end the connection).
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_S * 1000 // 2),
            # Clients reconnect (and re-resolve a `dns:///` name) every few minutes, so replicas
            # added by scaling out get their share of long-lived channels; calls in progress
            # get the grace period to end (longer than the edge's upload deadline).
            ("grpc.max_connection_age_ms", 300_000),
            ("grpc.max_connection_age_grace_ms", 150_000),
        ],
    )
    names = [register(server) for register in registrars]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME],
        server,
    )
    address = f"{settings.host}:{settings.port}"
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"{service}: cannot listen on {address}")
    await server.start()
    for name in ["", *names, LIVENESS]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc_server_started", address=address, services=names)
    readiness_settings = load(ReadinessSettings)
    readiness = None
    if (probes or advisory) and readiness_settings.interval_s:
        watch = Readiness(service, probes or {}, readiness_settings, health_servicer, names,
                          advisory)
        await watch.publish_advisories()
        readiness = asyncio.create_task(watch.run(), name="readiness")

    lag = asyncio.create_task(watch_loop_lag(service), name="loop-lag")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("second_signal_exiting_now")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await stop.wait()
    log.info("grpc_server_stopping", grace_s=settings.grace_s)
    lag.cancel()
    if readiness is not None:
        readiness.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace_s)
    for hook in on_shutdown:
        await hook()
    log.info("grpc_server_stopped")

