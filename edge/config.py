"""Edge settings, read once from `GOVAULT_*` variables."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import Env
from edge.ratelimit import RateLimitSettings


@dataclass(frozen=True)
class EdgeSettings:
    host: str
    port: int
    metrics_port: int
    auth_addr: str
    upload_addr: str
    files_addr: str
    rpc_timeout_s: float
    upload_rpc_timeout_s: float
    max_json_bytes: int
    max_chunk_bytes: int
    cors_origins: tuple[str, ...]
    trust_forwarded_for: bool
    upstream_max_in_flight: int
    shutdown_grace_s: float
    log_level: str
    redis_url: str | None
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings.disabled)

    @classmethod
    def from_env(cls, env: Env | None = None) -> EdgeSettings:
        env = env or Env()
        return cls(
            host=env.str("LISTEN_HOST", "127.0.0.1"),
            port=env.int("EDGE_PORT", 9000),
            metrics_port=env.int("METRICS_PORT", 9100),
            auth_addr=env.str("AUTH_ADDR", "127.0.0.1:50051"),
            upload_addr=env.str("UPLOAD_ADDR", "127.0.0.1:50052"),
            files_addr=env.str("FILES_ADDR", "127.0.0.1:50053"),
            rpc_timeout_s=env.float("RPC_TIMEOUT_S", 10.0),
            upload_rpc_timeout_s=env.float("UPLOAD_RPC_TIMEOUT_S", 120.0),
            max_json_bytes=env.int("MAX_JSON_BYTES", 64 * 1024),
            max_chunk_bytes=env.int("MAX_CHUNK_BYTES", 64 * 1024 * 1024),
            cors_origins=env.list("CORS_ORIGINS"),
            trust_forwarded_for=env.bool("TRUST_FORWARDED_FOR", False),
            # The bound catches a stuck upstream (fast 503 instead of a pile-up of waiting
            # calls); it is not a concurrency cap for healthy load: 512 shed 7 % of the seed's
            # 1000-user run.
            upstream_max_in_flight=env.int("UPSTREAM_MAX_IN_FLIGHT", 2048),
            shutdown_grace_s=env.float("SHUTDOWN_GRACE_S", 10.0),
            log_level=env.str("LOG_LEVEL", "info"),
            redis_url=env.optional("REDIS_URL"),
            rate_limit=RateLimitSettings.from_env(env),
        )
