"""S3's part limits are stated once for the server (common/files.py); the client library and the
web page ship apart and keep copies, held equal here."""

from __future__ import annotations

import re
from pathlib import Path

from client import uploads as client_uploads
from common.files import S3_MAX_PARTS, S3_MIN_PART_BYTES

UPLOAD_JS = Path(__file__).resolve().parents[3] / "edge" / "web" / "upload.js"


def _js_constant(source: str, name: str) -> int:
    """The value of `const NAME = <integer product>;` (e.g. `5 * MIB`) in the web page."""
    expression = re.search(rf"^const {name} = ([^;]+);", source, re.MULTILINE)
    assert expression, name
    value = 1
    for factor in expression[1].split("*"):
        factor = factor.strip()
        value *= _js_constant(source, factor) if factor.isidentifier() else int(factor)
    return value


def test_the_client_library_keeps_the_servers_limits() -> None:
    assert client_uploads.S3_MIN_PART_BYTES == S3_MIN_PART_BYTES
    assert client_uploads.S3_MAX_PARTS == S3_MAX_PARTS


def test_the_web_page_keeps_the_servers_limits() -> None:
    source = UPLOAD_JS.read_text()
    assert _js_constant(source, "MIN_PART_BYTES") == S3_MIN_PART_BYTES
    assert _js_constant(source, "MAX_PARTS") == S3_MAX_PARTS
