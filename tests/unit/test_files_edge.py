"""The edge's files routes without a stack: every route is documented in OpenAPI, and the
protobuf → JSON shaping keeps the original's field names."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from govault.files.v1 import files_pb2

from edge.routes import files

ORIGINAL_FIELDS = {"file_id", "owner_id", "name", "mime_type", "size_bytes", "created_at",
                   "is_public"}


def test_every_route_is_documented() -> None:
    app = web.Application()
    files.setup_routes(app)
    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(method, path) for path, ops in files.OPENAPI_PATHS.items() for method in ops}
    assert registered == documented
    assert len(registered) == 16


def test_file_summary_shape() -> None:
    ts = Timestamp()
    ts.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    shaped = files.file_summary(files_pb2.FileSummary(
        file_id="f", owner_id="o", name="n", mime_type="m", size_bytes=7, checksum="c",
        created_at=ts, is_public=True, access=files_pb2.ACCESS_VIEWER))
    assert set(shaped) >= ORIGINAL_FIELDS
    assert shaped["created_at"] == "2026-01-02T03:04:05Z"
    assert shaped["is_public"] is True and shaped["access"] == "viewer"
    assert shaped["size_bytes"] == 7 and shaped["checksum"] == "c"


def test_share_shape() -> None:
    shaped = files.share_json(files_pb2.Share(user_id="u", email="e@x",
                                              permission=files_pb2.PERMISSION_EDITOR))
    assert shaped == {"user_id": "u", "email": "e@x", "permission": "editor",
                      "created_at": None}
