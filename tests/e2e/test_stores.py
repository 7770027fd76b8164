"""The whole stack (edge + services) on each S3 server GoVault is tested against — SeaweedFS (the
session's `stack`) and MinIO (`minio_stack`) — over HTTP like a client: proxy uploads of one and
several chunks, multipart uploads with presigned PUTs and the ETags the store really returns
(from a browser origin: CORS), S3's minimum part size, complete, abort, a reaper pass
(`python -m svc_upload reap`, as an operator runs it), presigned downloads, copy and delete.
What differs between the servers, and how GoVault absorbs it: docs/stores.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import aiohttp
import psycopg
import pytest

from compose import Stack
from compose.seaweed import client
from tests.e2e.test_uploads_flows import (
    call,
    chunks_of,
    complete,
    composite,
    download,
    multipart_session,
    owned,
    proxy_upload,
    put_part,
    register,
    sha,
    upload_status,
)
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
BROWSER_ORIGIN = "http://localhost:5173"  # a dev origin the launcher lets in (compose.cors)


@pytest.fixture(scope="module")
def store_stack(s3_store: str, request: pytest.FixtureRequest) -> Stack:
    stack: Stack = request.getfixturevalue("stack" if s3_store == "seaweedfs" else "minio_stack")
    assert stack.store == s3_store
    return stack


@pytest.fixture(scope="module")
def base(store_stack: Stack) -> str:
    return store_stack.edge_url


@pytest.fixture
async def user(http: aiohttp.ClientSession, base: str) -> User:
    return await new_user(http, base, "store")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as r:
        return r.status, await r.read()


async def download_link(http: aiohttp.ClientSession, base: str, user: User,
                        file_id: str) -> str:
    status, body = await call(http, "GET", f"{base}/api/files/f/{file_id}/download", user)
    assert status == 200, body
    return str(body["download_url"])


async def browser_put(http: aiohttp.ClientSession, url: str, data: bytes) -> str:
    """A part PUT as a browser page at BROWSER_ORIGIN makes it: the preflight lets the origin in,
    and the answer lets the page read the ETag. Returns the ETag (unquoted)."""
    async with http.options(url, headers={"Origin": BROWSER_ORIGIN,
                                          "Access-Control-Request-Method": "PUT",
                                          "Access-Control-Request-Headers": "content-type"}) as r:
        assert r.status in (200, 204), r.status  # SeaweedFS 200, MinIO 204
        assert r.headers.get("Access-Control-Allow-Origin") == BROWSER_ORIGIN
    async with http.put(url, data=data, headers={"Origin": BROWSER_ORIGIN}) as r:
        assert r.status == 200, await r.text()
        assert r.headers.get("Access-Control-Allow-Origin") == BROWSER_ORIGIN
        assert "etag" in r.headers.get("Access-Control-Expose-Headers", "").lower()
        return r.headers["ETag"].strip('"')


def reap(stack: Stack) -> dict[str, Any]:
    """One reaper pass, as an operator runs it; its JSON summary."""
    done = subprocess.run([sys.executable, "-m", "svc_upload", "reap"],
                          env=stack.service_env("upload"), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def expire_now(stack: Stack, *upload_uuids: str) -> None:
    """Abandoned: their time ran out (set in the ledger, not waited for)."""
    with psycopg.connect(stack.database_urls["upload"], autocommit=True) as conn:
        conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'"
                     " WHERE upload_uuid = ANY(%s::uuid[])", (list(upload_uuids),))


async def test_proxy_uploads_of_one_and_several_chunks(http: aiohttp.ClientSession, base: str,
                                                       user: User) -> None:
    for data in (os.urandom(MIB), os.urandom(5 * MIB + 1000)):
        body = await proxy_upload(http, base, user, data)
        assert await download(http, base, user, body["file_id"]) == data
        pieces = chunks_of(data)
        mine = [f for f in await owned(http, base, user) if f["file_id"] == body["file_id"]]
        assert mine[0]["checksum"] == (sha(data) if len(pieces) == 1 else composite(pieces))


async def test_multipart_from_a_browser_origin_with_the_stores_etags(
        http: aiohttp.ClientSession, base: str, user: User) -> None:
    data = os.urandom(11 * MIB)
    pieces = chunks_of(data, 5 * MIB)
    session = await multipart_session(http, base, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    urls = {p["part_number"]: p["url"] for p in session["parts"]}
    # S3's minimum part size holds on both servers: a short non-last part fails the complete
    # with a precise 400, and re-uploading it at the declared size fixes the upload
    short = await browser_put(http, urls[1], pieces[0][:MIB])
    assert (await register(http, base, user, uid, 1, len(pieces[0]), short))[0] == 200
    etags = {}
    for n in (3, 2):  # any order
        etags[n] = await browser_put(http, urls[n], pieces[n - 1])
        assert etags[n] == md5(pieces[n - 1])  # a part's ETag is its MD5 on both servers
        assert (await register(http, base, user, uid, n, len(pieces[n - 1]), etags[n]))[0] == 200
    status, body = await complete(http, base, user, uid)
    assert (status, body["code"]) == (400, "PART_TOO_SMALL"), body
    assert (await upload_status(http, base, user, uid))["status"] == "uploading"
    etags[1] = await browser_put(http, urls[1], pieces[0])
    assert (await register(http, base, user, uid, 1, len(pieces[0]), etags[1]))[0] == 200
    status, first = await complete(http, base, user, uid)
    assert status == 200, first
    # the file's checksum is S3's multipart ETag: MD5 of the parts' MD5s, "-" part count
    joined = b"".join(bytes.fromhex(etags[n]) for n in (1, 2, 3))
    assert first["checksum"] == f"{md5(joined)}-3"
    # completing again answers the same file (MinIO no longer knows the upload; SeaweedFS does)
    status, again = await complete(http, base, user, uid)
    assert status == 200 and again["file_id"] == first["file_id"], again
    assert await download(http, base, user, first["file_id"]) == data


async def test_abort_and_a_reaper_pass_end_uploads_in_the_store(
        http: aiohttp.ClientSession, base: str, user: User, store_stack: Stack) -> None:
    part = os.urandom(5 * MIB)
    aborted = await multipart_session(http, base, user, 6 * MIB, 5 * MIB)
    aborted_url = aborted["parts"][0]["url"]
    await put_part(http, aborted_url, part)
    status, _ = await call(http, "POST", f"{base}/api/upload/abort", user,
                           json={"upload_uuid": aborted["upload_uuid"]})
    assert status == 204
    assert (await upload_status(http, base, user, aborted["upload_uuid"]))["status"] == "aborted"

    abandoned = await multipart_session(http, base, user, 6 * MIB, 5 * MIB)
    abandoned_url = abandoned["parts"][0]["url"]
    await put_part(http, abandoned_url, part)
    proxy = await call(http, "POST", f"{base}/api/upload/proxy/session", user,
                       json={"file_name": "half.bin", "file_size_bytes": 6 * MIB})
    assert proxy[0] == 200, proxy
    proxy_uid = proxy[1]["upload_uuid"]
    status, body = await call(http, "POST", f"{base}/api/upload/proxy/chunk?id=0", user,
                              data=part, headers={"Upload-UUID": proxy_uid, "Checksum": sha(part),
                                                  "Content-Type": "application/octet-stream"})
    assert status == 200 and body["status"] == "uploading", body
    await asyncio.to_thread(expire_now, store_stack, abandoned["upload_uuid"], proxy_uid)
    # a pass as an operator runs it (after any pass the service itself is running: either may
    # have reaped them, so the outcome is checked, not this pass's summary)
    await asyncio.to_thread(reap, store_stack)
    for uid in (abandoned["upload_uuid"], proxy_uid):
        assert (await upload_status(http, base, user, uid))["status"] == "expired"
    for url in (aborted_url, abandoned_url):  # the store's multipart uploads are gone
        async with http.put(url, data=b"late") as r:
            assert r.status == 404 and b"NoSuchUpload" in await r.read()
    assert await owned(http, base, user) == []


async def test_presigned_download_copy_and_delete(http: aiohttp.ClientSession, base: str,
                                                  user: User) -> None:
    data = os.urandom(5 * MIB + 1000)  # two parts: a multipart object, copied server-side
    original = (await proxy_upload(http, base, user, data, file_name="orig.bin"))["file_id"]
    original_url = await download_link(http, base, user, original)
    assert await fetch(http, original_url) == (200, data)
    status, body = await call(http, "POST", f"{base}/api/files/f/{original}/copy", user)
    assert status == 201, body
    copy = body["file_id"]
    # the copy keeps the original's checksum (GoVault's record, not the copied object's ETag:
    # MinIO gives a copy an ETag of its own, SeaweedFS keeps the source's)
    checksums = {f["file_id"]: f["checksum"] for f in await owned(http, base, user)}
    assert checksums[copy] == checksums[original] == composite(chunks_of(data))
    status, _ = await call(http, "DELETE", f"{base}/api/files/f/{original}", user)
    assert status == 204
    assert (await fetch(http, original_url))[0] == 404  # the object is gone from the store
    copy_url = await download_link(http, base, user, copy)
    assert await fetch(http, copy_url) == (200, data)  # the copy's bytes are its own
    status, _ = await call(http, "DELETE", f"{base}/api/files/f/{copy}", user)
    assert status == 204
    assert (await fetch(http, copy_url))[0] == 404
    assert await owned(http, base, user) == []


def test_the_store_refuses_other_browser_origins(store_stack: Stack) -> None:
    """Browsers enforce CORS on the answer's Access-Control-Allow-Origin: SeaweedFS refuses the
    preflight with 403, MinIO answers 204 without the header; either way the page is refused."""
    s3 = client(store_stack.s3_endpoint, store_stack.s3_access_key, store_stack.s3_secret_key,
                store_stack.s3_region)
    url = s3.get_presigned_url("PUT", store_stack.s3_bucket, "cors-probe/object",
                               expires=timedelta(minutes=5))
    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers = response.status, response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
    assert status in (204, 403)
    assert headers.get("Access-Control-Allow-Origin") is None
