"""Uploads over HTTP, like a client: both paths at the edge sizes, then every failure path.

Runs against the `stack` fixture (tests/conftest.py), or against an already running stack when
GOVAULT_E2E_URL is set (e.g. `GOVAULT_E2E_URL=http://127.0.0.1:9000`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.quotas import set_quota
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
CHUNK = 5 * MIB  # the default chunk size (GOVAULT_UPLOAD_CHUNK_SIZE_BYTES)
SIZES = [0, 1, MIB, 5 * MIB, 5 * MIB + 1, 7 * MIB, 25 * MIB]


@pytest.fixture
def http_timeout_s() -> float:
    return 120.0  # 25 MiB uploads on a busy machine


@pytest.fixture
async def user(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "up")


# helpers ------------------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def call(http: aiohttp.ClientSession, method: str, url: str, user: User | None,
               **kwargs: Any) -> tuple[int, Any]:
    headers = {**(user.auth if user else {}), **kwargs.pop("headers", {})}
    async with http.request(method, url, headers=headers, **kwargs) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


async def proxy_session(http: aiohttp.ClientSession, base: str, user: User, size: int,
                        name: str = "data.bin", **extra: Any) -> dict[str, Any]:
    status, body = await call(http, "POST", f"{base}/api/upload/proxy/session", user,
                              json={"file_name": name, "file_size_bytes": size, **extra})
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def send_chunk(http: aiohttp.ClientSession, base: str, user: User, upload_uuid: str,
                     index: int, data: bytes, checksum: str | None = "auto"
                     ) -> tuple[int, Any]:
    headers = {"Upload-UUID": upload_uuid, "Content-Type": "application/octet-stream"}
    if checksum == "auto":
        headers["Checksum"] = sha(data)
    elif checksum:
        headers["Checksum"] = checksum
    return await call(http, "POST", f"{base}/api/upload/proxy/chunk?id={index}", user,
                      data=data, headers=headers)


def chunks_of(data: bytes, size: int = CHUNK) -> list[bytes]:
    """The pieces a client sends: an empty file is one empty piece."""
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


async def proxy_upload(http: aiohttp.ClientSession, base: str, user: User,
                       data: bytes, chunk: int = CHUNK, **extra: Any) -> dict[str, Any]:
    session = await proxy_session(http, base, user, len(data), **extra)
    assert session["chunk_size_bytes"] == chunk
    pieces = chunks_of(data, chunk)
    assert session["total_chunks"] == len(pieces)
    body: Any = None
    for i, piece in enumerate(pieces):
        status, body = await send_chunk(http, base, user, session["upload_uuid"], i, piece)
        assert status == 200, body
        expected = "completed" if i == len(pieces) - 1 else "uploading"
        assert body["status"] == expected, body
    return body  # type: ignore[no-any-return]


async def put_part(http: aiohttp.ClientSession, url: str, data: bytes) -> str:
    async with http.put(url, data=data) as r:
        assert r.status == 200, await r.text()
        return r.headers["ETag"].strip('"')


async def multipart_session(http: aiohttp.ClientSession, base: str, user: User, size: int,
                            part_size: int) -> dict[str, Any]:
    status, body = await call(http, "POST", f"{base}/api/upload/multipart/session", user,
                              json={"file_name": "parts.bin", "file_size_bytes": size,
                                    "part_size_bytes": part_size})
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def register(http: aiohttp.ClientSession, base: str, user: User, upload_uuid: str,
                   number: int, size: int, etag: str) -> tuple[int, Any]:
    return await call(http, "POST", f"{base}/api/upload/multipart/part", user,
                      json={"upload_uuid": upload_uuid, "part_number": number,
                            "size_bytes": size, "etag": etag})


async def complete(http: aiohttp.ClientSession, base: str, user: User,
                   upload_uuid: str) -> tuple[int, Any]:
    return await call(http, "POST", f"{base}/api/upload/multipart/complete", user,
                      json={"upload_uuid": upload_uuid})


async def multipart_upload(http: aiohttp.ClientSession, base: str, user: User, data: bytes,
                           part_size: int, order: str = "forward") -> dict[str, Any]:
    session = await multipart_session(http, base, user, len(data), part_size)
    pieces = chunks_of(data, part_size)
    assert session["total_chunks"] == len(pieces)
    urls = {p["part_number"]: p["url"] for p in session["parts"]}
    numbers = list(range(1, len(pieces) + 1))
    if order == "reverse":
        numbers.reverse()
    for n in numbers:
        etag = await put_part(http, urls[n], pieces[n - 1])
        status, body = await register(http, base, user, session["upload_uuid"], n,
                                      len(pieces[n - 1]), etag)
        assert status == 200, body
    status, body = await complete(http, base, user, session["upload_uuid"])
    assert status == 200, body
    assert body["status"] == "completed"
    assert body["upload_uuid"] == session["upload_uuid"]
    return body  # type: ignore[no-any-return]


async def download(http: aiohttp.ClientSession, base: str, user: User, file_id: str) -> bytes:
    status, body = await call(http, "GET", f"{base}/api/files/f/{file_id}/download", user)
    assert status == 200, body
    async with http.get(body["download_url"]) as r:
        assert r.status == 200
        return await r.read()


async def owned(http: aiohttp.ClientSession, base: str, user: User) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    page = 1
    while True:
        status, body = await call(http, "GET", f"{base}/api/files/me/owned?page={page}", user)
        assert status == 200, body
        files.extend(body["files"])
        if not body["has_more"]:
            return files
        page += 1


async def assert_stored_once(http: aiohttp.ClientSession, base: str, user: User, file_id: str,
                             data: bytes) -> dict[str, Any]:
    assert await download(http, base, user, file_id) == data
    mine = [f for f in await owned(http, base, user) if f["file_id"] == file_id]
    assert len(mine) == 1
    assert mine[0]["size_bytes"] == len(data)
    return mine[0]


async def upload_status(http: aiohttp.ClientSession, base: str, user: User,
                        upload_uuid: str) -> dict[str, Any]:
    status, body = await call(http, "GET", f"{base}/api/upload/status?upload_uuid={upload_uuid}",
                              user)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def composite(pieces: list[bytes]) -> str:
    joined = b"".join(hashlib.sha256(p).digest() for p in pieces)
    return f"{hashlib.sha256(joined).hexdigest()}-{len(pieces)}"


# both paths, every size -----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
async def test_proxy_upload_stores_the_exact_bytes(http: aiohttp.ClientSession, edge_url: str,
                                                   user: User, size: int) -> None:
    data = os.urandom(size)
    body = await proxy_upload(http, edge_url, user, data)
    summary = await assert_stored_once(http, edge_url, user, body["file_id"], data)
    pieces = chunks_of(data)
    assert summary["checksum"] == (sha(data) if len(pieces) == 1 else composite(pieces))
    status = await upload_status(http, edge_url, user, body["upload_uuid"])
    assert status["status"] == "completed"
    assert status["upload_method"] == "proxy"
    assert status["file_id"] == body["file_id"]
    assert status["received"] == list(range(len(pieces)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
async def test_multipart_upload_stores_the_exact_bytes(http: aiohttp.ClientSession,
                                                       edge_url: str, user: User,
                                                       size: int) -> None:
    data = os.urandom(size)
    body = await multipart_upload(http, edge_url, user, data, 5 * MIB)
    assert body["size_bytes"] == size
    summary = await assert_stored_once(http, edge_url, user, body["file_id"], data)
    assert summary["checksum"] == body["checksum"]
    parts = len(chunks_of(data, 5 * MIB))
    assert body["checksum"].endswith(f"-{parts}")  # S3's multipart ETag
    status = await upload_status(http, edge_url, user, body["upload_uuid"])
    assert status["upload_method"] == "multipart"
    assert status["received"] == list(range(1, parts + 1))


# the original GoVault client --------------------------------------------------------------------


async def test_original_client_proxy_flow(http: aiohttp.ClientSession, edge_url: str,
                                          user: User) -> None:
    data = bytes(MIB)  # the seed's test.wav: 1 MiB of zeros
    status, session = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                                 json={"file_name": "testfile.bin", "file_size_bytes": len(data)})
    assert status == 200 and session["total_chunks"] == 1
    status, body = await send_chunk(http, edge_url, user, session["upload_uuid"], 0, data)
    assert status == 200, body
    assert body["status"] == "completed"
    await assert_stored_once(http, edge_url, user, body["file_id"], data)


async def test_original_client_multipart_flow(http: aiohttp.ClientSession, edge_url: str,
                                              user: User) -> None:
    data = bytes(MIB)
    session = await multipart_session(http, edge_url, user, len(data), 100 * MIB)
    assert session["total_chunks"] == 1 and len(session["parts"]) == 1
    assert session["storage_upload_id"]
    etag = await put_part(http, session["parts"][0]["url"], data)
    status, body = await register(http, edge_url, user, session["upload_uuid"], 1, len(data),
                                  etag)
    assert status == 200, body
    status, body = await complete(http, edge_url, user, session["upload_uuid"])
    assert status == 200, body
    await assert_stored_once(http, edge_url, user, body["file_id"], data)


async def test_parts_listed_at_completion_instead_of_registered(
        http: aiohttp.ClientSession, edge_url: str, user: User) -> None:
    """The additive `parts` of POST /api/upload/multipart/complete: a client holding every
    ETag lists them instead of registering each part; listed and registered parts must agree
    (409 and nothing recorded otherwise); the registering client's flow is unchanged above."""
    data = os.urandom(6 * MIB + 11)
    session = await multipart_session(http, edge_url, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    pieces = chunks_of(data, 5 * MIB)
    etags = [await put_part(http, p["url"], piece)
             for p, piece in zip(session["parts"], pieces, strict=True)]
    listed = [{"part_number": n, "etag": f'"{e}"', "size_bytes": len(piece)}
              for n, (e, piece) in enumerate(zip(etags, pieces, strict=True), start=1)]
    status, body = await register(http, edge_url, user, uid, 2, len(pieces[1]), etags[1])
    assert status == 200, body
    wrong = [listed[0], {**listed[1], "etag": "0" * 32}]
    status, body = await call(http, "POST", f"{edge_url}/api/upload/multipart/complete", user,
                              json={"upload_uuid": uid, "parts": wrong})
    assert status == 409 and body["code"] == "CONFLICT", body
    assert "parts 2 " in body["error"] and body["request_id"]
    assert (await upload_status(http, edge_url, user, uid))["received"] == [2]  # nothing new
    status, body = await call(http, "POST", f"{edge_url}/api/upload/multipart/complete", user,
                              json={"upload_uuid": uid, "parts": [{**listed[0],
                                                                   "size_bytes": 5}]})
    assert status == 400 and body["code"] == "PART_SIZE_MISMATCH", body
    status, body = await call(http, "POST", f"{edge_url}/api/upload/multipart/complete", user,
                              json={"upload_uuid": uid, "parts": listed})
    assert status == 200, body
    assert body["size_bytes"] == len(data) and body["checksum"].endswith("-2")
    await assert_stored_once(http, edge_url, user, body["file_id"], data)
    status, again = await call(http, "POST", f"{edge_url}/api/upload/multipart/complete", user,
                               json={"upload_uuid": uid, "parts": listed})
    assert status == 200 and again["file_id"] == body["file_id"]


# proxy: chunk size ---------------------------------------------------------------------------


async def test_original_browser_client_5mib_chunks(http: aiohttp.ClientSession, edge_url: str,
                                                   user: User) -> None:
    """The original's browser client cuts files into 5 MiB chunks without asking: a 7 MiB file
    sent as 5 MiB + 2 MiB is stored byte for byte with the default settings."""
    data = os.urandom(7 * MIB)
    status, session = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                                 json={"file_name": "song.wav", "file_size_bytes": len(data)})
    assert status == 200, session
    assert (session["chunk_size_bytes"], session["total_chunks"]) == (5 * MIB, 2)
    pieces = [data[:5 * MIB], data[5 * MIB:]]
    status, first = await send_chunk(http, edge_url, user, session["upload_uuid"], 0, pieces[0])
    assert status == 200 and first["status"] == "uploading", first
    status, last = await send_chunk(http, edge_url, user, session["upload_uuid"], 1, pieces[1])
    assert status == 200 and last["status"] == "completed", last
    summary = await assert_stored_once(http, edge_url, user, last["file_id"], data)
    assert summary["checksum"] == composite(pieces)


