"""Request and response models of the uploads area, and its operations."""

from __future__ import annotations

from typing import Annotated

import msgspec

from common.files import S3_MAX_PART_BYTES, S3_MAX_PARTS, S3_MIN_PART_BYTES
from edge.api.base import (
    END,
    INT32_MAX,
    UUID_PATTERN,
    FileName,
    FileSize,
    Model,
    Operation,
    Param,
    PartNumber,
    Size,
    Timestamp,
    Uuid,
)

# S3's part ETag as its PUT answered it (quotes and surrounding white space are dropped): some
# character other than ASCII white space or a quote, at most 128 characters. ETAG_AROUND is
# common.files.ETAG_SPACE and the quote as regex escapes that ECMAScript and Python read alike.
ETAG_AROUND = r' \t\n\v\f\r"'
ETag = Annotated[str, msgspec.Meta(pattern=rf'^[{ETAG_AROUND}]*[^{ETAG_AROUND}\x00][^\x00]*{END}',
                                   min_length=1, max_length=128)]
PartSize = Annotated[int, msgspec.Meta(
    ge=1, le=S3_MAX_PART_BYTES,
    description="bytes; at most 5 GiB, at least 5 MiB unless the file fits in one part")]


CHUNK_SIZE_RULE = (
    f"Optional: the client's chunk size, from 5 MiB ({S3_MIN_PART_BYTES}, S3's minimum part "
    f"size) to 5 GiB, and at most {S3_MAX_PARTS:,} chunks for the file; chunks larger than this "
    "edge's chunk body limit (GOVAULT_MAX_CHUNK_BYTES, set by the server) are refused. Every "
    "chunk but the last has exactly this size. Omitted (as clients of the original GoVault do): "
    "the reply proposes the server's default (GOVAULT_UPLOAD_CHUNK_SIZE_BYTES), and the first "
    "chunk sent tells the size the client slices with (any size of at least 5 MiB; the status "
    "then gives the size in force); a later chunk that contradicts it is refused "
    "(CHUNK_SIZE_MISMATCH).")


ChunkSize = Annotated[int, msgspec.Meta(ge=S3_MIN_PART_BYTES, le=S3_MAX_PART_BYTES,
                                        description=CHUNK_SIZE_RULE)]


class ProxySession(Model):
    file_name: FileName
    file_size_bytes: FileSize
    chunk_size_bytes: ChunkSize | msgspec.UnsetType = msgspec.UNSET


class ProxySessionReply(Model):
    upload_uuid: Uuid
    total_chunks: int
    chunk_size_bytes: Annotated[int, msgspec.Meta(
        description="the chunk size in force: every chunk but the last has exactly this size")]
    expires_at: Timestamp


class ChunkReply(Model):
    status: Annotated[str, msgspec.Meta(description="uploading, or completed")]
    upload_uuid: Uuid
    chunk_index: int
    received_bytes: int
    checksum: Annotated[str, msgspec.Meta(description="hex SHA-256 of the chunk")]
    file_id: Annotated[str, msgspec.Meta(description="present when completed")] = ""


class Status(Model):
    upload_uuid: Uuid
    status: str
    upload_method: Annotated[str, msgspec.Meta(description="proxy or multipart")]
    total_chunks: int
    received: list[int]
    uploaded_chunks: Annotated[list[int], msgspec.Meta(
        description="the original GoVault's name for `received`: the same list")]
    expires_at: Timestamp
    file_name: str
    file_size_bytes: int
    chunk_size_bytes: int
    file_id: str = ""


class PartUrl(Model):
    part_number: int
    url: str


class MultipartSession(Model):
    file_name: FileName
    file_size_bytes: FileSize
    part_size_bytes: PartSize


class MultipartSessionReply(Model):
    upload_uuid: Uuid
    total_chunks: int
    storage_upload_id: str
    parts: list[PartUrl]
    expires_at: Timestamp
    part_size_bytes: int
    urls_expire_at: Timestamp


class Part(Model):
    upload_uuid: Uuid
    part_number: PartNumber
    size_bytes: Size
    etag: ETag


class PartReply(Model):
    upload_uuid: Uuid
    part_number: int
    registered_parts: int
    total_chunks: int


class Presign(Model):
    upload_uuid: Uuid
    part_numbers: Annotated[list[PartNumber], msgspec.Meta(
        max_length=S3_MAX_PARTS, description="empty: every part not yet registered")] = []


class PresignReply(Model):
    parts: list[PartUrl]
    expires_at: Timestamp


class Upload(Model):
    upload_uuid: Uuid


class ListedPart(Model):
    part_number: PartNumber
    etag: ETag
    size_bytes: Size


