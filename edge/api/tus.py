"""The tus 1.0 routes (resumable uploads by the open protocol, edge/routes/tus.py): what they take
and answer. Their answers carry the tus headers rather than JSON bodies; errors are the usual
error body, with the statuses tus names (409 offset, 410 gone, 412 version, 415 content type,
460 checksum)."""

from __future__ import annotations

from edge.api.base import INT64_MAX, Operation, Param
from edge.api.uploads import UPLOAD_UUID_SCHEMA

BASE = "/api/upload/tus/"
UPLOAD = BASE + "{upload_uuid}"
VERSION = "1.0.0"
OFFSET_OCTET_STREAM = "application/offset+octet-stream"

# A metadata value is base64; keys are non-empty, without spaces or commas (tus 1.0).
_B64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_PAIR = rf"[!-+\--~]+(?: {_B64})?"
METADATA_PATTERN = rf"^{_PAIR}(?: *, *{_PAIR})*$"
CHECKSUM_PATTERN = r"^(?:sha1 [A-Za-z0-9+/]{27}=|sha256 [A-Za-z0-9+/]{43}=)$"
_SIZE = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}

RESUMABLE = Param("Tus-Resumable", "header", {"type": "string", "enum": [VERSION]},
                  required=True, description="the protocol version; another one → 412")
UPLOAD_ID = Param("upload_uuid", "path", UPLOAD_UUID_SCHEMA, required=True)
CHECKSUM = Param("Upload-Checksum", "header", {"type": "string", "pattern": CHECKSUM_PATTERN},
                 description="`sha1 <base64>` or `sha256 <base64>` of the body; a mismatch → "
                             "460 and nothing of the body is kept")
LENGTH = Param("Upload-Length", "header", _SIZE,
               description="the upload's length in bytes (or Upload-Defer-Length: 1)")

_GONE = {404: "no such upload, or not the caller's (UPLOAD_NOT_FOUND)",
         410: "the upload was terminated, expired or failed (UPLOAD_GONE)",
         412: "Tus-Resumable is not 1.0.0 (TUS_VERSION_UNSUPPORTED)"}
_WRITE = {
    409: "Upload-Offset is not the upload's offset (UPLOAD_OFFSET_MISMATCH), or the upload is "
         "being completed (UPLOAD_IN_PROGRESS)",
    411: "the body has no Content-Length (LENGTH_REQUIRED)",
    413: "the body goes past the upload's length or the maximum size (UPLOAD_LENGTH_EXCEEDED), "
         "or the length does not fit the caller's storage quota (QUOTA_EXCEEDED)",
    415: "the body is not application/offset+octet-stream (UNSUPPORTED_MEDIA_TYPE)",
    423: "another request is writing to this upload (UPLOAD_LOCKED); retry when it ends",
    460: "the body does not match Upload-Checksum (UPLOAD_CHECKSUM_MISMATCH); nothing kept",
}

DISCOVER = Operation(
    "options", BASE, "tus: the protocol versions, extensions, maximum size and checksum "
    "algorithms (Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm)",
    "tus", ok_status=204, auth="none")
CREATE = Operation(
    "post", BASE, "tus creation (and creation-with-upload: the body's bytes are the first "
    "ones): 201, Location is the upload's URL, Upload-Offset the bytes kept, Upload-Expires "
    "when it will be removed unfinished", "tus", ok_status=201, raw_body=True,
    raw_media_type=OFFSET_OCTET_STREAM, body_required=False,
    errors={**_GONE, **_WRITE, 400: "bad tus headers (UPLOAD_LENGTH_MISSING, "
                                   "UPLOAD_METADATA_INVALID, INVALID_ARGUMENT)"},
    params=(
        RESUMABLE, LENGTH,
        Param("Upload-Defer-Length", "header", {"type": "integer", "enum": [1]},
              description="1: the length will be sent with a later PATCH"),
        Param("Upload-Metadata", "header", {"type": "string", "pattern": METADATA_PATTERN},
              description="`key base64value` pairs, comma-separated: `filename` (or `name`) "
                          "names the file, `filetype` (or `type`) its media type"),
        CHECKSUM,
    ))
HEAD = Operation(
    "head", UPLOAD, "tus: where an upload stands (Upload-Offset, Upload-Length or "
    "Upload-Defer-Length, Upload-Metadata, Upload-Expires); an offset equal to the length "
    "means the file is stored and registered", "tus", errors=_GONE,
    params=(RESUMABLE, UPLOAD_ID))
PATCH = Operation(
    "patch", UPLOAD, "tus: append the body at Upload-Offset (any size); 204 with the new "
    "Upload-Offset once the bytes are durable (the one that completes the upload: once the "
    "file is stored and registered)", "tus", ok_status=204, raw_body=True,
    raw_media_type=OFFSET_OCTET_STREAM, errors={**_GONE, **_WRITE}, params=(
        RESUMABLE, UPLOAD_ID,
        Param("Upload-Offset", "header", _SIZE, required=True,
              description="must be the upload's offset (HEAD), else 409"),
        LENGTH, CHECKSUM,
    ))
TERMINATE = Operation(
    "delete", UPLOAD, "tus termination: the unfinished upload and everything it stored are "
    "removed (a finished one is a file: delete it under /api/files)", "tus", ok_status=204,
    errors={**_GONE, 409: "the upload is complete or being completed (CONFLICT, "
                          "UPLOAD_IN_PROGRESS)"},
    params=(RESUMABLE, UPLOAD_ID))

OPERATIONS = (DISCOVER, CREATE, HEAD, PATCH, TERMINATE)
