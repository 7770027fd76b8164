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


def _cores_but_one() -> int:
    return max(1, (os.cpu_count() or 1) - 1)


class HashSettings(Settings):
    """Argon2id parameters for new hashes (OWASP's) and the hashing threads. Admission is by
    expected wait: a hash that would start later than `max_wait_s` from now (hashes queued
    ahead × the recent time per hash ÷ workers) is refused at once with Retry-After;
    `queue_max` is only a hard bound on memory."""

    time_cost: int = var("ARGON2_TIME_COST", 2, ge=1, description=(
        "Argon2id iterations for new hashes (OWASP's 2)"))
    memory_kib: int = var("ARGON2_MEMORY_KIB", 19 * 1024, description=(
        "Argon2id memory per hash for new hashes, KiB (OWASP's 19 MiB; at least 8 × "
        "parallelism)"))
    parallelism: int = var("ARGON2_PARALLELISM", 1, ge=1, description=(
        "Argon2id lanes for new hashes (OWASP's 1)"))
    workers: int = var("HASH_WORKERS", default_factory=_cores_but_one, ge=1, description=(
        "password-hashing threads (default: CPU cores − 1, at least 1)"))
    max_wait_s: float = var("HASH_MAX_WAIT_S", 5.0, gt=0, description=(
        "a hash that would wait longer than this for a thread (hashes ahead × recent time per "
        "hash ÷ workers) is refused at once: 503 OVERLOADED with Retry-After"))
    queue_max: int = var("HASH_QUEUE_MAX", 1024, ge=0, description=(
        "hard bound on hashes waiting for a thread (a memory bound)"))
    nice: int = var("HASH_NICE", 10, description=(
        "nice value of the hashing threads, so requests preempt them (0 leaves them alone)"))

    @model_validator(mode="after")
    def _enough_memory(self) -> Self:
        if self.memory_kib < 8 * self.parallelism:
            raise ValueError("GOVAULT_ARGON2_MEMORY_KIB must be at least 8 × parallelism")
        return self


class ThrottleSettings(Settings):
    """Failed-login throttling (svc_auth/throttle.py): failures are counted per (email, client
    address) and per client address over `window_s`; past the free allowance each further
    failure doubles the wait, up to `max_delay_s`."""

    window_s: float = var("LOGIN_THROTTLE_WINDOW_S", 300.0, gt=0, description=(
        "a client's failed logins are forgotten this long after its last failure"))
    max_failures_per_email: int = var("LOGIN_MAX_FAILURES_PER_EMAIL", 10, ge=1, description=(
        "failed logins allowed per (email, client address) before each further attempt from "
        "that client waits, 5 s doubling per failure; never a lockout, other clients are not "
        "delayed"))
    max_failures_per_address: int = var("LOGIN_MAX_FAILURES_PER_ADDRESS", 50, ge=1,
                                        description=(
        "failed logins allowed per client address (any email) before the same growing wait"))
    max_keys: int = var("LOGIN_THROTTLE_MAX_KEYS", 100_000, ge=1, description=(
        "emails + addresses the throttle remembers (least recently touched dropped first)"))
    max_delay_s: float = var("LOGIN_THROTTLE_MAX_DELAY_S", 60.0, gt=0, description=(
        "cap of the growing wait"))


class AuthSettings(Settings):
    server: AuthServer
    db: DatabaseSettings
    hashing: HashSettings
    throttle: ThrottleSettings
    service_token: str = var("SERVICE_TOKEN", repr=False, description=(
        "shared secret of the internal RPCs (metadata `x-govault-service`): the same value for "
        "auth, upload and files"))
    jwt_private_key_file: str | None = var("JWT_PRIVATE_KEY_FILE", None, description=(
        "PEM Ed25519 private key that signs access tokens (the launcher generates a dev key; "
        "unset: a key generated at start-up, lost on restart)"))
    access_token_ttl_s: int = var("ACCESS_TOKEN_TTL_S", 15 * 60, ge=1, description=(
        "access JWT lifetime (15 min)"))
    refresh_token_ttl_s: int = var("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600, ge=1, description=(
        "refresh token lifetime (30 days)"))
    user_cache_ttl_s: float = var("USER_CACHE_TTL_S", 10.0, ge=0, description=(
        "account-row cache for GetUser (`/auth/me`); 0 disables it"))
    token_purge_interval_s: float = var("TOKEN_PURGE_INTERVAL_S", 3600.0, ge=0, description=(
        "how often expired refresh tokens are deleted (0: never)"))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AuthSettings:
        return load(cls, environ)
