"""Files behaviour over HTTP through the whole stack: delete removes the object, copies are
independent, renames show everywhere, pagination, shares (mixed-case, unknown emails, limits),
validation of ids and names, the public link, and RegisterFile's service credential."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import pytest
from govault.files.v1 import files_pb2, files_pb2_grpc

from tests.support.files import upload_file
from tests.support.logs import ServiceLog
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e


@pytest.fixture
async def alice(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "alice")


@pytest.fixture
async def bob(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "bob")


async def call(http: aiohttp.ClientSession, method: str, url: str, user: User | None = None,
               json: Any = None, **kwargs: Any) -> tuple[int, Any]:
    headers = user.auth if user else {}
    async with http.request(method, url, headers=headers, json=json, **kwargs) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


async def listing(http: aiohttp.ClientSession, edge_url: str, user: User, which: str,
                  query: str = "") -> dict[str, Any]:
    status, body = await call(http, "GET", f"{edge_url}/api/files/me/{which}{query}", user)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as r:
        return r.status, await r.read()


async def download_url(http: aiohttp.ClientSession, edge_url: str, file_id: str,
                       user: User | None) -> str:
    status, body = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/download", user)
    assert status == 200, body
    return str(body["download_url"])


async def test_summary_and_download(http: aiohttp.ClientSession, edge_url: str,
                                    alice: User) -> None:
    data = b"hello, vault"
    file_id = await upload_file(http, edge_url, alice, data, "Grüße 2026.txt")
    status, summary = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", alice)
    assert status == 200
    assert summary["file_id"] == file_id and summary["owner_id"] == alice.user_id
    assert summary["name"] == "Grüße 2026.txt" and summary["size_bytes"] == len(data)
    assert summary["mime_type"] == "text/plain" and summary["is_public"] is False
    assert summary["created_at"].endswith("Z")
    status, link = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/download", alice)
    assert status == 200 and link["file_name"] == "Grüße 2026.txt" and link["expires_at"]
    async with http.get(link["download_url"]) as r:
        assert r.status == 200 and await r.read() == data
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''Gr%C3%BC%C3%9Fe%202026.txt" in disposition


async def test_delete_removes_the_object(http: aiohttp.ClientSession, edge_url: str, stack,  # type: ignore[no-untyped-def]
                                         alice: User) -> None:
    from minio import Minio

    file_id = await upload_file(http, edge_url, alice, b"to be deleted", "gone.txt")
    url = await download_url(http, edge_url, file_id, alice)
    assert (await fetch(http, url))[0] == 200
    s3 = Minio(stack.s3_endpoint.split("://", 1)[1], stack.s3_access_key, stack.s3_secret_key,
               secure=stack.s3_endpoint.startswith("https"), region=stack.s3_region)
    prefix = f"users/{alice.user_id}/"
    assert len(list(s3.list_objects(stack.s3_bucket, prefix=prefix, recursive=True))) == 1
    status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{file_id}", alice)
    assert status == 204
    assert (await fetch(http, url))[0] == 404  # the presigned URL finds nothing any more
    assert list(s3.list_objects(stack.s3_bucket, prefix=prefix, recursive=True)) == []
    assert (await listing(http, edge_url, alice, "owned"))["files"] == []
    status, body = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", alice)
    assert status == 404 and body["code"] == "FILE_NOT_FOUND"
    status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{file_id}", alice)
    assert status == 404


async def test_copy_has_independent_bytes(http: aiohttp.ClientSession, edge_url: str,
                                          alice: User, bob: User) -> None:
    data = b"copy me" * 100
    original = await upload_file(http, edge_url, alice, data, "orig.bin")
    status, _ = await call(http, "POST", f"{edge_url}/api/files/f/{original}/shares", alice,
                           {"recipients": [{"email": bob.email, "permission": "viewer"}]})
    assert status == 201
    status, body = await call(http, "POST", f"{edge_url}/api/files/f/{original}/copy", bob)
    assert status == 201, body
    copy_id = body["file_id"]
    assert copy_id != original
    status, summary = await call(http, "GET", f"{edge_url}/api/files/f/{copy_id}", bob)
    assert summary["owner_id"] == bob.user_id and summary["name"] == "orig.bin"
    assert summary["size_bytes"] == len(data)
    assert [f["file_id"] for f in (await listing(http, edge_url, bob, "owned"))["files"]] == [
        copy_id]
    status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{original}", alice)
    assert status == 204
    url = await download_url(http, edge_url, copy_id, bob)
    assert await fetch(http, url) == (200, data)
    status, _ = await call(http, "GET", f"{edge_url}/api/files/f/{copy_id}", alice)
    assert status == 404  # the copy is bob's alone


async def test_rename_visible_in_every_list(http: aiohttp.ClientSession, edge_url: str,
                                            alice: User, bob: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"x", "before.txt")
    await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shares", alice,
               {"recipients": [{"email": bob.email, "permission": "editor"}]})
    status, _ = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shortcut", bob)
    assert status == 201
    status, _ = await call(http, "PATCH", f"{edge_url}/api/files/f/{file_id}", bob,
                           {"name": "after.txt"})
    assert status == 204
    seen = [
        (await listing(http, edge_url, alice, "owned"))["files"],
        (await listing(http, edge_url, bob, "shared"))["files"],
        (await listing(http, edge_url, bob, "shortcuts"))["files"],
    ]
    for files in seen:
        assert [(f["file_id"], f["name"]) for f in files] == [(file_id, "after.txt")]
    assert seen[1][0]["access"] == "editor"
    _, summary = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", alice)
    assert summary["name"] == "after.txt"
    url = await download_url(http, edge_url, file_id, alice)
    async with http.get(url) as r:
        assert "after.txt" in r.headers["Content-Disposition"]


async def test_pagination(http: aiohttp.ClientSession, edge_url: str, alice: User) -> None:
    ids = [await upload_file(http, edge_url, alice, bytes([i]), f"p{i:02}.bin")
           for i in range(23)]
    newest_first = ids[::-1]
    page1 = await listing(http, edge_url, alice, "owned")
    assert (page1["page"], page1["has_more"], len(page1["files"])) == (1, True, 20)
    page2 = await listing(http, edge_url, alice, "owned", "?page=2")
    assert (page2["page"], page2["has_more"]) == (2, False)
    assert [f["file_id"] for f in page1["files"] + page2["files"]] == newest_first
    small = [await listing(http, edge_url, alice, "owned", f"?page={p}&limit=10")
             for p in (1, 2, 3)]
    assert [s["has_more"] for s in small] == [True, True, False]
    assert [f["file_id"] for s in small for f in s["files"]] == newest_first
    capped = await listing(http, edge_url, alice, "owned", "?limit=100000")
    assert len(capped["files"]) == 23 and not capped["has_more"]
    beyond = await listing(http, edge_url, alice, "owned", "?page=9")
    assert beyond["files"] == [] and not beyond["has_more"]
    for query in ("?page=0", "?page=x", "?limit=-1", "?limit=abc", "?page=%C2%B2"):
        status, body = await call(http, "GET", f"{edge_url}/api/files/me/owned{query}", alice)
        assert status == 400, (query, body)


async def test_shares_with_mixed_case_emails(http: aiohttp.ClientSession, edge_url: str,
                                             alice: User, bob: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"s", "shared.txt")
    shouted = bob.email.upper()
    status, body = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shares", alice,
                              {"recipients": [{"email": shouted, "permission": "viewer"}]})
    assert status == 201, body
    status, shares = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/shares", alice)
    assert status == 200 and isinstance(shares, list)
    assert [(s["user_id"], s["email"], s["permission"]) for s in shares] == [
        (bob.user_id, bob.email.lower(), "viewer")]
    assert shares[0]["created_at"]
    # sharing again updates the permission
    status, _ = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shares", alice,
                           {"recipients": [{"email": f"  {bob.email.title()} ",
                                            "permission": "editor"}]})
    assert status == 201
    _, shares = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/shares", alice)
    assert [(s["user_id"], s["permission"]) for s in shares] == [(bob.user_id, "editor")]
    shared = await listing(http, edge_url, bob, "shared")
    assert [f["file_id"] for f in shared["files"]] == [file_id]
    # revoke: gone from bob's lists and from his reach at once
    status, _ = await call(http, "DELETE",
                           f"{edge_url}/api/files/f/{file_id}/shares/{bob.user_id}", alice)
    assert status == 204
    assert (await listing(http, edge_url, bob, "shared"))["files"] == []
    status, body = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", bob)
    assert status == 404
    for method in ("PATCH", "DELETE"):
        status, body = await call(http, method,
                                  f"{edge_url}/api/files/f/{file_id}/shares/{bob.user_id}",
                                  alice, {"permission": "viewer"} if method == "PATCH" else None)
        assert status == 404 and body["code"] == "SHARE_NOT_FOUND"


async def test_unknown_recipient_changes_nothing(http: aiohttp.ClientSession, edge_url: str,
                                                 alice: User, bob: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"s", "secret.txt")
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    status, body = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shares", alice,
                              {"recipients": [{"email": bob.email, "permission": "viewer"},
                                              {"email": unknown, "permission": "editor"}]})
    assert status == 400 and body["code"] == "UNKNOWN_RECIPIENTS"
    assert unknown in body["error"]
    _, shares = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/shares", alice)
    assert shares == []
    assert (await listing(http, edge_url, bob, "shared"))["files"] == []


@pytest.mark.parametrize(("recipients", "code"), [
    ([], "INVALID_ARGUMENT"),
    ("bob", "INVALID_ARGUMENT"),
    ([{"email": "x@example.com"}], "INVALID_ARGUMENT"),
    ([{"email": "BOB", "permission": "owner"}], "INVALID_ARGUMENT"),
    ([{"email": "SELF", "permission": "viewer"}], "CANNOT_SHARE_WITH_SELF"),
    # over the limit /openapi.json states (maxItems 10): refused by the schema at the edge (a
    # deployment's lower limit is the files service's TOO_MANY_RECIPIENTS)
    ([{"email": f"u{i}@example.com", "permission": "viewer"} for i in range(11)],
     "INVALID_ARGUMENT"),
])
async def test_bad_share_requests(http: aiohttp.ClientSession, edge_url: str, alice: User,
                                  bob: User, recipients: Any, code: str) -> None:
    file_id = await upload_file(http, edge_url, alice, b"s", "s.txt")
    if isinstance(recipients, list):
        for r in recipients:
            r["email"] = {"BOB": bob.email, "SELF": alice.email.upper()}.get(r["email"],
                                                                            r["email"])
    status, body = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shares", alice,
                              {"recipients": recipients})
    assert status == 400 and body["code"] == code, body
    _, shares = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}/shares", alice)
    assert shares == []


async def test_malformed_ids_are_400(http: aiohttp.ClientSession, edge_url: str,
                                     alice: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"i", "ids.txt")
    cases = [("GET", "/api/files/f/not-a-uuid"), ("GET", "/api/files/f/123/download"),
             ("PATCH", "/api/files/f/zzz"), ("DELETE", "/api/files/f/zzz"),
             ("POST", "/api/files/f/zzz/copy"), ("POST", "/api/files/f/zzz/shares"),
             ("GET", "/api/files/f/zzz/shares"),
             ("PATCH", f"/api/files/f/{file_id}/shares/not-a-user"),
             ("DELETE", f"/api/files/f/{file_id}/shares/not-a-user"),
             ("POST", "/api/files/f/zzz/public"), ("DELETE", "/api/files/f/zzz/public"),
             ("POST", "/api/files/f/zzz/shortcut"), ("DELETE", "/api/files/f/zzz/shortcut")]
    for method, path in cases:
        for user in (alice, None):
            status, body = await call(http, method, f"{edge_url}{path}", user,
                                      {"name": "n", "permission": "viewer"})
            assert status == 400, (method, path, status, body)
            assert body["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": "   "}, {"name": "x" * 256}, {"name": "a/b"}, {"name": "a\\b"},
    {"name": "bell\x07"}, {"name": "line\nbreak"}, {"name": ".."}, {"name": 42}, {},
])
async def test_bad_names_are_400_and_change_nothing(http: aiohttp.ClientSession, edge_url: str,
                                                    alice: User, body: dict[str, Any]) -> None:
    file_id = await upload_file(http, edge_url, alice, b"n", "keep.txt")
    status, error = await call(http, "PATCH", f"{edge_url}/api/files/f/{file_id}", alice, body)
    assert status == 400 and error["code"] == "INVALID_ARGUMENT", error
    _, summary = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", alice)
    assert summary["name"] == "keep.txt"


async def test_longest_name_accepted(http: aiohttp.ClientSession, edge_url: str,
                                     alice: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"n", "short.txt")
    name = "é" * 251 + ".txt"
    status, _ = await call(http, "PATCH", f"{edge_url}/api/files/f/{file_id}", alice,
                           {"name": name})
    assert status == 204
    _, summary = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}", alice)
    assert summary["name"] == name


async def test_rename_needs_a_json_body(http: aiohttp.ClientSession, edge_url: str,
                                        alice: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"n", "j.txt")
    async with http.patch(f"{edge_url}/api/files/f/{file_id}", headers=alice.auth,
                          data=b"name=x") as r:
        assert r.status == 415
    async with http.patch(f"{edge_url}/api/files/f/{file_id}",
                          headers={**alice.auth, "Content-Type": "application/json"},
                          data=b"{nope") as r:
        assert r.status == 400 and (await r.json())["code"] == "INVALID_JSON"


async def test_public_link_and_anonymous_download(http: aiohttp.ClientSession, edge_url: str,
                                                  alice: User) -> None:
    data = b"for everyone"
    file_id = await upload_file(http, edge_url, alice, data, "pub.txt")
    status, body = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}")
    assert status == 401 and body["code"] == "UNAUTHENTICATED"  # anonymous: sign in
    status, body = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/public", alice)
    # the link names this stack's edge (its port moved with the launcher's port offset)
    assert status == 201 and body["public_url"] == f"{edge_url}/api/files/f/{file_id}"
    status, again = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/public", alice)
    assert status == 201 and again == body
    status, summary = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}")
    assert status == 200 and summary["is_public"] is True and summary["access"] == "public"
    owned = await listing(http, edge_url, alice, "owned")
    assert owned["files"][0]["is_public"] is True
    url = await download_url(http, edge_url, file_id, None)
    assert await fetch(http, url) == (200, data)
    status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{file_id}/public", alice)
    assert status == 204
    status, _ = await call(http, "GET", f"{edge_url}/api/files/f/{file_id}")
    assert status == 401  # private again: the anonymous caller is asked to sign in
    status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{file_id}/public", alice)
    assert status == 204  # idempotent


async def test_shortcuts(http: aiohttp.ClientSession, edge_url: str, alice: User,
                         bob: User) -> None:
    file_id = await upload_file(http, edge_url, alice, b"star", "star.txt")
    status, first = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shortcut", alice)
    assert status == 201 and first["file_id"] == file_id and first["shortcut_id"]
    status, second = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shortcut",
                                alice)
    assert status == 201 and second == first  # creating twice returns the existing one
    starred = await listing(http, edge_url, alice, "shortcuts")
    assert [f["file_id"] for f in starred["files"]] == [file_id]
    for _ in range(2):  # idempotent
        status, _ = await call(http, "DELETE", f"{edge_url}/api/files/f/{file_id}/shortcut",
                               alice)
        assert status == 204
    assert (await listing(http, edge_url, alice, "shortcuts"))["files"] == []
    status, _ = await call(http, "POST", f"{edge_url}/api/files/f/{file_id}/shortcut", bob)
    assert status == 404


async def test_register_file_needs_the_service_credential(stack, alice: User) -> None:  # type: ignore[no-untyped-def]
    channel = grpc.aio.insecure_channel(stack.grpc_addrs["files"])
    stub = files_pb2_grpc.FilesServiceStub(channel)
    file_id, upload_id = str(uuid.uuid4()), str(uuid.uuid4())
    request = files_pb2.RegisterFileRequest(
        upload_id=upload_id, file_id=file_id, owner_id=alice.user_id, name="forged.txt",
        size_bytes=1, storage_key=f"users/{alice.user_id}/{file_id}")
    try:
        for metadata in ((), (("x-govault-service", "guess"),),
                         (("authorization", f"Bearer {alice.token}"),)):
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.RegisterFile(request, metadata=metadata, timeout=5)
            assert e.value.code() in (grpc.StatusCode.UNAUTHENTICATED,
                                      grpc.StatusCode.PERMISSION_DENIED)
        service = (("x-govault-service", stack.service_token),)
        # even with the credential, the key must be the owner's: users/<owner_id>/<file_id>
        other = str(uuid.uuid4())
        for key in (f"users/{other}/{file_id}", f"users/{alice.user_id}/{other}",
                    f"users/{alice.user_id}/../{other}/{file_id}"):
            forged = files_pb2.RegisterFileRequest()
            forged.CopyFrom(request)
            forged.storage_key = key
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.RegisterFile(forged, metadata=service, timeout=5)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, key
        first = await stub.RegisterFile(request, metadata=service, timeout=5)
        second = await stub.RegisterFile(request, metadata=service, timeout=5)
        assert first.created and not second.created
        assert first.file.file_id == second.file.file_id == file_id
    finally:
        await channel.close()


async def test_internal_route_is_not_public(http: aiohttp.ClientSession, edge_url: str) -> None:
    status, _ = await call(http, "POST", f"{edge_url}/api/files/internal/file",
                           json={"file_uuid": str(uuid.uuid4())})
    assert status in (404, 405)


async def test_request_id_reaches_the_files_service_and_nothing_failed_inside(
    http: aiohttp.ClientSession, edge_url: str, alice: User,
    service_log: Callable[[str], ServiceLog],
) -> None:
    log = service_log("files")
    request_id = f"files-e2e-{uuid.uuid4().hex[:12]}"
    async with http.get(f"{edge_url}/api/files/me/owned",
                        headers={**alice.auth, "X-Request-ID": request_id}) as r:
        assert r.status == 200
    line = log.wait_for(lambda entry: entry.get("request_id") == request_id)
    assert line["rpc"] == "ListOwned" and line["code"] == "OK"
    # Everything this module did: no call ended INTERNAL, no unexpected exception was logged.
    assert log.find(lambda entry: entry.get("code") == "INTERNAL") == []
    assert log.find(lambda entry: entry.get("level") in ("error", "critical")) == []
