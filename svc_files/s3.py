"""The only module that speaks S3. The minio SDK blocks, so every network call runs in a thread
(`asyncio.to_thread`) with a timeout from config, and is timed into
govault_s3_request_duration_seconds{service="files", operation}.

Presigned URLs are signed with a second client built for the *public* endpoint (what clients
reach) with the region set, so presigning is pure computation: no network call, no thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import urllib3
from minio.commonconfig import CopySource
from minio.error import InvalidResponseError, S3Error, ServerError

from common.errors import Unavailable
from common.s3_client import S3Settings, minio_client
from svc_files import metrics

T = TypeVar("T")

_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NotFound"}


def content_disposition(file_name: str) -> str:
    """`attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in file_name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class S3Objects:
    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._client = minio_client(settings, settings.endpoint)
        self._presigner = minio_client(settings, settings.public_endpoint)

    async def _call(self, operation: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), self._settings.timeout_s * 2)
        except (TimeoutError, urllib3.exceptions.HTTPError) as exc:
            raise Unavailable(f"object store unavailable ({type(exc).__name__})") from None
        except S3Error as exc:
            raise Unavailable(f"object store refused {operation} ({exc.code})") from None
        except (ServerError, InvalidResponseError):
            raise Unavailable(f"object store failed {operation}") from None
        finally:
            metrics.S3_SECONDS.labels(metrics.SERVICE, operation).observe(
                time.perf_counter() - start
            )

    async def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy (multipart copy above 5 GiB, handled by the SDK)."""
        await self._call(
            metrics.OP_COPY,
            lambda: self._client.copy_object(
                self._bucket, target_key, CopySource(self._bucket, source_key)
            ),
        )

    async def remove(self, key: str) -> None:
        """Idempotent: removing a missing object succeeds."""
        def remove() -> None:
            try:
                self._client.remove_object(self._bucket, key)
            except S3Error as exc:
                if exc.code not in _MISSING_CODES:
                    raise

        await self._call(metrics.OP_REMOVE, remove)

    async def exists(self, key: str) -> bool:
        def stat() -> bool:
            try:
                self._client.stat_object(self._bucket, key)
            except S3Error as exc:
                if exc.code in _MISSING_CODES:
                    return False
                raise
            return True

        return await self._call(metrics.OP_STAT, stat)

    async def list_objects(self, prefix: str = "users/") -> dict[str, datetime]:
        """Every object under `prefix` → its last-modified time."""
        epoch = datetime.fromtimestamp(0, UTC)

        def list_all() -> dict[str, datetime]:
            return {
                obj.object_name: obj.last_modified or epoch
                for obj in self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
                if obj.object_name and not obj.is_dir
            }

        return await self._call(metrics.OP_LIST, list_all)

    def presign_get(self, key: str, ttl: timedelta, file_name: str, mime_type: str) -> str:
        start = time.perf_counter()
        try:
            return self._presigner.presigned_get_object(
                self._bucket,
                key,
                expires=ttl,
                response_headers={
                    "response-content-disposition": content_disposition(file_name),
                    "response-content-type": mime_type,
                },
            )
        finally:
            metrics.S3_SECONDS.labels(metrics.SERVICE, metrics.OP_PRESIGN_GET).observe(
                time.perf_counter() - start
            )
