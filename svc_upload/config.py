"""Upload service settings, read once from `GOVAULT_*` variables (docs/configuration.md is
generated from them)."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from common.config import Settings, load, var
from common.db import DatabaseSettings
from common.files import MAX_FILE_SIZE_BYTES, MIB, S3_MIN_PART_BYTES
from common.grpc.server import GrpcServerSettings
from common.s3 import S3Settings


class UploadServer(GrpcServerSettings):
    port: int = var("GRPC_PORT", 15052, ge=0, le=65535)
    metrics_port: int = var("METRICS_PORT", 9102, ge=0, le=65535)


class UploadDatabase(DatabaseSettings):
    # Twice the other services' 10: every session, registration and completion runs statements
    # here, and under a saturated CPU a connection stays taken until the loop gets to its
    # result; with 10 the pool became the queue (docs/performance.md: staged multipart, stage 4,
    # pool wait p95 1.6 s → 0.4 s, 21 → 26 iterations/s with 20).
    pool_max: int = var("DB_POOL_MAX", 20, ge=1, description=(
        "most connections the pool opens (size it against PostgreSQL's max_connections)"))


class UploadRules(Settings):
    chunk_size_bytes: int = var("UPLOAD_CHUNK_SIZE_BYTES", 5 * MIB, ge=1, description=(
        "proxy chunk size a session proposes when its client names none (at least 5 MiB, S3's "
        "smallest part; raised to the next MiB multiple for a file that would need more than "
        "10,000 chunks); a client that slices at another size is followed, its first chunk "
        "decides"))
    max_file_size_bytes: int = var(
        "UPLOAD_MAX_FILE_SIZE_BYTES", MAX_FILE_SIZE_BYTES, ge=1, le=MAX_FILE_SIZE_BYTES,
        description=("largest file a session may declare (at most what /openapi.json states, "
                     "50 GiB: a lower value is answered 400 FILE_TOO_LARGE)"))
    session_ttl_s: float = var("UPLOAD_SESSION_TTL_S", 24 * 3600.0, gt=0, description=(
        "an upload session not completed this long after it opened is expired by the reaper "
        "(its S3 multipart upload aborted)"))
    presign_expiry_s: int = var("UPLOAD_PRESIGN_EXPIRY_S", 900, description=(
        "lifetime of presigned part URLs (kept within S3's 1 s to 7 days)"))
    completing_lease_s: float = var("UPLOAD_COMPLETING_LEASE_S", 300.0, ge=0, description=(
        "a `completing` claim older than this may be taken over by another request or the "
        "reaper"))
    completion_wait_s: float = var("UPLOAD_COMPLETION_WAIT_S", 60.0, ge=0, description=(
        "how long a request that lost the completion race waits for the winner before "
        "answering 409 UPLOAD_IN_PROGRESS"))
    tus_part_size_bytes: int = var("UPLOAD_TUS_PART_SIZE_BYTES", 5 * MIB, ge=5 * MIB,
                                   le=2 * 1024 * MIB, description=(
        "S3 part size of tus uploads (raised for very large uploads; docs/tus.md)"))
    tus_lease_s: float = var("UPLOAD_TUS_LEASE_S", 15.0, gt=0, description=(
        "how long a tus writer's lease outlives its last sign of life (a killed writer's upload "
        "is refused as locked, 423, until then, unless a newer request takes over)"))
    tus_sweep_grace_s: float = var("UPLOAD_TUS_SWEEP_GRACE_S", 600.0, ge=0, description=(
        "age of an unnamed tus temporary object before the reaper deletes it"))


class UploadSettings(Settings):
    server: UploadServer
    db: UploadDatabase
    s3: S3Settings
    rules: UploadRules
    auth_addr: str = var("AUTH_ADDR", "127.0.0.1:15051")
    files_addr: str = var("FILES_ADDR", "127.0.0.1:15053")
    service_token: str = var("SERVICE_TOKEN", repr=False)
    rpc_timeout_s: float = var("RPC_TIMEOUT_S", 10.0, gt=0)
    register_timeout_s: float = var("UPLOAD_REGISTER_TIMEOUT_S", 15.0, gt=0, description=(
        "deadline of the files service's RegisterFile at completion"))
    reaper_interval_s: float = var("UPLOAD_REAPER_INTERVAL_S", 60.0, ge=0, description=(
        "period of the reaper: expires sessions, aborts their S3 uploads, finishes or fails "
        "stuck completions (0: no reaper)"))
    reaper_batch: int = var("UPLOAD_REAPER_BATCH", 100, ge=1, description=(
        "sessions the reaper handles per pass"))
    orphan_grace_s: float = var("UPLOAD_ORPHAN_GRACE_S", 600.0, ge=0, description=(
        "a session that ended without recording its S3 upload id has its key listed by the "
        "reaper this long after, and any multipart upload the store made late is aborted"))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> UploadSettings:
        return load(cls, environ)

    @model_validator(mode="after")
    def _chunks_are_s3_parts(self) -> Self:
        # chunks of multi-chunk files become S3 parts: S3's minimum part size applies
        if self.rules.chunk_size_bytes < S3_MIN_PART_BYTES:
            raise ValueError("GOVAULT_UPLOAD_CHUNK_SIZE_BYTES must be at least 5 MiB")
        return self
