"""`S3Settings` (`GOVAULT_S3_*`): the store the services use and what clients are pointed at."""

from __future__ import annotations

from typing import Self

from pydantic import field_validator, model_validator

from common.config import Settings, var


class S3Settings(Settings):
    """`GOVAULT_S3_*`: the store the services use and what clients are pointed at."""

    endpoint: str = var("S3_ENDPOINT", description=(
        "the S3 store as the services reach it, e.g. `http://127.0.0.1:8333`"))
    public_endpoint: str = var("S3_PUBLIC_ENDPOINT", "", description=(
        "the store as clients reach it: the host of presigned URLs (default: the endpoint)"))
    access_key: str = var("S3_ACCESS_KEY", description="the store's access key")
    secret_key: str = var("S3_SECRET_KEY", repr=False, description="the store's secret key")
    bucket: str = var("S3_BUCKET", "govault", description="the one private bucket of file bytes")
    region: str = var("S3_REGION", "us-east-1", description=(
        "the store's region (presigned URLs are signed for it, with no lookup)"))
    timeout_s: float = var("S3_TIMEOUT_S", 30.0, gt=0, description="one S3 API call, in all")
    read_timeout_s: float = var("S3_READ_TIMEOUT_S", 5.0, gt=0, description=(
        "a control call's answer does not start for this long: the store is unavailable"))
    stall_timeout_s: float = var("S3_STALL_TIMEOUT_S", 10.0, gt=0, description=(
        "a streamed PUT the store neither takes nor answers for this long, while it answers "
        "no probe either: the store is unavailable"))
    transfer_timeout_s: float = var("S3_TRANSFER_TIMEOUT_S", 300.0, gt=0, description=(
        "one streamed PUT (a proxy chunk), in all"))
    max_connections: int = var("S3_MAX_CONNECTIONS", 256, ge=1, description=(
        "open connections to the store per process"))
    create_bucket: bool = var("S3_CREATE_BUCKET", True, description=(
        "the upload service creates the bucket at start-up when it is missing (false: an "
        "operator creates it)"))

    @field_validator("endpoint", "public_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _public_defaults_to_endpoint(self) -> Self:
        if not self.public_endpoint:
            object.__setattr__(self, "public_endpoint", self.endpoint)
        return self
