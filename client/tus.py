"""Uploads by the tus 1.0 protocol (`govault put --method tus`): to GoVault's own tus endpoint
(`/api/upload/tus/`, with the session's token) or to any tus server's (`endpoint`, anonymous
unless it is GoVault's origin).

The upload's URL is recorded in the `ResumeStore` as soon as the server created it; run again
after an interruption, the upload asks HEAD where the server stands and sends only the rest.
The bytes go in PATCHes of `chunk_bytes` (0: everything left in one PATCH, streamed from disk);
a PATCH that fails (no answer, a 5xx, 409 or 423) is followed by a HEAD and the upload goes on
from the offset the server kept, a bounded number of times in a row.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from client.api import GoVaultClient
from client.errors import ApiError, ClientError, TransportError, UploadExpired
from client.streams import Flow, file_range

VERSION = "1.0.0"
PATH = "/api/upload/tus/"
_GONE = frozenset({404, 410})
_TRY_AGAIN = frozenset({409, 423, 429, 500, 502, 503, 504})
MAX_FAILURES_IN_A_ROW = 8


def metadata(name: str) -> str:
    kind = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                    for key, value in (("filename", name), ("filetype", kind)))


class TusUpload:
    """One file to one tus endpoint."""

    def __init__(self, client: GoVaultClient, endpoint: str = "") -> None:
        self.client = client
        self.endpoint = endpoint or client.server.rstrip("/") + PATH
        self._own = _origin(self.endpoint) == _origin(client.server)

    def _request(self, method: str, url: str, headers: Mapping[str, str],
                 body: Any = None) -> httpx.Response:
        sent = {"Tus-Resumable": VERSION, **headers}
        if self._own:
            return self.client.call(method, url, idempotent=False, body=body, headers=sent)
        return self.client.transport.request(method, url, idempotent=False, body=body,
                                             headers=sent)

    def create(self, name: str, size: int) -> str:
        """A new upload of `size` bytes; its absolute URL."""
        response = self._request("POST", self.endpoint, {
            "Upload-Length": str(size), "Upload-Metadata": metadata(name)})
        location = str(response.headers.get("Location", ""))
        if response.status_code != 201 or not location:
            raise ClientError(f"the tus server answered the creation with "
                              f"{response.status_code} and no upload URL")
        return urljoin(self.endpoint, location)

    def offset(self, url: str) -> int:
        """The bytes the server has; UploadExpired when the upload is gone."""
        try:
            response = self._request("HEAD", url, {})
        except ApiError as exc:
            if exc.status in _GONE:
                raise UploadExpired(f"the upload {url} is gone ({exc.status})") from exc
            raise
        return int(response.headers.get("Upload-Offset", "-1"))

    def send(self, url: str, path: Path, size: int, offset: int, flow: Flow,
             chunk_bytes: int = 0) -> None:
        """Everything from `offset` to the end, in PATCHes, going on from HEAD's offset after a
        failed one."""
        failures = 0
        while offset < size:
            length = size - offset if chunk_bytes <= 0 else min(chunk_bytes, size - offset)
            sent = file_range(path, offset, length, flow)
            try:
                response = self._request("PATCH", url, {
                    "Upload-Offset": str(offset), "Content-Length": str(length),
                    "Content-Type": "application/offset+octet-stream"}, sent)
                offset = int(response.headers["Upload-Offset"])
                failures = 0
                continue
            except ApiError as exc:
                if exc.status in _GONE:
                    raise UploadExpired(f"the upload {url} is gone ({exc.status})") from exc
                if exc.status not in _TRY_AGAIN:
                    raise
                wait = exc.retry_after_s or 1.0
                error: ClientError = exc
            except TransportError as exc:
                wait, error = 1.0, exc
            failures += 1
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise error
            flow.check()
            time.sleep(min(wait, 5.0) * failures)
            kept = self.offset(url)
            flow.progress(kept - offset - sent.reported)  # what the server kept of it
            offset = kept


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
