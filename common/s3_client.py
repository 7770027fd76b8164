"""S3 settings (`GOVAULT_S3_*`) and the minio client factory shared by the upload and files
services.

This module only builds clients: it makes no S3 call. Each service's `s3.py` stays the only
module that speaks S3 (and runs the blocking SDK off the event loop). Service-specific settings
(the upload service's streaming timeouts, say) extend `S3Settings` in that service's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from minio import Minio

from common.config import ConfigError, Env


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # what the services use, e.g. http://127.0.0.1:8333
    public_endpoint: str  # what clients use (presigned URLs)
    access_key: str
    secret_key: str
    bucket: str
    region: str
    timeout_s: float  # one S3 request

    @classmethod
    def from_env(cls, env: Env) -> S3Settings:
        endpoint = env.str("S3_ENDPOINT")
        for name, value in (("S3_ENDPOINT", endpoint),
                            ("S3_PUBLIC_ENDPOINT", env.optional("S3_PUBLIC_ENDPOINT"))):
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(f"GOVAULT_{name} must start with http:// or https://")
        return cls(
            endpoint=endpoint,
            public_endpoint=env.str("S3_PUBLIC_ENDPOINT", endpoint),
            access_key=env.str("S3_ACCESS_KEY"),
            secret_key=env.str("S3_SECRET_KEY"),
            bucket=env.str("S3_BUCKET", "govault"),
            region=env.str("S3_REGION", "us-east-1"),
            timeout_s=env.float("S3_TIMEOUT_S", 30.0),
        )


def minio_client(settings: S3Settings, endpoint: str) -> Minio:
    """A minio client for `endpoint` (the internal or the public one). The region is set, so
    presigning is pure computation (no bucket-location lookup); requests time out per
    `settings.timeout_s` and retry server errors twice."""
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(5.0, settings.timeout_s), read=settings.timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504)),
        maxsize=32,
    )
    return Minio(
        parts.netloc,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=parts.scheme == "https",
        region=settings.region,
        http_client=http,
    )
