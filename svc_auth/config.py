"""Auth settings, read once from `GOVAULT_*` variables (fails fast on a missing required one).

Argon2id defaults are OWASP's (t=2, m=19 MiB, p=1). The hashing pool runs cores − 1 threads
(at least 1) and refuses work when more than `hash_queue_max` hashes are already waiting.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import model_validator

from common.config import Settings, load, var
from common.db import DatabaseSettings
from common.grpc.server import GrpcServerSettings


class AuthServer(GrpcServerSettings):
    port: int = var("GRPC_PORT", 15051, ge=0, le=65535)
    metrics_port: int = var("METRICS_PORT", 9101, ge=0, le=65535)


class HashSettings(Settings):
    time_cost: int = var("ARGON2_TIME_COST", 2, ge=1)
    memory_kib: int = var("ARGON2_MEMORY_KIB", 19 * 1024)
    parallelism: int = var("ARGON2_PARALLELISM", 1, ge=1)
    workers: int = var("HASH_WORKERS", max(1, (os.cpu_count() or 1) - 1), ge=1)
    # Admission is by expected wait: a hash that would start later than `max_wait_s` from now
    # (hashes queued ahead × the recent time per hash ÷ workers) is refused at once with
    # Retry-After; `queue_max` is only a hard bound on memory.
    max_wait_s: float = var("HASH_MAX_WAIT_S", 5.0, gt=0)
    queue_max: int = var("HASH_QUEUE_MAX", 1024, ge=0)
    nice: int = var("HASH_NICE", 10)

    @model_validator(mode="after")
    def _enough_memory(self) -> Self:
        if self.memory_kib < 8 * self.parallelism:
            raise ValueError("GOVAULT_ARGON2_MEMORY_KIB must be at least 8 × parallelism")
        return self


class ThrottleSettings(Settings):
    """Failed-login throttling (svc_auth/throttle.py): failures are counted per (email, client
    address) and per client address over `window_s`; past the free allowance each further
    failure doubles the wait, up to `max_delay_s`."""

    window_s: float = var("LOGIN_THROTTLE_WINDOW_S", 300.0, gt=0)
    max_failures_per_email: int = var("LOGIN_MAX_FAILURES_PER_EMAIL", 10, ge=1)
    max_failures_per_address: int = var("LOGIN_MAX_FAILURES_PER_ADDRESS", 50, ge=1)
    max_keys: int = var("LOGIN_THROTTLE_MAX_KEYS", 100_000, ge=1)
    max_delay_s: float = var("LOGIN_THROTTLE_MAX_DELAY_S", 60.0, gt=0)  # cap of the growing wait


class AuthSettings(Settings):
    server: AuthServer
    db: DatabaseSettings
    hashing: HashSettings
    throttle: ThrottleSettings
    service_token: str = var("SERVICE_TOKEN", repr=False)
    jwt_private_key_file: str | None = var("JWT_PRIVATE_KEY_FILE", None)
    access_token_ttl_s: int = var("ACCESS_TOKEN_TTL_S", 15 * 60, ge=1)
    refresh_token_ttl_s: int = var("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600, ge=1)
    user_cache_ttl_s: float = var("USER_CACHE_TTL_S", 10.0, ge=0)
    token_purge_interval_s: float = var("TOKEN_PURGE_INTERVAL_S", 3600.0, ge=0)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AuthSettings:
        return load(cls, environ)
