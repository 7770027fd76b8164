"""Presigned S3 URLs (AWS Signature Version 4, query-string form, path-style, UNSIGNED-PAYLOAD):
the URLs `common.s3` sends every call to and hands to clients, signed without the minio SDK.

The SDK builds the same URL (tests/unit/common/test_sigv4.py compares them character for
character) at several times the CPU: it checks the bucket and key names, rebuilds the base URL,
parses and re-splits the query and derives the signing key again on every call. Here the parts
that depend only on the endpoint and the day (host, credential scope, signing key) are computed
once.

Must not: sign virtual-host-style URLs (AWS hosts); `common.s3` leaves those to the SDK.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Presigner:
    """Signs URLs to `endpoint` (`http(s)://host[:port]`) for one access key and region."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        parts = urlsplit(endpoint)
        self._base = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.netloc
        self._access_key = access_key
        self._secret_key = secret_key
        self._region = region
        self._day = ""
        self._key = b""
        self._credential = ""

    def _signing_key(self, day: str) -> tuple[bytes, str]:
        if day != self._day:  # once a day
            key = _hmac(("AWS4" + self._secret_key).encode(), day)
            for part in (self._region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._key, self._day = key, day
            self._credential = quote(f"{self._access_key}/{day}/{self._region}/s3/aws4_request",
                                     safe="")
        return self._key, self._credential

    def presign(self, method: str, bucket: str, key: str, expires_s: int,
                query: Mapping[str, str] | None = None, when: datetime | None = None) -> str:
        """The URL `method` on `bucket`/`key` may be sent to for `expires_s` seconds; `query`:
        more parameters, signed too (`uploadId`, `partNumber`, `response-content-*`)."""
        now = when or datetime.now(UTC)
        day = now.strftime("%Y%m%d")
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        signing_key, credential = self._signing_key(day)
        path = f"/{bucket}/{quote(key)}"
        params = [f"{quote(k, safe='')}={quote(v, safe='')}"
                  for k, v in sorted((query or {}).items())]
        params += [f"X-Amz-Algorithm={ALGORITHM}", f"X-Amz-Credential={credential}",
                   f"X-Amz-Date={amz_date}", f"X-Amz-Expires={expires_s}",
                   "X-Amz-SignedHeaders=host"]
        canonical_query = "&".join(sorted(params, key=lambda p: p.split("=")))
        canonical = (f"{method}\n{path}\n{canonical_query}\nhost:{self._host}\n\nhost\n"
                     "UNSIGNED-PAYLOAD")
        to_sign = (f"{ALGORITHM}\n{amz_date}\n{day}/{self._region}/s3/aws4_request\n"
                   + hashlib.sha256(canonical.encode()).hexdigest())
        signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self._base}{path}?{'&'.join(params)}&X-Amz-Signature={signature}"
