"""S3Objects: the files service's objects, on the one S3 transport (common.s3). The only module
of the service that speaks S3.

Deletes and existence checks are presigned requests; presigned downloads are signed for the
public endpoint (pure computation); the rare server-side copy (multipart above 5 GiB, which the
SDK handles) and the audit's listing run the blocking SDK in a thread (`S3Client.sdk`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from minio import Minio
from minio.commonconfig import CopySource

from common import s3
from common.s3 import S3Client, S3Settings

SERVICE = "files"


def content_disposition(file_name: str) -> str:
    """`attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in file_name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class S3Objects:
    def __init__(self, settings: S3Settings) -> None:
        self._s3 = S3Client(settings, SERVICE)
        self._bucket = settings.bucket

    async def close(self) -> None:
        await self._s3.close()

    async def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy (multipart copy above 5 GiB, handled by the SDK)."""
        def copy(client: Minio) -> None:
            client.copy_object(self._bucket, target_key, CopySource(self._bucket, source_key))

        await self._s3.sdk(s3.OP_COPY_OBJECT, copy)

    async def remove(self, key: str) -> None:
        """Idempotent: removing a missing object succeeds."""
        await self._s3.delete(key)

    async def exists(self, key: str) -> bool:
        return await self._s3.stat(key) is not None

    async def list_objects(self, prefix: str = "users/") -> dict[str, datetime]:
        """Every object under `prefix` → its last-modified time."""
        return await self._s3.list_keys(prefix)

    def presign_get(self, key: str, ttl: timedelta, file_name: str, mime_type: str) -> str:
        with self._s3.timed(s3.OP_PRESIGN_GET):
            return self._s3.presign("GET", key, int(ttl.total_seconds()), public=True,
                                    response_headers={
                                        "response-content-disposition":
                                            content_disposition(file_name),
                                        "response-content-type": mime_type,
                                    })