@pytest.mark.parametrize("size", [MIB, 8 * MIB, 20 * MIB], ids=lambda s: f"{s}B")
async def test_client_chosen_chunk_size(http: aiohttp.ClientSession, edge_url: str, user: User,
                                        size: int) -> None:
    data = os.urandom(size)
    body = await proxy_upload(http, edge_url, user, data, 8 * MIB, chunk_size_bytes=8 * MIB)
    await assert_stored_once(http, edge_url, user, body["file_id"], data)
    status = await upload_status(http, edge_url, user, body["upload_uuid"])
    assert status["chunk_size_bytes"] == 8 * MIB
    assert status["received"] == list(range(len(chunks_of(data, 8 * MIB))))


async def test_client_chosen_chunk_size_is_enforced(http: aiohttp.ClientSession, edge_url: str,
                                                    user: User) -> None:
    data = os.urandom(10 * MIB)
    session = await proxy_session(http, edge_url, user, len(data), chunk_size_bytes=8 * MIB)
    status, body = await send_chunk(http, edge_url, user, session["upload_uuid"], 0,
                                    data[:5 * MIB])  # the default size is not this session's
    assert (status, body["code"]) == (400, "CHUNK_SIZE_MISMATCH"), body
    assert body["error"] == f"chunk 0 must be {8 * MIB} bytes"


