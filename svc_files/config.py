"""Files-service settings, read once from `GOVAULT_*` variables (see CONTRIBUTING.md)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ConfigError, Env, load
from common.db import DatabaseSettings
from common.grpc.server import GrpcServerSettings
from common.s3 import S3Settings

__all__ = ["DEFAULT_GRPC_PORT", "DEFAULT_METRICS_PORT", "FilesSettings", "Rules", "S3Settings"]

DEFAULT_GRPC_PORT = 50053
DEFAULT_METRICS_PORT = 9103


@dataclass(frozen=True)
class Rules:
    """Limits the domain service enforces."""

    page_size_default: int = 20
    page_size_max: int = 100
    max_share_recipients: int = 10
    download_url_ttl_s: int = 600
    public_base_url: str = "http://127.0.0.1:9000"

    @classmethod
    def from_env(cls, env: Env) -> Rules:
        rules = cls(
            page_size_default=env.int("FILES_PAGE_SIZE", 20),
            page_size_max=env.int("FILES_PAGE_SIZE_MAX", 100),
            max_share_recipients=env.int("FILES_MAX_SHARE_RECIPIENTS", 10),
            download_url_ttl_s=env.int("DOWNLOAD_URL_TTL_S", 600),
            public_base_url=env.str("PUBLIC_BASE_URL", "http://127.0.0.1:9000").rstrip("/"),
        )
        if not 1 <= rules.page_size_default <= rules.page_size_max:
            raise ConfigError("GOVAULT_FILES_PAGE_SIZE must be between 1 and the maximum")
        if rules.max_share_recipients < 1:
            raise ConfigError("GOVAULT_FILES_MAX_SHARE_RECIPIENTS must be at least 1")
        if not 1 <= rules.download_url_ttl_s <= 7 * 24 * 3600:
            raise ConfigError("GOVAULT_DOWNLOAD_URL_TTL_S must be between 1 s and 7 days")
        return rules


@dataclass(frozen=True)
class FilesSettings:
    grpc: GrpcServerSettings
    db: DatabaseSettings
    s3: S3Settings
    rules: Rules
    auth_addr: str
    service_token: str
    rpc_timeout_s: float
    janitor_interval_s: float  # how often owed object deletions are retried (0: never)
    janitor_batch: int
    audit_interval_s: float  # in-process audit period feeding the audit gauges (0: off)
    audit_grace_s: float  # objects younger than this are uploads in flight, not orphans

    @classmethod
    def from_env(cls, env: Env | None = None) -> FilesSettings:
        env = env or Env()
        return cls(
            grpc=GrpcServerSettings.from_env(env, DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT),
            db=DatabaseSettings.from_env(env),
            s3=load(S3Settings, env.environ),
            rules=Rules.from_env(env),
            auth_addr=env.str("AUTH_ADDR", "127.0.0.1:50051"),
            service_token=env.str("SERVICE_TOKEN"),
            rpc_timeout_s=env.float("RPC_TIMEOUT_S", 10.0),
            janitor_interval_s=env.float("FILES_JANITOR_INTERVAL_S", 10.0),
            janitor_batch=env.int("FILES_JANITOR_BATCH", 100),
            audit_interval_s=env.float("FILES_AUDIT_INTERVAL_S", 0.0),
            audit_grace_s=env.float("FILES_AUDIT_GRACE_S", 300.0),
        )
