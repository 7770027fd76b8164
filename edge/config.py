"""Edge settings, read once from `GOVAULT_*` variables (field name = variable name without the
prefix; see CONTRIBUTING.md). Rate-limit settings are their own class (`edge.ratelimit.spec`),
read from the same environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode

from common.config import Settings, load
from edge.ratelimit.spec import RateLimitSettings


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class EdgeSettings(Settings):
    listen_host: str = "127.0.0.1"
    edge_port: int = 9000
    metrics_port: int = 9100
    auth_addr: str = "127.0.0.1:15051"
    upload_addr: str = "127.0.0.1:15052"
    files_addr: str = "127.0.0.1:15053"
    rpc_timeout_s: float = 10.0
    upload_rpc_timeout_s: float = 120.0
    max_json_bytes: int = 64 * 1024
    max_chunk_bytes: int = 64 * 1024 * 1024
    # A request body that sends nothing for body_timeout_s, or falls that far behind
    # body_min_rate_bytes_per_s, is cut off with 408 (edge/body.py)
    body_timeout_s: float = Field(default=10.0, gt=0)
    body_min_rate_bytes_per_s: int = Field(default=1024, gt=0)
    # proxy chunk streams one account may have in flight on this edge (0: no cap), beyond
    # which a chunk is answered 429 TOO_MANY_STREAMS with Retry-After (edge/streaming.py)
    max_streams_per_user: int = Field(default=16, ge=0)
    cors_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)] = ()
    trust_forwarded_for: bool = False
    # The bound catches a stuck upstream (fast 503 instead of a pile-up of waiting calls); it is
    # not a concurrency cap for healthy load: 512 shed 7 % of the seed's 1000-user run.
    upstream_max_in_flight: int = 2048
    # The time bound: a unary call that would wait longer than this behind the calls of its
    # method already in flight (their number ÷ the rate they completed lately) is refused at
    # once with 503 and Retry-After instead of joining the queue (0: no time bound).
    # edge/upstream.py
    upstream_max_wait_s: float = Field(default=5.0, ge=0)
    shutdown_grace_s: float = 10.0
    # idle keep-alive connections, and connections that have not sent a request's headers, are
    # closed after this (edge/server.py)
    keepalive_timeout_s: float = 15.0
    # open connections per client address (0: no cap); the seed's load test runs 1000 users
    # behind one address, so the default leaves room for that
    max_connections_per_client: int = 4096
    log_level: str = "info"
    redis_url: str | None = None
    # The store's address as clients reach it (presigned URLs): the web page may connect there.
    s3_public_endpoint: str | None = None
    # not a variable of its own: read from GOVAULT_RATE_* by `from_env`
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings.disabled,
                                          exclude=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        settings = load(cls, environ)
        return settings.model_copy(update={"rate_limit": load(RateLimitSettings, environ)})
