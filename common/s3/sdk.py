"""The minio SDK, for what it does better than our transport: a client per endpoint (presigning
where the lean signer would differ, `common.s3.signing`; the rare blocking calls of
`S3Client.sdk`: server-side copy above 5 GiB, listing), and the blocking calls made with it
outside a service too: creating the bucket, listing open multipart uploads."""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from common.s3.settings import S3Settings


def minio_client(settings: S3Settings, endpoint: str) -> Minio:
    """A minio client for `endpoint` (the internal or the public one): presigning (pure, the
    region is set) and the rare blocking calls of `S3Client.sdk`."""
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(5.0, settings.timeout_s), read=settings.timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504)),
        maxsize=32,
    )
    return Minio(parts.netloc, access_key=settings.access_key, secret_key=settings.secret_key,
                 secure=parts.scheme == "https", region=settings.region, http_client=http)


def list_open_uploads(client: Minio, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, upload id) of every multipart upload open under `prefix` (ListMultipartUploads, all
    pages; blocking: through `S3Client.sdk` in a service). MinIO lists only the uploads of the
    object named exactly `prefix`."""
    found: list[tuple[str, str]] = []
    key_marker: str | None = None
    id_marker: str | None = None
    while True:
        page = client._list_multipart_uploads(  # no public call in the SDK
            bucket, prefix=prefix, key_marker=key_marker, upload_id_marker=id_marker,
            max_uploads=1000)
        found += [(u.object_name, u.upload_id) for u in page.uploads
                  if u.object_name and u.upload_id]
        if not page.is_truncated or not page.uploads:
            return found
        key_marker = page.next_key_marker or page.uploads[-1].object_name
        # the SDK files NextUploadIdMarker under a misspelt attribute name
        id_marker = (getattr(page, "self._next_upload_id_marker", None)
                     or page.uploads[-1].upload_id)


def create_bucket(client: Minio, bucket: str) -> bool:
    """The one way GoVault creates its bucket (the upload service at start-up, the local
    launcher, the container stack's init step): created unless it exists, a concurrent creator
    tolerated. True when this call created it. Blocking (the minio SDK)."""
    if client.bucket_exists(bucket):
        return False
    try:
        client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        return False
    return True