# A complete's body may list every part: 10,001 of the longest (a 128-character ETag) fit, so an
# over-long list is judged 400 by its schema rather than refused unread as too large.
COMPLETE_MAX_BYTES = 2 * 1024 * 1024


class Complete(Model):
    upload_uuid: Uuid
    parts: Annotated[list[ListedPart], msgspec.Meta(
        max_length=S3_MAX_PARTS,
        description="Optional: parts not registered with POST /api/upload/multipart/part, each "
                    "with the ETag its PUT answered (a client holding every ETag may list them "
                    "all instead of registering each). Listed and registered parts must agree: "
                    "a part registered with another ETag or size is a 409 CONFLICT, and "
                    "nothing is recorded")] = []


class CompleteReply(Model):
    file_id: str
    size_bytes: int
    checksum: str
    upload_uuid: Uuid
    status: str
    file_name: str


_SESSION_ERRORS = {
    404: "no such upload session (or not the caller's): UPLOAD_NOT_FOUND",
    409: "the session cannot take this (UPLOAD_ABORTED, UPLOAD_EXPIRED, UPLOAD_FAILED, "
         "UPLOAD_IN_PROGRESS, CONFLICT)",
}
# Creating a session reserves the file's declared size against the caller's storage quota.
_QUOTA = {413: "the body is too large (PAYLOAD_TOO_LARGE), or the caller's storage quota cannot "
               "hold the file (QUOTA_EXCEEDED: the message says how much is free; nothing is "
               "kept, GET /api/files/me/usage shows the figures)"}
CHUNK_ID = Param("id", "query", {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
                 required=True, description="chunk index, 0-based")
UPLOAD_UUID_SCHEMA = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}

PROXY_SESSION = Operation(
    "post", "/api/upload/proxy/session",
    "Start a proxy upload (chunk size: the client's chunk_size_bytes or the server's default)",
    "uploads", ok=ProxySessionReply, body=ProxySession, errors=_QUOTA)
PROXY_CHUNK = Operation(
    "post", "/api/upload/proxy/chunk",
    "Send chunk `id` (0-based) as the raw body; the response to the chunk that completes the "
    "upload is sent after the file is stored and registered", "uploads",
    ok=ChunkReply, raw_body=True, errors={
        **_SESSION_ERRORS, 413: "the chunk is too large",
        429: "rate limited (RATE_LIMITED), or as many chunks of this account in flight as the "
             "server allows (TOO_MANY_STREAMS); see Retry-After"},
    params=(
        CHUNK_ID,
        Param("Upload-UUID", "header", UPLOAD_UUID_SCHEMA, required=True),
        Param("Checksum", "header", {"type": "string"},
              description="hex SHA-256 of the chunk; a mismatch → 400 CHECKSUM_MISMATCH"),
    ))
STATUS = Operation(
    "get", "/api/upload/status",
    "Where an upload stands (received chunk indexes or part numbers)", "uploads",
    ok=Status, errors=_SESSION_ERRORS,
    params=(Param("upload_uuid", "query", UPLOAD_UUID_SCHEMA, required=True),))
MULTIPART_SESSION = Operation(
    "post", "/api/upload/multipart/session",
    "Start a direct-to-S3 multipart upload; returns presigned part URLs", "uploads",
    ok=MultipartSessionReply, body=MultipartSession, errors=_QUOTA)
MULTIPART_PART = Operation(
    "post", "/api/upload/multipart/part",
    "Report a part's ETag (idempotent; a new ETag replaces the old one)", "uploads",
    ok=PartReply, body=Part, errors=_SESSION_ERRORS)
MULTIPART_PRESIGN = Operation(
    "post", "/api/upload/multipart/presign",
    "Fresh presigned URLs for parts (empty list: every part not yet registered)", "uploads",
    ok=PresignReply, body=Presign, errors=_SESSION_ERRORS)
MULTIPART_COMPLETE = Operation(
    "post", "/api/upload/multipart/complete",
    "Complete the upload (idempotent: repeating it returns the same file). checksum is S3's "
    "multipart ETag", "uploads", ok=CompleteReply, body=Complete, errors=_SESSION_ERRORS)
ABORT = Operation(
    "post", "/api/upload/abort", "Abort an upload (the S3 multipart upload is aborted)",
    "uploads", ok_status=204, body=Upload, errors=_SESSION_ERRORS)

OPERATIONS = (PROXY_SESSION, PROXY_CHUNK, STATUS, MULTIPART_SESSION, MULTIPART_PART,
              MULTIPART_PRESIGN, MULTIPART_COMPLETE, ABORT)
