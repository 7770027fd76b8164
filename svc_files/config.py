"""Files-service settings, read once from `GOVAULT_*` variables (docs/configuration.md is
generated from them)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BeforeValidator, model_validator

from common.config import Settings, load, var
from common.db import DatabaseSettings
from common.files import MAX_SHARE_RECIPIENTS
from common.grpc.server import GrpcServerSettings
from common.s3 import S3Settings
from svc_files.rules import parse_size

GIB = 1024**3
# Bytes, or a size such as `10GiB`; 0 / `unlimited`: no quota.
Bytes = Annotated[int, BeforeValidator(parse_size)]

__all__ = ["FilesServer", "FilesSettings", "Rules", "S3Settings"]


class FilesServer(GrpcServerSettings):
    port: int = var("GRPC_PORT", 15053, ge=0, le=65535)
    metrics_port: int = var("METRICS_PORT", 9103, ge=0, le=65535)


class Rules(Settings):
    """Limits the domain service enforces."""

    page_size_default: int = var("FILES_PAGE_SIZE", 20, ge=1, description=(
        "files per listing page when the client names no `limit`"))
    page_size_max: int = var("FILES_PAGE_SIZE_MAX", 100, ge=1, description=(
        "largest `limit` of a listing page"))
    max_share_recipients: int = var(
        "FILES_MAX_SHARE_RECIPIENTS", MAX_SHARE_RECIPIENTS, ge=1, le=MAX_SHARE_RECIPIENTS,
        description=("recipients per share request (at most what /openapi.json states, "
                     "common.files: a lower value is answered 400 TOO_MANY_RECIPIENTS)"))
    download_url_ttl_s: int = var("DOWNLOAD_URL_TTL_S", 600, ge=1, le=7 * 24 * 3600,
                                  description="lifetime of presigned download URLs")
    public_base_url: str = var("PUBLIC_BASE_URL", "http://127.0.0.1:9000", description=(
        "the edge's address as clients reach it: the base of the public-link URLs this service "
        "hands out (the launcher sets it to its stack's edge, port offset included)"))
    default_quota_bytes: Bytes = var(
        "DEFAULT_QUOTA_BYTES", 10 * GIB, ge=0,
        description="storage quota of every user without one of their own (`python -m svc_files "
                    "quota set`), in bytes or as `10GiB`; 0 or `unlimited`: no quota. 10 GiB by "
                    "default so that no account can fill the store's disk on a fresh install; "
                    "it applies to existing users too (their usage is counted from their files), "
                    "and an operator raises it here or per user.")

    @model_validator(mode="after")
    def _page_sizes(self) -> Self:
        if self.page_size_default > self.page_size_max:
            raise ValueError("GOVAULT_FILES_PAGE_SIZE must be between 1 and the maximum")
        object.__setattr__(self, "public_base_url", self.public_base_url.rstrip("/"))
        return self


class FilesSettings(Settings):
    server: FilesServer
    db: DatabaseSettings
    s3: S3Settings
    rules: Rules
    auth_addr: str = var("AUTH_ADDR", "127.0.0.1:15051")
    service_token: str = var("SERVICE_TOKEN", repr=False)
    rpc_timeout_s: float = var("RPC_TIMEOUT_S", 10.0, gt=0)
    janitor_interval_s: float = var("FILES_JANITOR_INTERVAL_S", 10.0, ge=0, description=(
        "how often owed S3 deletions are retried (0: never)"))
    janitor_batch: int = var("FILES_JANITOR_BATCH", 100, ge=1, description=(
        "owed deletions retried per janitor pass"))
    audit_interval_s: float = var("FILES_AUDIT_INTERVAL_S", 0.0, ge=0, description=(
        "period of the in-process bucket-vs-rows audit feeding the audit gauges (0: off)"))
    audit_grace_s: float = var("FILES_AUDIT_GRACE_S", 300.0, ge=0, description=(
        "objects younger than this count as uploads in flight, not orphans"))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> FilesSettings:
        return load(cls, environ)
