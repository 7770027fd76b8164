"""The one S3 transport of the services that speak S3 (upload and files), by role:

    settings.py  S3Settings (`GOVAULT_S3_*`)
    signing.py   presigned URLs: the lean signer (`common.sigv4`) where it signs as the SDK does,
                 the minio SDK elsewhere (AWS hosts); pure computation
    client.py    S3Client: requests and byte streams over aiohttp on its own connection pools,
                 deadlines, the readiness probe, out-of-space detection, timing
    errors.py    what an answer means: the refusals a service acts on, StorageFull, Unavailable
    parsing.py   the XML: answers parsed with a real parser, the CompleteMultipartUpload body
    sdk.py       the minio SDK client and the blocking calls made with it (bucket creation,
                 listing open multipart uploads)

Callers import from `common.s3` (the names below); the modules import each other in one
direction: settings ← sdk ← signing ← client, parsing ← errors ← client.

Must not: know any service's rules or keys; it moves bytes and names. The S3 part limits are in
`common.files` (the edge checks them too and must not import this package).
"""

from common.s3.client import (
    CAPACITY_PROBE_KEY,
    CAPACITY_PROBE_MAX_BYTES,
    CAPACITY_RECHECK_S,
    OP_ABORT_MULTIPART,
    OP_CAPACITY_PROBE,
    OP_COMPLETE_MULTIPART,
    OP_COPY_OBJECT,
    OP_CREATE_MULTIPART,
    OP_DELETE_OBJECT,
    OP_ENSURE_BUCKET,
    OP_GET_OBJECT,
    OP_LIST_MULTIPART,
    OP_LIST_OBJECTS,
    OP_LIST_PARTS,
    OP_PRESIGN,
    OP_PRESIGN_GET,
    OP_PROBE,
    OP_PUT_OBJECT,
    OP_STAT_OBJECT,
    OP_UPLOAD_PART,
    S3_SECONDS,
    STORE_FULL,
    Answer,
    ObjectInfo,
    S3Client,
)
from common.s3.errors import (
    MISSING_KEY_CODES,
    EntityTooSmall,
    InvalidPart,
    NoSuchUpload,
    StoreRefused,
    classify,
    error_in,
)
from common.s3.parsing import clean_etag, complete_body, parse_xml
from common.s3.sdk import create_bucket, list_open_uploads, minio_client
from common.s3.settings import S3Settings

__all__ = [
    "CAPACITY_PROBE_KEY", "CAPACITY_PROBE_MAX_BYTES", "CAPACITY_RECHECK_S", "MISSING_KEY_CODES",
    "OP_ABORT_MULTIPART", "OP_CAPACITY_PROBE", "OP_COMPLETE_MULTIPART", "OP_COPY_OBJECT",
    "OP_CREATE_MULTIPART", "OP_DELETE_OBJECT", "OP_ENSURE_BUCKET", "OP_GET_OBJECT",
    "OP_LIST_MULTIPART", "OP_LIST_OBJECTS", "OP_LIST_PARTS", "OP_PRESIGN", "OP_PRESIGN_GET",
    "OP_PROBE", "OP_PUT_OBJECT", "OP_STAT_OBJECT", "OP_UPLOAD_PART", "S3_SECONDS", "STORE_FULL",
    "Answer", "EntityTooSmall", "InvalidPart", "NoSuchUpload", "ObjectInfo", "S3Client",
    "S3Settings", "StoreRefused", "classify", "clean_etag", "complete_body", "create_bucket",
    "error_in", "list_open_uploads", "minio_client", "parse_xml",
]
