"""The only module that speaks S3.

Two kinds of calls:
- control calls (create/complete/abort multipart, list parts, stat, delete) through the blocking
  minio SDK, run with `asyncio.to_thread`, each bounded by the urllib3 timeouts from config;
- byte streams (proxy chunks) through aiohttp PUTs to presigned URLs: the body is an async
  iterator fed straight from the gRPC stream, with an explicit Content-Length and
  UNSIGNED-PAYLOAD signing, so bytes are neither buffered whole nor hashed a second time.

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
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
import urllib3
from minio import Minio
from minio.datatypes import Part as MinioPart
from minio.error import S3Error

from common.logging import get_logger
from svc_upload import metrics
from svc_upload.config import S3Settings
from svc_upload.errors import EntityTooSmall, InvalidPart, NoSuchUpload, Unavailable

log = get_logger(__name__)

T = TypeVar("T")
_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    etag: str


def _minio(endpoint: str, settings: S3Settings) -> Minio:
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=settings.timeout_s),
        maxsize=32,
        retries=urllib3.Retry(total=2, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504)),
    )
    return Minio(
        parts.netloc,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=parts.scheme == "https",
        region=settings.region,
        http_client=http,
    )


def _refusal(exc: S3Error) -> Exception:
    if exc.code == "EntityTooSmall":
        return EntityTooSmall(exc.message or exc.code)
    if exc.code in ("InvalidPart", "InvalidPartOrder"):
        return InvalidPart(exc.message or exc.code)
    if exc.code == "NoSuchUpload":
        return NoSuchUpload(exc.message or exc.code)
    log.warning("s3_error", code=exc.code, message=exc.message)
    return Unavailable(f"the object store refused the request ({exc.code})")


class S3Store:
    def __init__(self, settings: S3Settings, client: Minio, presigner: Minio,
                 http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._client = client
        self._presigner = presigner
        self._http = http

    @classmethod
    async def open(cls, settings: S3Settings) -> S3Store:
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.max_connections),
            timeout=aiohttp.ClientTimeout(total=settings.transfer_timeout_s, sock_connect=5.0),
            auto_decompress=False,
        )
        store = cls(settings, _minio(settings.endpoint, settings),
                    _minio(settings.public_endpoint, settings), http)
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

    # multipart control ------------------------------------------------------------------------

    async def create_multipart(self, key: str) -> str:
        return await self._call(
            metrics.OP_CREATE_MULTIPART,
            lambda: self._client._create_multipart_upload(self._bucket, key, {}),
        )

    async def complete_multipart(self, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> str:
        """Completes with exactly the given (part number, ETag) list; returns the final ETag."""
        minio_parts = [MinioPart(number, etag) for number, etag in parts]
        result = await self._call(
            metrics.OP_COMPLETE_MULTIPART,
            lambda: self._client._complete_multipart_upload(self._bucket, key, upload_id,
                                                            minio_parts),
        )
        return (result.etag or "").strip('"')

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Aborts; an upload that no longer exists counts as aborted."""
        try:
            await self._call(
                metrics.OP_ABORT_MULTIPART,
                lambda: self._client._abort_multipart_upload(self._bucket, key, upload_id),
            )
        except NoSuchUpload:
            return

    async def multipart_exists(self, key: str, upload_id: str) -> bool:
        try:
            await self._call(
                metrics.OP_LIST_PARTS,
                lambda: self._client._list_parts(self._bucket, key, upload_id, max_parts=1),
            )
        except NoSuchUpload:
            return False
        return True

    # objects ----------------------------------------------------------------------------------

    async def stat(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            try:
                info = self._client.stat_object(self._bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                    return None
                raise
            return ObjectInfo(int(info.size or 0), (info.etag or "").strip('"'))

        return await self._call(metrics.OP_STAT_OBJECT, stat)

    async def delete(self, key: str) -> None:
        await self._call(metrics.OP_DELETE_OBJECT,
                         lambda: self._client.remove_object(self._bucket, key))

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