@pytest.mark.parametrize("chunk_size", [0, -1, 5 * MIB - 1, 1024, 5 * 1024 * MIB + 1,
                                        65 * MIB, "5242880", 5 * MIB + 0.5])
async def test_chunk_size_out_of_range_is_400(http: aiohttp.ClientSession, edge_url: str,
                                              user: User, chunk_size: Any) -> None:
    status, body = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                              json={"file_name": "a", "file_size_bytes": 20 * MIB,
                                    "chunk_size_bytes": chunk_size})
    assert status == 400, body
    expected = "CHUNK_TOO_LARGE" if chunk_size == 65 * MIB else "INVALID_ARGUMENT"
    assert body["code"] == expected and "chunk_size_bytes" in body["error"]


async def test_more_than_10000_chunks_is_400(http: aiohttp.ClientSession, edge_url: str,
                                             user: User, request: pytest.FixtureRequest) -> None:
    if not os.environ.get("GOVAULT_E2E_URL"):  # 48.8 GiB is more than the default quota
        set_quota(request.getfixturevalue("stack"), user.email, "unlimited")
    status, body = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                              json={"file_name": "a", "file_size_bytes": 10_000 * 5 * MIB + 1,
                                    "chunk_size_bytes": 5 * MIB})
    assert (status, body["code"]) == (400, "CHUNK_OUT_OF_RANGE"), body
    status, body = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", user,
                              json={"file_name": "a", "file_size_bytes": 10_000 * 5 * MIB + 1})
    assert status == 200, body  # without a choice, the default grows to fit 10,000 chunks
    assert (body["chunk_size_bytes"], body["total_chunks"]) == (6 * MIB, 8334)


