"""Upload service settings, read once from `GOVAULT_*` variables."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common import s3_client
from common.config import ConfigError, Env
from common.db import DatabaseSettings
from common.grpc.server import GrpcServerSettings

MIB = 1024 * 1024


@dataclass(frozen=True)
class S3Settings(s3_client.S3Settings):
    """The shared S3 settings plus what the proxy's streaming and start-up need."""

    transfer_timeout_s: float  # per streamed PUT of one chunk (timeout_s: per S3 API call)
    max_connections: int
    create_bucket: bool

    @classmethod
    def from_env(cls, env: Env) -> S3Settings:
        return cls(
            **asdict(s3_client.S3Settings.from_env(env)),
            transfer_timeout_s=env.float("S3_TRANSFER_TIMEOUT_S", 300.0),
            max_connections=env.int("S3_MAX_CONNECTIONS", 256),
            create_bucket=env.bool("S3_CREATE_BUCKET", True),
        )


@dataclass(frozen=True)
class UploadRules:
    chunk_size_bytes: int  # default proxy chunk size (a session may ask for its own)
    max_file_size_bytes: int
    session_ttl_s: float  # a session not completed by then is expired by the reaper
    presign_expiry_s: int  # lifetime of presigned part URLs
    completing_lease_s: float  # a `completing` claim older than this may be taken over
    completion_wait_s: float  # how long a loser of the completion race waits for the winner

    @classmethod
    def from_env(cls, env: Env) -> UploadRules:
        rules = cls(
            chunk_size_bytes=env.int("UPLOAD_CHUNK_SIZE_BYTES", 5 * MIB),
            max_file_size_bytes=env.int("UPLOAD_MAX_FILE_SIZE_BYTES", 50 * 1024 * MIB),
            session_ttl_s=env.float("UPLOAD_SESSION_TTL_S", 24 * 3600.0),
            presign_expiry_s=env.int("UPLOAD_PRESIGN_EXPIRY_S", 900),
            completing_lease_s=env.float("UPLOAD_COMPLETING_LEASE_S", 300.0),
            completion_wait_s=env.float("UPLOAD_COMPLETION_WAIT_S", 60.0),
        )
        if rules.chunk_size_bytes < 5 * MIB:
            # chunks of multi-chunk files become S3 parts: S3's minimum part size applies
            raise ConfigError("GOVAULT_UPLOAD_CHUNK_SIZE_BYTES must be at least 5 MiB")
        return rules


@dataclass(frozen=True)
class UploadSettings:
    server: GrpcServerSettings
    db: DatabaseSettings
    s3: S3Settings
    rules: UploadRules
    auth_addr: str
    files_addr: str
    service_token: str
    rpc_timeout_s: float
    register_timeout_s: float
    reaper_interval_s: float  # 0 disables the periodic reaper
    reaper_batch: int

    @classmethod
    def from_env(cls, env: Env | None = None) -> UploadSettings:
        env = env or Env()
        return cls(
            server=GrpcServerSettings.from_env(env, 50052, 9102),
            db=DatabaseSettings.from_env(env),
            s3=S3Settings.from_env(env),
            rules=UploadRules.from_env(env),
            auth_addr=env.str("AUTH_ADDR", "127.0.0.1:50051"),
            files_addr=env.str("FILES_ADDR", "127.0.0.1:50053"),
            service_token=env.str("SERVICE_TOKEN"),
            rpc_timeout_s=env.float("RPC_TIMEOUT_S", 10.0),
            register_timeout_s=env.float("UPLOAD_REGISTER_TIMEOUT_S", 15.0),
            reaper_interval_s=env.float("UPLOAD_REAPER_INTERVAL_S", 60.0),
            reaper_batch=env.int("UPLOAD_REAPER_BATCH", 100),
        )
