"""Auth settings, read once from `GOVAULT_*` variables (fails fast on a missing required one).

Argon2id defaults are OWASP's (t=2, m=19 MiB, p=1). The hashing pool runs cores − 1 threads
(at least 1) and refuses work when more than `hash_queue_max` hashes are already waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.config import ConfigError, Env
from common.db import DatabaseSettings
from common.grpc.server import GrpcServerSettings


@dataclass(frozen=True)
class HashSettings:
    time_cost: int
    memory_kib: int
    parallelism: int
    workers: int
    queue_max: int
    nice: int = 10

    @classmethod
    def from_env(cls, env: Env) -> HashSettings:
        settings = cls(
            time_cost=env.int("ARGON2_TIME_COST", 2),
            memory_kib=env.int("ARGON2_MEMORY_KIB", 19 * 1024),
            parallelism=env.int("ARGON2_PARALLELISM", 1),
            workers=env.int("HASH_WORKERS", max(1, (os.cpu_count() or 1) - 1)),
            queue_max=env.int("HASH_QUEUE_MAX", 32),
            nice=env.int("HASH_NICE", 10),
        )
        if settings.time_cost < 1 or settings.memory_kib < 8 * settings.parallelism:
            raise ConfigError("GOVAULT_ARGON2_* parameters are out of range")
        if settings.workers < 1 or settings.queue_max < 0:
            raise ConfigError("GOVAULT_HASH_WORKERS must be >= 1, GOVAULT_HASH_QUEUE_MAX >= 0")
        return settings


@dataclass(frozen=True)
class ThrottleSettings:
    window_s: float
    max_failures_per_email: int
    max_failures_per_address: int
    max_keys: int

    @classmethod
    def from_env(cls, env: Env) -> ThrottleSettings:
        return cls(
            window_s=env.float("LOGIN_THROTTLE_WINDOW_S", 300.0),
            max_failures_per_email=env.int("LOGIN_MAX_FAILURES_PER_EMAIL", 10),
            max_failures_per_address=env.int("LOGIN_MAX_FAILURES_PER_ADDRESS", 50),
            max_keys=env.int("LOGIN_THROTTLE_MAX_KEYS", 100_000),
        )


@dataclass(frozen=True)
class AuthSettings:
    server: GrpcServerSettings
    database: DatabaseSettings
    hashing: HashSettings
    throttle: ThrottleSettings
    service_token: str
    jwt_private_key_file: str | None
    access_token_ttl_s: int
    refresh_token_ttl_s: int
    user_cache_ttl_s: float
    token_purge_interval_s: float

    @classmethod
    def from_env(cls, env: Env | None = None) -> AuthSettings:
        env = env or Env()
        settings = cls(
            server=GrpcServerSettings.from_env(env, default_port=50051, default_metrics_port=9101),
            database=DatabaseSettings.from_env(env),
            hashing=HashSettings.from_env(env),
            throttle=ThrottleSettings.from_env(env),
            service_token=env.str("SERVICE_TOKEN"),
            jwt_private_key_file=env.optional("JWT_PRIVATE_KEY_FILE"),
            access_token_ttl_s=env.int("ACCESS_TOKEN_TTL_S", 15 * 60),
            refresh_token_ttl_s=env.int("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
            user_cache_ttl_s=env.float("USER_CACHE_TTL_S", 10.0),
            token_purge_interval_s=env.float("TOKEN_PURGE_INTERVAL_S", 3600.0),
        )
        if settings.access_token_ttl_s < 1 or settings.refresh_token_ttl_s < 1:
            raise ConfigError("token lifetimes must be positive")
        return settings