async def test_openapi_documents_the_chunk_size_rule(http: aiohttp.ClientSession,
                                                     edge_url: str) -> None:
    status, document = await call(http, "GET", f"{edge_url}/openapi.json", None)
    assert status == 200
    request = document["paths"]["/api/upload/proxy/session"]["post"]["requestBody"]
    ref = request["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    field = document["components"]["schemas"][ref]["properties"]["chunk_size_bytes"]
    text = str(field)
    assert "5 MiB" in text and "5 GiB" in text and "10,000" in text
    assert "chunk_size_bytes" not in document["components"]["schemas"][ref].get("required", [])


# proxy: ordering, concurrency, retries ----------------------------------------------------------


async def test_proxy_chunks_out_of_order_and_concurrently(http: aiohttp.ClientSession,
                                                          edge_url: str, user: User) -> None:
    data = os.urandom(12 * MIB)
    pieces = chunks_of(data)
    session = await proxy_session(http, edge_url, user, len(data))
    uid = session["upload_uuid"]
    status, body = await send_chunk(http, edge_url, user, uid, 2, pieces[2])
    assert status == 200 and body["status"] == "uploading"
    assert (await upload_status(http, edge_url, user, uid))["received"] == [2]
    results = await asyncio.gather(*(send_chunk(http, edge_url, user, uid, i, pieces[i])
                                     for i in (1, 0)))
    assert all(status == 200 for status, _ in results), results
    done = [b for _, b in results if b["status"] == "completed"]
    assert done, results
    assert len({b["file_id"] for b in done}) == 1
    await assert_stored_once(http, edge_url, user, done[0]["file_id"], data)


async def test_two_final_chunks_at_once_make_one_file(http: aiohttp.ClientSession,
                                                      edge_url: str, user: User) -> None:
    data = os.urandom(MIB)
    session = await proxy_session(http, edge_url, user, len(data))
    results = await asyncio.gather(*(send_chunk(http, edge_url, user, session["upload_uuid"], 0,
                                                data) for _ in range(4)))
    assert [s for s, _ in results] == [200] * 4, results
    assert len({b["file_id"] for _, b in results}) == 1
    await assert_stored_once(http, edge_url, user, results[0][1]["file_id"], data)


async def test_resent_chunks_newest_wins_until_completion(http: aiohttp.ClientSession,
                                                          edge_url: str, user: User) -> None:
    data = os.urandom(8 * MIB)
    pieces = chunks_of(data)
    session = await proxy_session(http, edge_url, user, len(data))
    uid = session["upload_uuid"]
    other = os.urandom(len(pieces[0]))
    assert (await send_chunk(http, edge_url, user, uid, 0, other))[0] == 200
    status, body = await send_chunk(http, edge_url, user, uid, 0, pieces[0])  # replaced
    assert status == 200 and body["status"] == "uploading"
    status, body = await send_chunk(http, edge_url, user, uid, 0, pieces[0])  # same again
    assert status == 200 and body["status"] == "uploading"
    status, last = await send_chunk(http, edge_url, user, uid, 1, pieces[1])
    assert status == 200 and last["status"] == "completed"
    await assert_stored_once(http, edge_url, user, last["file_id"], data)
    # after completion: the same bytes get the same answer, different bytes a conflict
    status, again = await send_chunk(http, edge_url, user, uid, 1, pieces[1])
    assert status == 200 and again["file_id"] == last["file_id"]
    status, body = await send_chunk(http, edge_url, user, uid, 1, os.urandom(len(pieces[1])))
    assert status == 409, body
    assert len([f for f in await owned(http, edge_url, user)
                if f["file_id"] == last["file_id"]]) == 1


# proxy: rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MIB, 8 * MIB], ids=["one-chunk", "two-chunks"])
async def test_checksum_mismatch_keeps_nothing(http: aiohttp.ClientSession, edge_url: str,
                                               user: User, size: int) -> None:
    data = os.urandom(size)
    pieces = chunks_of(data)
    session = await proxy_session(http, edge_url, user, size)
    uid = session["upload_uuid"]
    last = len(pieces) - 1
    status, body = await send_chunk(http, edge_url, user, uid, last, pieces[last],
                                    checksum=sha(b"something else"))
    assert status == 400, body
    assert body["code"] == "CHECKSUM_MISMATCH"
    state = await upload_status(http, edge_url, user, uid)
    assert state["received"] == [] and state["status"] in ("pending", "uploading")
    assert await owned(http, edge_url, user) == []
    result: Any = None
    for i, piece in enumerate(pieces):
        status, result = await send_chunk(http, edge_url, user, uid, i, piece)
        assert status == 200, result
    await assert_stored_once(http, edge_url, user, result["file_id"], data)


async def test_chunk_rejections(http: aiohttp.ClientSession, edge_url: str,
                                user: User) -> None:
    data = os.urandom(7 * MIB)
    session = await proxy_session(http, edge_url, user, len(data), chunk_size_bytes=CHUNK)
    uid = session["upload_uuid"]
    status, body = await send_chunk(http, edge_url, user, uid, 2, b"x")
    assert (status, body["code"]) == (400, "CHUNK_OUT_OF_RANGE")
    status, body = await call(http, "POST", f"{edge_url}/api/upload/proxy/chunk", user,
                              data=b"x", headers={"Upload-UUID": uid})
    assert (status, body["code"]) == (400, "CHUNK_OUT_OF_RANGE")
    status, body = await send_chunk(http, edge_url, user, uid, 0, os.urandom(CHUNK + 1))
    assert (status, body["code"]) == (400, "CHUNK_TOO_LARGE")
    status, body = await send_chunk(http, edge_url, user, uid, 0, os.urandom(CHUNK - 1))
    assert (status, body["code"]) == (400, "CHUNK_SIZE_MISMATCH")
    status, body = await send_chunk(http, edge_url, user, uid, 1, os.urandom(3 * MIB))
    assert (status, body["code"]) == (400, "CHUNK_TOO_LARGE")

    async def too_long() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for _ in range(7):
            yield bytes(MIB)

    status, body = await call(http, "POST", f"{edge_url}/api/upload/proxy/chunk?id=0", user,
                              data=too_long(), headers={"Upload-UUID": uid})
    assert (status, body["code"]) == (400, "CHUNK_TOO_LARGE")
    assert (await upload_status(http, edge_url, user, uid))["received"] == []


@pytest.mark.parametrize("chunk", [10 * MIB, 5 * MIB, 7 * MIB + 3], ids=lambda n: f"{n}B")
async def test_chunks_the_client_slices_without_saying(http: aiohttp.ClientSession,
                                                       edge_url: str, user: User,
                                                       chunk: int) -> None:
    """Clients of the original slice at their own size and do not send chunk_size_bytes: a
    12 MiB file in 10 MiB + 2 MiB, or 5 + 5 + 2 MiB, each chunk placed by its index."""
    data = os.urandom(12 * MIB)
    session = await proxy_session(http, edge_url, user, len(data))
    assert session["chunk_size_bytes"] == CHUNK  # only a proposal
    pieces = chunks_of(data, chunk)
    body: Any = None
    for i, piece in enumerate(pieces):
        status, body = await send_chunk(http, edge_url, user, session["upload_uuid"], i, piece)
        assert status == 200, body
        if i == 0:
            told = await upload_status(http, edge_url, user, session["upload_uuid"])
            assert (told["chunk_size_bytes"], told["total_chunks"]) == (chunk, len(pieces))
            assert told["received"] == told["uploaded_chunks"] == [0]
    assert body["status"] == "completed"
    stored = await assert_stored_once(http, edge_url, user, body["file_id"], data)
    assert stored["checksum"] == composite(pieces)
    done = await upload_status(http, edge_url, user, session["upload_uuid"])
    assert done["uploaded_chunks"] == done["received"] == list(range(len(pieces)))


async def test_a_chunk_that_contradicts_what_is_stored_is_400(http: aiohttp.ClientSession,
                                                              edge_url: str,
                                                              user: User) -> None:
    data = os.urandom(12 * MIB)
    uid = (await proxy_session(http, edge_url, user, len(data)))["upload_uuid"]
    status, body = await send_chunk(http, edge_url, user, uid, 1, data[10 * MIB:])  # the last
    assert status == 200, body
    for index, piece in ((1, data[5 * MIB:10 * MIB]), (0, data[:5 * MIB]),
                         (2, data[:2 * MIB])):
        status, body = await send_chunk(http, edge_url, user, uid, index, piece)
        assert status == 400 and body["code"] in ("CHUNK_TOO_LARGE", "CHUNK_SIZE_MISMATCH",
                                                  "CHUNK_OUT_OF_RANGE"), (index, body)
        assert (await upload_status(http, edge_url, user, uid))["uploaded_chunks"] == [1]
    status, body = await send_chunk(http, edge_url, user, uid, 0, data[:10 * MIB])
    assert (status, body["status"]) == (200, "completed"), body
    await assert_stored_once(http, edge_url, user, body["file_id"], data)
    # a chunk under 5 MiB that is not the last fits no chunk size
    uid = (await proxy_session(http, edge_url, user, len(data)))["upload_uuid"]
    status, body = await send_chunk(http, edge_url, user, uid, 0, data[:MIB])
    assert (status, body["code"]) == (400, "CHUNK_SIZE_MISMATCH")
    assert (await upload_status(http, edge_url, user, uid))["uploaded_chunks"] == []


async def test_upload_uuid_missing_malformed_unknown(http: aiohttp.ClientSession, edge_url: str,
                                                     user: User) -> None:
    url = f"{edge_url}/api/upload/proxy/chunk?id=0"
    status, body = await call(http, "POST", url, user, data=b"x")
    assert status == 400, body
    status, body = await call(http, "POST", url, user, data=b"x",
                              headers={"Upload-UUID": "not-a-uuid"})
    assert status == 400, body
    status, body = await call(http, "POST", url, user, data=b"x",
                              headers={"Upload-UUID": "00000000-0000-4000-8000-000000000000"})
    assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")


async def test_another_users_session_is_not_found(http: aiohttp.ClientSession, edge_url: str,
                                                  user: User) -> None:
    intruder = await new_user(http, edge_url, "intr")
    proxy = await proxy_session(http, edge_url, user, MIB)
    multi = await multipart_session(http, edge_url, user, MIB, 5 * MIB)
    for uid in (proxy["upload_uuid"], multi["upload_uuid"]):
        status, body = await send_chunk(http, edge_url, intruder, uid, 0, os.urandom(MIB))
        assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")
        status, body = await call(http, "GET", f"{edge_url}/api/upload/status?upload_uuid={uid}",
                                  intruder)
        assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND")
        for path, payload in (("multipart/part", {"upload_uuid": uid, "part_number": 1,
                                                  "size_bytes": MIB, "etag": "abc"}),
                              ("multipart/presign", {"upload_uuid": uid, "part_numbers": [1]}),
                              ("multipart/complete", {"upload_uuid": uid}),
                              ("abort", {"upload_uuid": uid})):
            status, body = await call(http, "POST", f"{edge_url}/api/upload/{path}", intruder,
                                      json=payload)
            assert (status, body["code"]) == (404, "UPLOAD_NOT_FOUND"), path
    # the owner's session is untouched
    assert (await upload_status(http, edge_url, user, proxy["upload_uuid"]))["status"] == "pending"


async def test_session_validation(http: aiohttp.ClientSession, edge_url: str,
                                  user: User) -> None:
    url = f"{edge_url}/api/upload/proxy/session"
    for payload in ({"file_name": "a/b", "file_size_bytes": 1},
                    {"file_name": "a\\b", "file_size_bytes": 1},
                    {"file_name": "a\nb", "file_size_bytes": 1},
                    {"file_name": "x" * 256, "file_size_bytes": 1},
                    {"file_name": "", "file_size_bytes": 1},
                    {"file_name": "a", "file_size_bytes": -5},
                    {"file_name": "a", "file_size_bytes": 10**15}):
        status, body = await call(http, "POST", url, user, json=payload)
        assert status == 400, (payload, body)
    url = f"{edge_url}/api/upload/multipart/session"
    for size, part in ((20 * MIB, MIB), (20 * MIB, 0), (10_001 * 5 * MIB, 5 * MIB)):
        status, body = await call(http, "POST", url, user, json={
            "file_name": "a", "file_size_bytes": size, "part_size_bytes": part})
        assert status == 400, (size, part, body)
    status, _ = await call(http, "POST", f"{edge_url}/api/upload/proxy/session", None,
                           json={"file_name": "a", "file_size_bytes": 1})
    assert status == 401


# multipart ----------------------------------------------------------------------------------


async def test_multipart_reverse_order_missing_part_and_repeats(
        http: aiohttp.ClientSession, edge_url: str, user: User) -> None:
    data = os.urandom(12 * MIB)
    pieces = chunks_of(data, 5 * MIB)
    session = await multipart_session(http, edge_url, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    urls = {p["part_number"]: p["url"] for p in session["parts"]}
    etags = {}
    for n in (3, 2, 1):
        etags[n] = await put_part(http, urls[n], pieces[n - 1])
    for n in (3, 1):
        status, body = await register(http, edge_url, user, uid, n, len(pieces[n - 1]), etags[n])
        assert status == 200, body
    status, body = await register(http, edge_url, user, uid, 3, len(pieces[2]), etags[3])
    assert status == 200, body  # registering twice is fine
    status, body = await complete(http, edge_url, user, uid)
    assert (status, body["code"]) == (400, "PARTS_MISSING")
    assert "2" in body["error"] and "1" not in body["error"].replace("missing parts: 2", "")
    status, body = await register(http, edge_url, user, uid, 2, len(pieces[1]) - 1, etags[2])
    assert (status, body["code"]) == (400, "PART_SIZE_MISMATCH")
    status, body = await register(http, edge_url, user, uid, 4, 1, "abc")
    assert (status, body["code"]) == (400, "PART_OUT_OF_RANGE")
    status, body = await register(http, edge_url, user, uid, 2, len(pieces[1]), etags[2])
    assert status == 200 and body["registered_parts"] == 3
    status, first = await complete(http, edge_url, user, uid)
    assert status == 200, first
    status, second = await complete(http, edge_url, user, uid)
    assert status == 200 and second["file_id"] == first["file_id"]
    assert second["checksum"] == first["checksum"]
    await assert_stored_once(http, edge_url, user, first["file_id"], data)


async def test_part_under_5mib_is_a_clear_error_and_fixable(http: aiohttp.ClientSession,
                                                            edge_url: str, user: User) -> None:
    data = os.urandom(11 * MIB)
    pieces = chunks_of(data, 5 * MIB)
    session = await multipart_session(http, edge_url, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    urls = {p["part_number"]: p["url"] for p in session["parts"]}
    small = await put_part(http, urls[1], pieces[0][:MIB])  # a non-last part under 5 MiB
    assert (await register(http, edge_url, user, uid, 1, len(pieces[0]), small))[0] == 200
    for n in (2, 3):
        etag = await put_part(http, urls[n], pieces[n - 1])
        assert (await register(http, edge_url, user, uid, n, len(pieces[n - 1]), etag))[0] == 200
    status, body = await complete(http, edge_url, user, uid)
    assert status == 400 and body["code"] in ("PART_TOO_SMALL", "PART_SIZE_MISMATCH"), body
    if body["code"] == "PART_SIZE_MISMATCH":  # a store that does not enforce the minimum
        return
    assert (await upload_status(http, edge_url, user, uid))["status"] == "uploading"
    status, fresh = await call(http, "POST", f"{edge_url}/api/upload/multipart/presign", user,
                               json={"upload_uuid": uid, "part_numbers": [1]})
    assert status == 200 and fresh["parts"][0]["part_number"] == 1
    etag = await put_part(http, fresh["parts"][0]["url"], pieces[0])
    assert (await register(http, edge_url, user, uid, 1, len(pieces[0]), etag))[0] == 200
    status, body = await complete(http, edge_url, user, uid)
    assert status == 200, body
    await assert_stored_once(http, edge_url, user, body["file_id"], data)


async def test_abort_then_complete_or_chunk_is_409(http: aiohttp.ClientSession, edge_url: str,
                                                   user: User) -> None:
    data = os.urandom(MIB)
    session = await multipart_session(http, edge_url, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    etag = await put_part(http, session["parts"][0]["url"], data)
    assert (await register(http, edge_url, user, uid, 1, len(data), etag))[0] == 200
    status, _ = await call(http, "POST", f"{edge_url}/api/upload/abort", user,
                           json={"upload_uuid": uid})
    assert status == 204
    status, body = await complete(http, edge_url, user, uid)
    assert (status, body["code"]) == (409, "UPLOAD_ABORTED")
    assert (await upload_status(http, edge_url, user, uid))["status"] == "aborted"
    async with http.put(session["parts"][0]["url"], data=data) as r:
        assert r.status >= 400  # the S3 multipart upload is gone
    proxy = await proxy_session(http, edge_url, user, 15 * MIB)
    status, _ = await call(http, "POST", f"{edge_url}/api/upload/abort", user,
                           json={"upload_uuid": proxy["upload_uuid"]})
    assert status == 204
    status, body = await send_chunk(http, edge_url, user, proxy["upload_uuid"], 1,
                                    os.urandom(5 * MIB))
    assert (status, body["code"]) == (409, "UPLOAD_ABORTED")
    assert await owned(http, edge_url, user) == []


async def test_concurrent_completes_make_exactly_one_file(http: aiohttp.ClientSession,
                                                          edge_url: str, user: User) -> None:
    data = os.urandom(11 * MIB)
    pieces = chunks_of(data, 5 * MIB)
    session = await multipart_session(http, edge_url, user, len(data), 5 * MIB)
    uid = session["upload_uuid"]
    for part in session["parts"]:
        n = part["part_number"]
        etag = await put_part(http, part["url"], pieces[n - 1])
        assert (await register(http, edge_url, user, uid, n, len(pieces[n - 1]), etag))[0] == 200
    results = await asyncio.gather(*(complete(http, edge_url, user, uid) for _ in range(6)))
    assert [s for s, _ in results] == [200] * 6, results
    assert len({b["file_id"] for _, b in results}) == 1
    await assert_stored_once(http, edge_url, user, results[0][1]["file_id"], data)
    assert len(await owned(http, edge_url, user)) == 1
