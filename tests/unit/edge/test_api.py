"""The edge's API description without a stack: every registered route is documented, what the
document declares (required fields, integer ranges, string lengths) is what the body decoder
enforces, and the protobuf → JSON shaping keeps the original's field names."""

from __future__ import annotations

import inspect
import json
import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from govault.files.v1 import files_pb2
from openapi_spec_validator import validate

from common.errors import InvalidArgument
from common.files import ETAG_SPACE, validate_file_name
from edge import api
from edge.api.auth import Login, SignUp
from edge.api.base import SPACES, STRIPPED, Model
from edge.api.files import PAGE, PAGE_MAX, CopyBody, Rename
from edge.api.uploads import ETAG_AROUND, Complete, Presign, ProxySession
from edge.errors import ApiError
from edge.request import decode
from edge.routes import API_MODULES, files
from svc_auth import rules as auth_rules
from svc_files.service import FilesService
from svc_upload.multipart import clean_etag

ORIGINAL_FIELDS = {"file_id", "owner_id", "name", "mime_type", "size_bytes", "created_at",
                   "is_public"}
BODY_MODELS = sorted({op.body for op in api.OPERATIONS if op.body is not None},
                     key=lambda m: m.__name__)


def test_every_registered_route_is_documented() -> None:
    """Every API route (the web page's `/`, `/p/{id}` and `/web/*` are not API)."""
    app = web.Application()
    for module in API_MODULES:
        module.setup_routes(app)
    routes = [(route.method.lower(), route.resource.canonical) for route in app.router.routes()
              if route.resource is not None]
    # aiohttp answers HEAD where there is a GET; a HEAD of its own (tus) is an operation
    registered = {(method, path) for method, path in routes
                  if method != "head" or ("get", path) not in routes}
    document = api.document()
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert registered == documented
    assert len(registered) == 38


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
    return _valid_object(_schema(model))


