"""The edge's API description without a stack: every registered route is documented, what the
document declares (required fields, integer ranges, string lengths) is what the body decoder
enforces, and the protobuf → JSON shaping keeps the original's field names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from govault.files.v1 import files_pb2
from openapi_spec_validator import validate

from edge import api
from edge.api.base import Model
from edge.api.files import Recipient
from edge.errors import ApiError
from edge.request import decode
from edge.routes import API_MODULES, files

ORIGINAL_FIELDS = {"file_id", "owner_id", "name", "mime_type", "size_bytes", "created_at",
                   "is_public"}
BODY_MODELS = sorted({op.body for op in api.OPERATIONS if op.body is not None},
                     key=lambda m: m.__name__)


def test_every_registered_route_is_documented() -> None:
    """Every API route (the web page's `/`, `/p/{id}` and `/web/*` are not API)."""
    app = web.Application()
    for module in API_MODULES:
        module.setup_routes(app)
    registered = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    document = api.document()
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert registered == documented
    assert len(registered) == 32


def test_document_is_a_valid_openapi_description() -> None:
    validate(json.loads(json.dumps(api.document())))


def test_document_is_json_and_every_error_uses_the_error_body() -> None:
    document = json.loads(json.dumps(api.document()))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/auth/signup"), ("post", "/api/upload/proxy/session"),
    ("post", "/api/upload/proxy/chunk"), ("get", "/api/files/me/owned"),
    ("patch", "/api/files/f/{file_id}"),
])
def test_statuses_a_client_can_meet_are_documented(method: str, path: str) -> None:
    responses = api.document()["paths"][path][method]["responses"]
    assert {"400", "429", "503"} <= set(responses)
    if method != "get":
        body = api.document()["paths"][path][method]["requestBody"]
        if "application/json" in body["content"]:
            assert {"413", "415"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]


def _schema(model: type[Model]) -> dict[str, Any]:
    schema: dict[str, Any] = api.document()["components"]["schemas"][model.__name__]
    return schema


def _valid(model: type[Model]) -> dict[str, Any]:
    """A body satisfying every documented constraint."""
    body: dict[str, Any] = {}
    for name, prop in _schema(model)["properties"].items():
        if prop.get("format") == "uuid":
            body[name] = "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f"
        elif prop.get("type") == "integer":
            body[name] = prop.get("minimum", 1)
        elif prop.get("type") == "array":
            item = prop["items"]
            if "$ref" in item:
                body[name] = [_valid(Recipient)]
            else:
                body[name] = [item.get("minimum", 1)]
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        elif name == "username":
            body[name] = "alice"
        else:
            body[name] = "x" * max(prop.get("minLength", 1), 8)
    return body


def _rejected(model: type[Model], body: dict[str, Any]) -> bool:
    try:
        decode(json.dumps(body).encode(), model)
    except ApiError as exc:
        assert exc.status == 400 and exc.code == "INVALID_ARGUMENT", exc.message
        return True
    return False


@pytest.mark.parametrize("model", BODY_MODELS, ids=[m.__name__ for m in BODY_MODELS])
def test_documented_constraints_are_enforced(model: type[Model]) -> None:
    schema = _schema(model)
    valid = _valid(model)
    assert not _rejected(model, {**valid, "unknown_field": [1, {"x": None}]})
    for name in schema.get("required", []):
        assert _rejected(model, {k: v for k, v in valid.items() if k != name}), name
    for name, prop in schema["properties"].items():
        if "maximum" in prop:
            assert not _rejected(model, {**valid, name: prop["maximum"]}), name
            assert _rejected(model, {**valid, name: prop["maximum"] + 1}), name
        if "minimum" in prop:
            assert _rejected(model, {**valid, name: prop["minimum"] - 1}), name
        if "maxLength" in prop:
            assert _rejected(model, {**valid, name: "x" * (prop["maxLength"] + 1)}), name
        if "minLength" in prop and prop["minLength"] > 0:
            assert _rejected(model, {**valid, name: "x" * (prop["minLength"] - 1)}), name
        if prop.get("type") == "string" and "enum" not in prop and "format" not in prop:
            assert _rejected(model, {**valid, name: "a\x00b"}), name


def test_file_summary_shape() -> None:
    ts = Timestamp()
    ts.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    shaped = msgspec.to_builtins(files.file_summary(files_pb2.FileSummary(
        file_id="f", owner_id="o", name="n", mime_type="m", size_bytes=7, checksum="c",
        created_at=ts, is_public=True, access=files_pb2.ACCESS_VIEWER)))
    assert set(shaped) >= ORIGINAL_FIELDS
    assert shaped["created_at"] == "2026-01-02T03:04:05Z"
    assert shaped["is_public"] is True and shaped["access"] == "viewer"
    assert shaped["size_bytes"] == 7 and shaped["checksum"] == "c"


def test_share_shape() -> None:
    shaped = msgspec.to_builtins(files.share(files_pb2.Share(
        user_id="u", email="e@x", permission=files_pb2.PERMISSION_EDITOR)))
    assert shaped == {"user_id": "u", "email": "e@x", "permission": "editor",
                      "created_at": None}
