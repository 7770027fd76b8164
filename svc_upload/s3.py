"""The only module that speaks S3.

Every S3 call goes out through one aiohttp session to a URL presigned by the minio SDK
(presigning is pure computation: the region is configured, so no bucket-location lookup):
- control calls (create/complete/abort multipart, list parts, HEAD, DELETE) with the S3 API
  timeout from config; measured cheaper than the blocking SDK in a thread (no thread hop, no
  urllib3, no payload hash);
- byte streams (proxy chunks): PUTs whose body is an async iterator fed straight from the gRPC
  stream, with an explicit Content-Length and UNSIGNED-PAYLOAD signing, so bytes are neither
  buffered whole nor hashed a second time.
The blocking SDK itself is used only for the bucket check at start-up (in a thread).

Presigned URLs for clients are signed by a second minio client built for the public endpoint;
both clients are given the region so presigning is pure computation (no bucket-location call).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import aiohttp
import urllib3
from minio import Minio
from minio.error import S3Error

from common.errors import Unavailable
from common.logging import get_logger
from common.s3_client import minio_client
from svc_upload import metrics
from svc_upload.config import S3Settings
from svc_upload.errors import EntityTooSmall, InvalidPart, NoSuchUpload

log = get_logger(__name__)

T = TypeVar("T")
_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_XML_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_XML_ETAG = re.compile(rb"<ETag>([^<]+)</ETag>")


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    etag: str


def _clean_etag(value: str) -> str:
    return value.replace("&quot;", "").replace("&#34;", "").strip().strip('"')


def _error_from(status: int, payload: bytes) -> Exception:
    match = _XML_CODE.search(payload)
    code = match.group(1).decode() if match else f"HTTP {status}"
    if code == "EntityTooSmall":
        return EntityTooSmall(code)
    if code in ("InvalidPart", "InvalidPartOrder"):
        return InvalidPart(code)
    if code == "NoSuchUpload":
        return NoSuchUpload(code)
    log.warning("s3_error", status=status, code=code)
    return Unavailable(f"the object store refused the request ({code})")


def _refusal(exc: S3Error) -> Exception:
    if exc.code == "EntityTooSmall":
        return EntityTooSmall(exc.message or exc.code)
    if exc.code in ("InvalidPart", "InvalidPartOrder"):
        return InvalidPart(exc.message or exc.code)
    if exc.code == "NoSuchUpload":
        return NoSuchUpload(exc.message or exc.code)
    log.warning("s3_error", code=exc.code, message=exc.message)
    return Unavailable(f"the object store refused the request ({exc.code})")


class S3Objects:
    def __init__(self, settings: S3Settings, client: Minio, presigner: Minio,
                 http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._client = client
        self._presigner = presigner
        self._http = http

    @classmethod
    async def open(cls, settings: S3Settings) -> S3Objects:
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections),
            timeout=aiohttp.ClientTimeout(total=settings.transfer_timeout_s, sock_connect=5.0),
            auto_decompress=False,
        )
        store = cls(settings, minio_client(settings, settings.endpoint),
                    minio_client(settings, settings.public_endpoint), http)
        if settings.create_bucket:
            await store.ensure_bucket()
        return store

    async def close(self) -> None:
        await self._http.close()

    async def _call(self, operation: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return await asyncio.to_thread(fn)
        except S3Error as exc:
            raise _refusal(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("s3_unreachable", operation=operation, error=str(exc))
            raise Unavailable("the object store is unavailable") from None
        finally:
            metrics.S3_DURATION.labels(metrics.SERVICE, operation).observe(
                time.perf_counter() - start)

    async def ensure_bucket(self) -> None:
        def make() -> None:
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await self._call("ensure_bucket", make)

    # control calls: aiohttp to presigned URLs (UNSIGNED-PAYLOAD; signing is pure computation)
    # rather than the blocking SDK in a thread: cheaper per call, and no thread hop.

    async def _request(self, operation: str, method: str, key: str, query: dict[str, str],
                       body: bytes | None = None) -> tuple[int, Any, bytes]:
        url = self._client.get_presigned_url(
            method, self._bucket, key, expires=timedelta(seconds=int(self._settings.timeout_s)
                                                         + 60),
            extra_query_params=dict(query))
        start = time.perf_counter()
        try:
            async with self._http.request(
                method, url, data=body, timeout=aiohttp.ClientTimeout(
                    total=self._settings.timeout_s, sock_connect=5.0),
            ) as response:
                return response.status, response.headers, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("s3_unreachable", operation=operation, error=repr(exc))
            raise Unavailable("the object store is unavailable") from None
        finally:
            metrics.S3_DURATION.labels(metrics.SERVICE, operation).observe(
                time.perf_counter() - start)

    async def create_multipart(self, key: str) -> str:
        status, _, payload = await self._request(metrics.OP_CREATE_MULTIPART, "POST", key,
                                                 {"uploads": ""})
        match = _XML_UPLOAD_ID.search(payload)
        if status != 200 or match is None:
            raise _error_from(status, payload)
        return match.group(1).decode()

    async def complete_multipart(self, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> str:
        """Completes with exactly the given (part number, ETag) list; returns the final ETag."""
        body = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>\"{escape(etag)}\"</ETag></Part>"
            for n, etag in parts) + "</CompleteMultipartUpload>"
        status, _, payload = await self._request(metrics.OP_COMPLETE_MULTIPART, "POST", key,
                                                 {"uploadId": upload_id}, body.encode())
        # S3 may answer 200 and still report an error in the body.
        if status != 200 or b"<Error>" in payload:
            raise _error_from(status, payload)
        match = _XML_ETAG.search(payload)
        return _clean_etag(match.group(1).decode()) if match else ""

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Aborts; an upload that no longer exists counts as aborted."""
        status, _, payload = await self._request(metrics.OP_ABORT_MULTIPART, "DELETE", key,
                                                 {"uploadId": upload_id})
        if status in (200, 204, 404):
            return
        raise _error_from(status, payload)

    async def multipart_exists(self, key: str, upload_id: str) -> bool:
        status, _, payload = await self._request(metrics.OP_LIST_PARTS, "GET", key,
                                                 {"uploadId": upload_id, "max-parts": "1"})
        if status == 200:
            return True
        error = _error_from(status, payload)
        if isinstance(error, NoSuchUpload) or status == 404:
            return False
        raise error

    async def stat(self, key: str) -> ObjectInfo | None:
        status, headers, payload = await self._request(metrics.OP_STAT_OBJECT, "HEAD", key, {})
        if status == 404:
            return None
        if status != 200:
            raise _error_from(status, payload)
        return ObjectInfo(int(headers.get("Content-Length", "0")),
                          _clean_etag(headers.get("ETag", "")))

    async def delete(self, key: str) -> None:
        status, _, payload = await self._request(metrics.OP_DELETE_OBJECT, "DELETE", key, {})
        if status not in (200, 204, 404):
            raise _error_from(status, payload)

    # presigning (pure computation: the region is configured) ----------------------------------

    def presign_part(self, key: str, upload_id: str, part_number: int, expires_s: int,
                     *, public: bool = True) -> str:
        client = self._presigner if public else self._client
        return client.get_presigned_url(
            "PUT", self._bucket, key, expires=timedelta(seconds=expires_s),
            extra_query_params={"uploadId": upload_id, "partNumber": str(part_number)},
        )

    async def presign_parts(self, key: str, upload_id: str, part_numbers: list[int],
                            expires_s: int) -> list[str]:
        def sign() -> list[str]:
            return [self.presign_part(key, upload_id, n, expires_s) for n in part_numbers]

        start = time.perf_counter()
        try:
            if len(part_numbers) <= 32:
                return sign()
            return await asyncio.to_thread(sign)
        finally:
            metrics.S3_DURATION.labels(metrics.SERVICE, metrics.OP_PRESIGN).observe(
                time.perf_counter() - start)

    # byte streams -----------------------------------------------------------------------------

    async def upload_part_stream(self, key: str, upload_id: str, part_number: int, length: int,
                                 body: AsyncIterator[bytes]) -> str:
        """Streams one part (exactly `length` bytes from `body`); returns its ETag."""
        url = self.presign_part(key, upload_id, part_number,
                                int(self._settings.transfer_timeout_s) + 60, public=False)
        return await self._put(metrics.OP_UPLOAD_PART, url, length, body)

    async def put_object_stream(self, key: str, length: int, body: AsyncIterator[bytes]) -> str:
        """Streams a whole object (exactly `length` bytes) with one PUT; returns its ETag."""
        url = self._client.get_presigned_url(
            "PUT", self._bucket, key,
            expires=timedelta(seconds=int(self._settings.transfer_timeout_s) + 60))
        return await self._put(metrics.OP_PUT_OBJECT, url, length, body)

    async def _put(self, operation: str, url: str, length: int,
                   body: AsyncIterator[bytes]) -> str:
        start = time.perf_counter()
        try:
            async with self._http.put(
                url, data=body,
                headers={"Content-Length": str(length),
                         "Content-Type": "application/octet-stream"},
            ) as response:
                payload = await response.read()
                if response.status != 200:
                    match = _XML_CODE.search(payload)
                    code = match.group(1).decode() if match else str(response.status)
                    if code == "NoSuchUpload":
                        raise NoSuchUpload(code)
                    log.warning("s3_put_refused", operation=operation, status=response.status,
                                code=code)
                    raise Unavailable(f"the object store refused the upload ({code})")
                return response.headers.get("ETag", "").strip('"')
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("s3_put_failed", operation=operation, error=repr(exc))
            raise Unavailable("the object store is unavailable") from exc
        finally:
            metrics.S3_DURATION.labels(metrics.SERVICE, operation).observe(
                time.perf_counter() - start)
