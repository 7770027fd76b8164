"""The services' settings (pydantic-settings through common.config.load): the GOVAULT_ names and
defaults of docs/configuration.md, per-service ports, and a clear stop on a missing or bad value."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from svc_auth.config import AuthSettings
from svc_files.config import FilesSettings
from svc_upload.config import UploadSettings

REQUIRED = {"GOVAULT_DATABASE_URL": "postgresql://db/x", "GOVAULT_SERVICE_TOKEN": "t",
            "GOVAULT_S3_ENDPOINT": "http://127.0.0.1:8333", "GOVAULT_S3_ACCESS_KEY": "a",
            "GOVAULT_S3_SECRET_KEY": "s"}


def test_defaults_are_the_documented_ones() -> None:
    auth = AuthSettings.from_env(REQUIRED)
    upload = UploadSettings.from_env(REQUIRED)
    files = FilesSettings.from_env(REQUIRED)
    assert [(s.server.port, s.server.metrics_port) for s in (auth, upload, files)] == [
        (15051, 9101), (15052, 9102), (15053, 9103)]
    assert (auth.db.pool_min, auth.db.pool_max) == (2, 10)
    assert (files.db.pool_min, files.db.pool_max) == (2, 10)
    assert (upload.db.pool_min, upload.db.pool_max) == (2, 20)  # the busiest pool: twice
    assert (auth.hashing.time_cost, auth.hashing.memory_kib, auth.hashing.parallelism) == (
        2, 19456, 1)
    assert (auth.throttle.window_s, auth.throttle.max_failures_per_email,
            auth.throttle.max_failures_per_address) == (300, 10, 50)
    assert (auth.access_token_ttl_s, auth.token_purge_interval_s) == (900, 3600)
    assert upload.s3.public_endpoint == upload.s3.endpoint == "http://127.0.0.1:8333"
    assert (upload.s3.bucket, upload.s3.timeout_s) == ("govault", 30)
    assert (files.rules.page_size_default, files.rules.page_size_max,
            files.rules.download_url_ttl_s) == (20, 100, 600)
    assert (files.janitor_interval_s, files.audit_grace_s) == (10, 300)


def test_variables_override_defaults() -> None:
    upload = UploadSettings.from_env({
        **REQUIRED, "GOVAULT_GRPC_PORT": "7001", "GOVAULT_DB_POOL_MAX": "3",
        "GOVAULT_S3_PUBLIC_ENDPOINT": "https://cdn.example", "GOVAULT_S3_CREATE_BUCKET": "false",
        "GOVAULT_UPLOAD_CHUNK_SIZE_BYTES": str(8 * 1024 * 1024), "GOVAULT_LOG_LEVEL": ""})
    assert (upload.server.port, upload.db.pool_max) == (7001, 3)
    assert (upload.s3.public_endpoint, upload.s3.create_bucket) == ("https://cdn.example", False)
    assert upload.rules.chunk_size_bytes == 8 * 1024 * 1024
    assert upload.server.log_level == "info"  # empty means unset


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "GOVAULT_DATABASE_URL is required but not set"),
    ({**REQUIRED, "GOVAULT_GRPC_PORT": "x"}, "GOVAULT_GRPC_PORT"),
    ({**REQUIRED, "GOVAULT_S3_ENDPOINT": "127.0.0.1:8333"}, "GOVAULT_S3_ENDPOINT"),
    ({**REQUIRED, "GOVAULT_UPLOAD_CHUNK_SIZE_BYTES": "1024"}, "at least 5 MiB"),
    ({**REQUIRED, "GOVAULT_DOWNLOAD_URL_TTL_S": "0"}, "GOVAULT_DOWNLOAD_URL_TTL_S"),
])
def test_a_missing_or_bad_value_stops_with_its_name(environ: dict[str, str],
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        UploadSettings.from_env(environ)
        FilesSettings.from_env(environ)
    assert message in str(caught.value.code)
