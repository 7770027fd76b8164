"""Edge settings, read once from `GOVAULT_*` variables (docs/configuration.md is generated from
them). Rate-limit settings are their own class (`edge.ratelimit.spec`), nested."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from common.config import Settings, load, var
from edge.ratelimit.spec import RateLimitSettings


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class EdgeSettings(Settings):
    # LISTEN_HOST, METRICS_PORT, SHUTDOWN_GRACE_S and LOG_LEVEL mean what they mean for the
    # services (common.grpc.server.GrpcServerSettings describes them)
    listen_host: str = var("LISTEN_HOST", "127.0.0.1")
    edge_port: int = var("EDGE_PORT", 9000, ge=0, le=65535, description="the public HTTP port")
    metrics_port: int = var("METRICS_PORT", 9100, ge=0, le=65535)
    auth_addr: str = var("AUTH_ADDR", "127.0.0.1:15051", description=(
        "the auth service: `host:port`, `ipv4:h1:p1,h2:p2` (replicas) or `dns:///name:port` "
        "(every address of the name), balanced round_robin with health checking; calls safe to "
        "repeat are retried on another replica (docs/scaling.md)"))
    upload_addr: str = var("UPLOAD_ADDR", "127.0.0.1:15052", description=(
        "the upload service, in the same forms as GOVAULT_AUTH_ADDR"))
    files_addr: str = var("FILES_ADDR", "127.0.0.1:15053", description=(
        "the files service, in the same forms as GOVAULT_AUTH_ADDR"))
    rpc_timeout_s: float = var("RPC_TIMEOUT_S", 10.0, gt=0, description=(
        "deadline of an outbound unary RPC"))
    upload_rpc_timeout_s: float = var("UPLOAD_RPC_TIMEOUT_S", 120.0, gt=0, description=(
        "deadline of a proxy chunk's stream and of a multipart complete"))
    ready_timeout_s: float = var("READY_TIMEOUT_S", 2.0, gt=0, description=(
        "how long GET /ready waits for each service's health answer (all asked at once); keep "
        "it below the readiness probe's timeout. A busy service answers late, not never: too "
        "short a bound takes every edge out of a load balancer at once under load"))
    max_json_bytes: int = var("MAX_JSON_BYTES", 128 * 1024, ge=1, description=(
        "largest JSON request body (the default holds a list one item over any list's limit, "
        "so it is judged 400, not refused unread as too large; multipart/complete, whose "
        "optional list of parts may hold 10,000, reads up to 2 MiB whatever this says)"))
    max_chunk_bytes: int = var("MAX_CHUNK_BYTES", 64 * 1024 * 1024, ge=1, description=(
        "largest proxy chunk body"))
    body_timeout_s: float = var("BODY_TIMEOUT_S", 10.0, gt=0, description=(
        "a request body that sends nothing for this long, or falls this far behind "
        "GOVAULT_BODY_MIN_RATE_BYTES_PER_S, is cut off with 408 REQUEST_TIMEOUT (edge/body.py)"))
    body_min_rate_bytes_per_s: int = var("BODY_MIN_RATE_BYTES_PER_S", 1024, gt=0, description=(
        "the slowest a request body may arrive on average (each byte earns the client "
        "1/rate seconds of waiting, up to GOVAULT_BODY_TIMEOUT_S)"))
    max_streams_per_user: int = var("MAX_STREAMS_PER_USER", 16, ge=0, description=(
        "upload byte streams (proxy chunks, tus PATCHes) one account may have in flight on one "
        "edge; the next is answered 429 TOO_MANY_STREAMS with Retry-After (0: no cap)"))
    cors_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)] = var(
        "CORS_ORIGINS", (), description=(
            "comma-separated browser origins CORS allows (`make up` sets the local development "
            "ports)"))
    trust_forwarded_for: bool = var("TRUST_FORWARDED_FOR", False, description=(
        "take the client address from `X-Forwarded-For` (only behind a trusted proxy)"))
    # The bound catches a stuck upstream (fast 503 instead of a pile-up of waiting calls); it is
    # not a concurrency cap for healthy load: 512 shed 7 % of the seed's 1000-user run.
    upstream_max_in_flight: int = var("UPSTREAM_MAX_IN_FLIGHT", 2048, ge=0, description=(
        "calls in flight per upstream service beyond which a request is refused at once: 503 "
        "OVERLOADED"))
    upstream_max_wait_s: float = var("UPSTREAM_MAX_WAIT_S", 5.0, ge=0, description=(
        "a unary call that would queue longer than this behind the calls of its method in "
        "flight (their number ÷ the rate that method completed calls while it had any, over the "
        "last 2 s, from 16 calls in flight) is refused at once: 503 OVERLOADED + Retry-After; "
        "before the first completion of a busy period, a call the earlier rate could turn away "
        "waits in the edge for one (at most until the silence passes the budget); chunk streams "
        "are not timed (0: off; edge/upstream.py)"))
    shutdown_grace_s: float = var("SHUTDOWN_GRACE_S", 10.0, ge=0)
    drain_s: float = var("DRAIN_S", 0.0, ge=0, description=(
        "after SIGTERM, keep serving this long before the graceful stop, every answer with "
        "`Connection: close` and /ready 503 `draining`, so clients leave their keep-alive "
        "connections (a request sent on an idle connection just as the stop closes it gets no "
        "answer); the Helm chart sets 3"))
    keepalive_timeout_s: float = var("KEEPALIVE_TIMEOUT_S", 15.0, gt=0, description=(
        "idle keep-alive connections, and connections that have not sent a request's headers, "
        "are closed after this"))
    max_connections_per_client: int = var("MAX_CONNECTIONS_PER_CLIENT", 4096, ge=0, description=(
        "open connections per client (TCP peer) address, 0: no cap (set 0 behind a proxy); the "
        "default leaves room for a load test's 1000 users behind one address"))
    listen_backlog: int = var("LISTEN_BACKLOG", 4096, ge=1, description=(
        "connections the kernel queues for accept, capped by net.core.somaxconn (aiohttp's "
        "default 128 overflowed under bursts of connects)"))
    log_level: str = var("LOG_LEVEL", "info")
    service_token: str = var("SERVICE_TOKEN", repr=False, min_length=1, description=(
        "presented only on auth Login, whose client address (x-client-ip) decides login "
        "throttling and is believed only from a holder"))
    redis_url: str | None = var("REDIS_URL", None, description=(
        "Redis holding the rate-limit budget shared by every edge (unset: each edge counts in "
        "its own memory)"))
    s3_public_endpoint: str | None = var("S3_PUBLIC_ENDPOINT", None, description=(
        "the store as clients reach it: the one origin besides its own the web page may connect "
        "to (its Content-Security-Policy; unset: any http(s) origin)"))
    rate_limit: RateLimitSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        return load(cls, environ)