def _valid_object(schema: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if prop.get("format") == "uuid":
            body[name] = "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f"
        elif prop.get("type") == "integer":
            body[name] = prop.get("minimum", 1)
        elif prop.get("type") == "array":
            item = prop["items"]
            if "$ref" in item:  # an array of objects (recipients, listed parts)
                schemas = api.document()["components"]["schemas"]
                body[name] = [_valid_object(schemas[item["$ref"].rpartition("/")[2]])]
            else:
                body[name] = [item.get("minimum", 1)]
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        elif name == "username":
            body[name] = "alice"
        elif name == "email":
            body[name] = "alice@example.com"
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


def _accepts(model: type[Model], body: dict[str, Any]) -> bool:
    return not _rejected(model, body)


def test_whole_number_floats_are_integers_as_json_schema_counts_them() -> None:
    session = {"file_name": "a.txt"}
    assert decode(json.dumps({**session, "file_size_bytes": 673.0}).encode(),
                  ProxySession).file_size_bytes == 673
    assert decode(b'{"upload_uuid": "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f", '
                  b'"part_numbers": [2.0, 3]}', Presign).part_numbers == [2, 3]
    listed = decode(b'{"upload_uuid": "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f", "parts": '
                    b'[{"part_number": 1.0, "etag": "e", "size_bytes": 5.0}]}', Complete).parts
    assert (listed[0].part_number, listed[0].size_bytes) == (1, 5)  # in a listed object too
    deep: Any = 1.0
    for _ in range(900):  # deeper than any model: left as it is, refused as the wrong type
        deep = [deep]
    assert not _accepts(Presign, {"upload_uuid": "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f",
                                  "part_numbers": deep, "x": 1.5})
    assert not _accepts(ProxySession, {**session, "file_size_bytes": 673.5})
    assert not _accepts(ProxySession, {**session, "file_size_bytes": "673"})
    assert not _accepts(ProxySession, {**session, "file_size_bytes": -1.0})


def test_space_set_is_what_strip_removes_outside_control_characters() -> None:
    spaces = {chr(c) for c in range(sys.maxunicode + 1)
              if chr(c).isspace() and unicodedata.category(chr(c)) != "Cc"}
    assert spaces == {chr(c) for c in range(sys.maxunicode + 1)
                      if re.fullmatch(rf"[{SPACES}]", chr(c))}
    assert {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()} == {
        chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(STRIPPED, chr(c))}


def test_an_etag_the_schema_allows_is_one_the_service_keeps() -> None:
    r"""The ETag's pattern in /openapi.json and the upload service's stripping agree on what
    surrounds an ETag: ASCII white space and quotes (the fuzzer sent "\x1e", which JSON Schema's
    `\s` does not match but Python's does: a schema-valid list refused 400)."""
    assert {chr(c) for c in range(0x3100) if re.fullmatch(f"[{ETAG_AROUND}]", chr(c))} == \
        set(ETAG_SPACE + '"')
    upload = "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f"
    for etag in ["\x1e", "\x85", "\xa0", " \"e\"\t", "\u3000x"]:
        listed = decode(json.dumps({"upload_uuid": upload, "parts": [
            {"part_number": 1, "etag": etag, "size_bytes": 5}]}).encode(), Complete).parts
        assert clean_etag(listed[0].etag), repr(etag)
    for etag in [" ", '""', ' \t"\n']:
        assert not _accepts(Complete, {"upload_uuid": upload, "parts": [
            {"part_number": 1, "etag": etag, "size_bytes": 5}]})
        assert clean_etag(etag) is None


def test_a_refusal_names_the_real_reason_not_a_whole_number_float() -> None:
    with pytest.raises(ApiError) as caught:
        decode(json.dumps({"upload_uuid": "0b8f2c1e-5a7d-4c3b-9e2f-1a2b3c4d5e6f", "parts": [
            {"part_number": 1, "etag": "e", "size_bytes": 5.0},
            {"part_number": 2, "etag": " ", "size_bytes": 5}]}).encode(), Complete)
    assert "$.parts[1].etag" in caught.value.message, caught.value.message


NAMES = ["a.txt", " a", "a ", "...", ".a", "résumé 2026.pdf", "日本語", "a\u3000b", "", " ",
         "\u3000", "\xa0\xa0", ".", "..", "a/b", "a\\b", "a\nb", "a\n", "\x85", "a\x7f", "a\x00",
         "x" * 255, "x" * 256, "\t", "a\u2028"]


@pytest.mark.parametrize("name", NAMES, ids=repr)
def test_file_name_rule_is_the_services_rule(name: str) -> None:
    def service_accepts(validate: Any) -> bool:
        try:
            validate(name)
        except InvalidArgument:
            return False
        return True

    documented = _accepts(Rename, {"name": name})
    assert documented == service_accepts(validate_file_name)  # both services' one rule
    assert _accepts(CopyBody, {"name": name}) == (documented or name == "")


EMAILS = ["a@example.com", "Alice.Smith+tag@Sub.Example.ORG", "  Bob@Example.com ",
          "\ta@b.com\u3000", " \x1ca@b.com\x85", "a@b.com \x00", "a@b.co", "x@localhost", "a@b.c",
          "", "a", "a@", "@b.com", "a b@c.com", "a@b.com\n", " a@b.com", "a@-b.com", "a@b-.com",
          "a\x00@b.com", '"a"@b.com', "a@b.c0m", "é@b.com", "a@b.com.", ("x" * 64) + "@b.com",
          ("x" * 65) + "@b.com", "a@" + ("b" * 63) + ".com", "a@" + ("b" * 64) + ".com",
          "a@" + ".".join(["b" * 60] * 4) + ".com"]


@pytest.mark.parametrize("email", EMAILS, ids=repr)
def test_email_rule_is_the_auth_services_rule(email: str) -> None:
    try:
        auth_rules.validate_email(email)
        service = True
    except InvalidArgument:
        service = False
    documented = _accepts(SignUp, {"username": "alice", "email": email, "password": "x" * 8})
    assert documented == service
    assert documented == _accepts(Login, {"email": email, "password": "p"})


def test_page_maximum_is_the_files_services() -> None:
    assert PAGE.schema["maximum"] == PAGE_MAX
    source = inspect.getsource(FilesService._window)
    assert f"page > {PAGE_MAX:_}" in source
