"""Upload service settings, read once from `GOVAULT_*` variables (see CONTRIBUTING.md)."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from common.config import Settings, load, var
from common.db import DatabaseSettings
from common.grpc.server import GrpcServerSettings
from common.s3 import S3Settings

MIB = 1024 * 1024


class UploadServer(GrpcServerSettings):
    port: int = var("GRPC_PORT", 15052, ge=0, le=65535)
    metrics_port: int = var("METRICS_PORT", 9102, ge=0, le=65535)


class UploadRules(Settings):
    # default proxy chunk size, a session may ask for its own (at least 5 MiB in a service: see
    # UploadSettings)
    chunk_size_bytes: int = var("UPLOAD_CHUNK_SIZE_BYTES", 5 * MIB, ge=1)
    max_file_size_bytes: int = var("UPLOAD_MAX_FILE_SIZE_BYTES", 50 * 1024 * MIB, ge=1)
    # a session not completed by then is expired by the reaper
    session_ttl_s: float = var("UPLOAD_SESSION_TTL_S", 24 * 3600.0, gt=0)
    presign_expiry_s: int = var("UPLOAD_PRESIGN_EXPIRY_S", 900)  # presigned part URLs
    # a `completing` claim older than this may be taken over
    completing_lease_s: float = var("UPLOAD_COMPLETING_LEASE_S", 300.0, ge=0)
    # how long a loser of the completion race waits for the winner
    completion_wait_s: float = var("UPLOAD_COMPLETION_WAIT_S", 60.0, ge=0)
    # tus uploads (svc_upload/tus.py): the S3 part size (raised for very large uploads), how
    # long a writer's lease outlives its last sign of life (a killed writer's upload is refused
    # as locked, 423, until then), and how old an unnamed temporary object must be before the
    # reaper deletes it
    tus_part_size_bytes: int = var("UPLOAD_TUS_PART_SIZE_BYTES", 5 * MIB, ge=5 * MIB,
                                   le=2 * 1024 * MIB)
    tus_lease_s: float = var("UPLOAD_TUS_LEASE_S", 15.0, gt=0)
    tus_sweep_grace_s: float = var("UPLOAD_TUS_SWEEP_GRACE_S", 600.0, ge=0)


class UploadSettings(Settings):
    server: UploadServer
    db: DatabaseSettings
    s3: S3Settings
    rules: UploadRules
    auth_addr: str = var("AUTH_ADDR", "127.0.0.1:15051")
    files_addr: str = var("FILES_ADDR", "127.0.0.1:15053")
    service_token: str = var("SERVICE_TOKEN", repr=False)
    rpc_timeout_s: float = var("RPC_TIMEOUT_S", 10.0, gt=0)
    register_timeout_s: float = var("UPLOAD_REGISTER_TIMEOUT_S", 15.0, gt=0)
    reaper_interval_s: float = var("UPLOAD_REAPER_INTERVAL_S", 60.0, ge=0)  # 0: no reaper
    reaper_batch: int = var("UPLOAD_REAPER_BATCH", 100, ge=1)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> UploadSettings:
        return load(cls, environ)

    @model_validator(mode="after")
    def _chunks_are_s3_parts(self) -> Self:
        # chunks of multi-chunk files become S3 parts: S3's minimum part size applies
        if self.rules.chunk_size_bytes < 5 * MIB:
            raise ValueError("GOVAULT_UPLOAD_CHUNK_SIZE_BYTES must be at least 5 MiB")
        return self
