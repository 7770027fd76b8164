"""Presigned URLs, pure computation (the region is configured: no bucket-location lookup), for
the internal endpoint (every call the services make) and the public one (what clients reach):
by `common.sigv4` (the minio SDK's URLs at a fraction of its CPU) wherever it signs exactly as the
SDK does; the SDK still signs for AWS hosts, which it addresses virtual-host style."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from minio import Minio

from common.s3.sdk import minio_client
from common.s3.settings import S3Settings
from common.sigv4 import Presigner


def lean_presigner(settings: S3Settings, endpoint: str, sdk: Minio) -> Presigner | None:
    """The lean signer for `endpoint` if it signs a sample URL exactly as the SDK does; None
    where it would not (an AWS or Aliyun host, which the SDK addresses virtual-host style)."""
    lean = Presigner(endpoint, settings.access_key, settings.secret_key, settings.region)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    query = {"partNumber": "1", "uploadId": "a b/c~", "response-content-disposition": "x y"}
    mine = lean.presign("PUT", settings.bucket, "users/a b/ü~", 60, query, when)
    theirs = sdk.get_presigned_url("PUT", settings.bucket, "users/a b/ü~",
                                   expires=timedelta(seconds=60), request_date=when,
                                   extra_query_params=dict(query))
    return lean if mine == theirs else None



class Signers:
    """The signers of one bucket; `sdk` is the internal endpoint's SDK client (also the one the
    blocking SDK calls run on)."""

    def __init__(self, settings: S3Settings) -> None:
        self.bucket = settings.bucket
        self.sdk = minio_client(settings, settings.endpoint)
        self._public_sdk = minio_client(settings, settings.public_endpoint)
        self.lean = {False: lean_presigner(settings, settings.endpoint, self.sdk),
                     True: lean_presigner(settings, settings.public_endpoint, self._public_sdk)}

    def presign(self, method: str, key: str, expires_s: int, *,
                query: Mapping[str, str] | None = None, public: bool = False,
                response_headers: Mapping[str, str] | None = None) -> str:
        presigner = self.lean[public]
        if presigner is not None:
            return presigner.presign(method, self.bucket, key, expires_s,
                                     {**(query or {}), **(response_headers or {})})
        signer = self._public_sdk if public else self.sdk
        return signer.get_presigned_url(
            method, self.bucket, key, expires=timedelta(seconds=expires_s),
            response_headers=dict(response_headers) if response_headers else None,
            extra_query_params=dict(query) if query else None)

