"""The pieces every area's API description is built from: constrained field types (each integer
bounded by what its proto field and database column hold, no string carrying a NUL), the
`Operation` record of one route (method, path, models, parameters, errors), and `Param`.

Request bodies are msgspec Structs: one decode both parses and validates them (about 4 µs for a
typical body here, against 6 µs for pydantic's `model_validate_json`; see the commit), unknown
fields are ignored (clients of the original send extra fields), and the same Structs produce the
OpenAPI schemas (`edge.api.document`), so the description and the checks cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

from common.files import MAX_FILE_SIZE_BYTES, MAX_NAME_CHARS, S3_MAX_PARTS

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# PostgreSQL text cannot hold NUL, and no GoVault string needs one: rejected before any RPC.
NO_NUL = r"^[^\x00]*$"
# The end of the string: `$` alone also matches before a final newline (Python's `re`).
END = r"(?![\s\S])"
CONTROLS = r"\x00-\x1f\x7f-\x9f"
# What `str.strip()` removes, outside the control characters.
SPACES = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Everything `str.strip()` removes (`\s` would differ between Python's and ECMA's regexes).
STRIPPED = rf"[\t-\r\x1c-\x1f\x85{SPACES}]"
# A file name as the upload and files services accept it: not blank, no path separator or
# control character, not "." or "..". (Linear: the leading spaces and the first other character
# are disjoint sets, so a long hostile string cannot make the match backtrack.)
FILE_NAME_BODY = (rf"(?!\.\.?{END})[{SPACES}]*[^/\\{CONTROLS}{SPACES}][^/\\{CONTROLS}]*{END}")
FILE_NAME_PATTERN = rf"^{FILE_NAME_BODY}"


def text(*, min_length: int | None = None, max_length: int | None = None,
         description: str | None = None) -> msgspec.Meta:
    """A string constraint that also refuses NUL characters."""
    return msgspec.Meta(pattern=NO_NUL, min_length=min_length, max_length=max_length,
                        description=description)


Text = Annotated[str, text()]
Uuid = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN, extra_json_schema={"format": "uuid"})]
Timestamp = Annotated[str | None, msgspec.Meta(extra_json_schema={"format": "date-time"})]
Size = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX,
                                   description="bytes (int64); 0 for an empty file")]
FileName = Annotated[str, msgspec.Meta(
    pattern=FILE_NAME_PATTERN, min_length=1, max_length=MAX_NAME_CHARS,
    description='not blank, no path separators or control characters, not "." or ".."')]
FileSize = Annotated[int, msgspec.Meta(
    ge=0, le=MAX_FILE_SIZE_BYTES,
    description=f"bytes; 0 for an empty file, at most {MAX_FILE_SIZE_BYTES} (50 GiB; a deployment "
                "may set a lower maximum, answered 400 FILE_TOO_LARGE)")]
PartNumber = Annotated[int, msgspec.Meta(ge=1, le=S3_MAX_PARTS,
                                         description="1-based, at most 10,000 (S3's limit)")]
Count = int


class Model(msgspec.Struct, omit_defaults=True):
    """Base of request and response models (unknown fields in a request are ignored)."""


@dataclass(frozen=True)
class Param:
    """A query, header or path parameter with its JSON schema."""

    name: str
    where: Literal["query", "header", "path"]
    schema: Mapping[str, Any]
    required: bool = False
    description: str | None = None
    allow_empty: bool = False  # a query parameter sent empty (`?page=`) counts as absent


Auth = Literal["required", "optional", "none"]


@dataclass(frozen=True)
class Operation:
    """One route: what it takes and what it answers. `errors` lists the statuses specific to
    the operation; the ones every route of its kind can answer (bad body, missing token, rate
    limit, unavailable upstream) are added by the document."""

    method: str
    path: str
    summary: str
    tag: str
    ok_status: int = 200
    ok: type[Model] | None = None
    ok_list: bool = False  # the success body is a JSON array of `ok`
    body: type[Model] | None = None
    body_required: bool = True
    raw_body: bool = False  # raw bytes (a proxy chunk, a tus upload's bytes)
    raw_media_type: str = "application/octet-stream"
    params: tuple[Param, ...] = ()
    errors: Mapping[int, str] = field(default_factory=dict)
    auth: Auth = "required"
    upstream: bool = True  # calls a service: may answer 503/504
