"""S3Objects: the upload service's objects, on the one S3 transport (common.s3). The only module
of the service that speaks S3.

Control calls (create/complete/abort multipart, list parts, HEAD, DELETE) are presigned
requests; proxy chunks are streamed PUTs (`common.s3.S3Client.put_stream`); part URLs for
clients are signed for the public endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from common import s3
from common.s3 import NoSuchUpload, ObjectInfo, S3Client, S3Settings, error_in, parse_xml

SERVICE = "upload"


class S3Objects:
    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    @classmethod
    async def open(cls, settings: S3Settings) -> S3Objects:
        objects = cls(S3Client(settings, SERVICE))
        if settings.create_bucket:
            await objects._s3.ensure_bucket()
        return objects

    async def close(self) -> None:
        await self._s3.close()

    async def probe(self) -> None:
        await self._s3.probe()

    async def create_multipart(self, key: str) -> str:
        answer = await self._s3.request(s3.OP_CREATE_MULTIPART, "POST", key, {"uploads": ""})
        upload_id = parse_xml(answer.payload).get("UploadId")
        error = error_in(answer.status, answer.payload)
        if error is not None or not upload_id:
            raise error or s3.classify("NoUploadId", status=answer.status)
        return upload_id

    async def complete_multipart(self, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> str:
        """Completes with exactly the given (part number, ETag) list; returns the final ETag."""
        answer = await self._s3.request(s3.OP_COMPLETE_MULTIPART, "POST", key,
                                        {"uploadId": upload_id}, s3.complete_body(parts))
        error = error_in(answer.status, answer.payload)  # a 200 may still carry an <Error>
        if error is not None:
            raise error
        return s3.clean_etag(parse_xml(answer.payload).get("ETag", ""))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Aborts; an upload that no longer exists counts as aborted."""
        answer = await self._s3.request(s3.OP_ABORT_MULTIPART, "DELETE", key,
                                        {"uploadId": upload_id})
        if answer.status not in (200, 204, 404):
            error = error_in(answer.status, answer.payload)
            if error is not None and not isinstance(error, NoSuchUpload):
                raise error

    async def multipart_exists(self, key: str, upload_id: str) -> bool:
        answer = await self._s3.request(s3.OP_LIST_PARTS, "GET", key,
                                        {"uploadId": upload_id, "max-parts": "1"})
        error = error_in(answer.status, answer.payload)
        if error is None:
            return True
        if isinstance(error, NoSuchUpload) or answer.status == 404:
            return False
        raise error

    async def stat(self, key: str) -> ObjectInfo | None:
        return await self._s3.stat(key)

    async def delete(self, key: str) -> None:
        await self._s3.delete(key)

    # presigning (pure computation: the region is configured) ----------------------------------

    async def presign_parts(self, key: str, upload_id: str, part_numbers: list[int],
                            expires_s: int) -> list[str]:
        def sign() -> list[str]:
            return [self._s3.presign("PUT", key, expires_s, public=True,
                                     query={"uploadId": upload_id, "partNumber": str(n)})
                    for n in part_numbers]

        with self._s3.timed(s3.OP_PRESIGN):
            # thousands of signatures would hold the loop for tens of milliseconds
            return sign() if len(part_numbers) <= 32 else await asyncio.to_thread(sign)

    # byte streams -----------------------------------------------------------------------------

    async def upload_part_stream(self, key: str, upload_id: str, part_number: int, length: int,
                                 body: AsyncIterator[bytes]) -> str:
        """Streams one part (exactly `length` bytes from `body`); returns its ETag."""
        return await self._s3.put_stream(s3.OP_UPLOAD_PART, key, length, body,
                                         {"uploadId": upload_id, "partNumber": str(part_number)})

    async def put_object_stream(self, key: str, length: int, body: AsyncIterator[bytes]) -> str:
        """Streams a whole object (exactly `length` bytes) with one PUT; returns its ETag."""
        return await self._s3.put_stream(s3.OP_PUT_OBJECT, key, length, body)

    def get_stream(self, key: str) -> AsyncIterator[bytes]:
        """An object's bytes as they arrive (a tus upload's tail, read back into a part)."""
        return self._s3.get_stream(s3.OP_GET_OBJECT, key)

    async def list_keys(self, prefix: str) -> dict[str, datetime]:
        """Every object under `prefix` → its last-modified time (temporary objects)."""
        return await self._s3.list_keys(prefix)
