"""The lean presigner (common.sigv4) signs the very URL the minio SDK signs, and S3Client uses it
only for endpoints where it does (path-style hosts); AWS hosts stay with the SDK."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.s3 import S3Client, S3Settings, minio_client
from common.sigv4 import Presigner

WHEN = datetime(2026, 12, 6, 23, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize("method, key, query", [
    ("POST", "users/0f2c/9a1b", {"uploads": ""}),
    ("PUT", "users/0f2c/9a1b", {"partNumber": "7", "uploadId": "b3Jn=+/x~y"}),
    ("GET", "users/a b/ü~(1).txt", {"response-content-disposition":
                                     "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
                                     "response-content-type": "application/pdf"}),
    ("HEAD", "users/0f2c/9a1b", {}),
    ("DELETE", "k", {"uploadId": "2~3"}),
])
@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "https://store.example:9443"])
def test_the_url_is_the_sdks_character_for_character(
        endpoint: str, method: str, key: str, query: dict[str, str]) -> None:
    settings = S3Settings(endpoint=endpoint, access_key="AK/with+chars", secret_key="s3cr=t/+",
                          bucket="govault", region="eu-central-1")
    sdk = minio_client(settings, endpoint)
    theirs = sdk.get_presigned_url(method, "govault", key, expires=timedelta(seconds=3660),
                                   request_date=WHEN, extra_query_params=dict(query))
    lean = Presigner(endpoint, settings.access_key, settings.secret_key, settings.region)
    assert lean.presign(method, "govault", key, 3660, query, WHEN) == theirs
    # the signing key is cached per day: the next day signs as the SDK does too
    later = WHEN + timedelta(seconds=5)
    assert lean.presign(method, "govault", key, 60, query, later) == sdk.get_presigned_url(
        method, "govault", key, expires=timedelta(seconds=60), request_date=later,
        extra_query_params=dict(query))


def test_aws_hosts_are_signed_by_the_sdk() -> None:
    for endpoint, lean in (("http://127.0.0.1:8333", True), ("https://s3.amazonaws.com", False),
                           ("https://s3.eu-west-1.amazonaws.com", False)):
        settings = S3Settings(endpoint=endpoint, access_key="ak", secret_key="sk",
                              region="eu-west-1")
        client = S3Client(settings, "test")
        assert (client._signers.lean[False] is not None) is lean
        url = client.presign("GET", "users/x/y", 60, public=True)
        assert url.startswith(endpoint + "/govault/users/x/y?" if lean
                              else "https://govault.s3.")
