"""tus 1.0 at the edge, one request at a time: discovery, creation (with and without a body,
with a deferred length), offsets, checksums, termination, expiry, who may touch an upload, the
quota, CORS; and what the store holds after (no temporary object, no open multipart upload).
The real clients (tus-js-client, tuspy, Uppy) are in test_tus_clients.py and tests/browser."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime

import aiohttp
import pytest

from compose import Stack
from tests.support.quotas import set_quota
from tests.support.tus import (
    BASE,
    MIB,
    OCTETS,
    checksum,
    corrupted,
    create,
    expire_now,
    head,
    metadata,
    open_multipart_uploads,
    owned,
    patch,
    reap,
    session_state,
    stored,
    temporary_objects,
    tus,
    upload_uuid,
    wait_for_state,
    wait_for_upload_calls,
    wait_for_writer,
)
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def http_timeout_s() -> float:
    return 120.0


@pytest.fixture
async def user(http: aiohttp.ClientSession, edge_url: str) -> User:
    return await new_user(http, edge_url, "tus")


async def test_discovery(http: aiohttp.ClientSession, edge_url: str) -> None:
    answer = await tus(http, "OPTIONS", edge_url + BASE, None, {"Tus-Resumable": None})
    assert answer.status == 204
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert set(answer.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "creation-defer-length", "termination", "checksum",
        "expiration"}
    assert int(answer.headers["Tus-Max-Size"]) == 50 * 1024 * MIB
    assert answer.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


async def test_patches_of_any_size_make_the_exact_file(http: aiohttp.ClientSession,
                                                       edge_url: str, user: User,
                                                       stack: Stack) -> None:
    """1 MiB, 3 MiB, 7 MiB, then the rest: tails, a part from a tail, parts of 7 MiB."""
    data = os.urandom(19 * MIB + 123)
    url = await create(http, edge_url, user, len(data), name="pieces.bin")
    answer = await head(http, url, user)
    assert (answer.status, answer.headers["Upload-Offset"]) == (200, "0")
    assert answer.headers["Upload-Length"] == str(len(data))
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Upload-Metadata"] == metadata(filename="pieces.bin")
    offset = 0
    for size in (MIB, 3 * MIB, 7 * MIB, len(data) - 11 * MIB):
        answer = await patch(http, url, user, offset, data[offset:offset + size])
        offset += size
        assert (answer.status, answer.headers["Upload-Offset"]) == (204, str(offset)), answer
        assert (await head(http, url, user)).headers["Upload-Offset"] == str(offset)
    assert "Upload-Expires" not in answer.headers  # complete: nothing expires
    assert await stored(http, edge_url, user, "pieces.bin") == data
    mine = [f for f in await owned(http, edge_url, user) if f["name"] == "pieces.bin"]
    assert mine[0]["checksum"].endswith("-3")  # 5 MiB (4 from tails + 1), 7 MiB, the rest
    assert temporary_objects(stack, upload_uuid(url)) == []
    # a completed upload: HEAD says so, a PATCH with nothing at its end is a no-op
    assert (await head(http, url, user)).headers["Upload-Offset"] == str(len(data))
    again = await patch(http, url, user, len(data), b"")
    assert (again.status, again.headers["Upload-Offset"]) == (204, str(len(data)))


@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 9 * MIB, 12 * MIB],
                         ids=lambda n: f"{n}B")
async def test_creation_with_upload(http: aiohttp.ClientSession, edge_url: str, user: User,
                                    size: int) -> None:
    data = os.urandom(size)
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {**OCTETS, "Upload-Length": str(size),
                        "Upload-Metadata": metadata(filename="whole.bin",
                                                    filetype="image/png")}, data)
    assert answer.status == 201, answer
    assert answer.headers["Upload-Offset"] == str(size)
    assert answer.headers["Location"].startswith(BASE)
    assert await stored(http, edge_url, user, "whole.bin") == data
    mine = next(f for f in await owned(http, edge_url, user) if f["name"] == "whole.bin")
    assert mine["mime_type"] == "image/png"
    if size <= 9 * MIB:  # one object: its SHA-256, like a one-chunk proxy upload
        assert mine["checksum"] == hashlib.sha256(data).hexdigest()


async def test_creation_with_part_of_the_upload(http: aiohttp.ClientSession, edge_url: str,
                                                user: User) -> None:
    data = os.urandom(8 * MIB)
    url = await create(http, edge_url, user, len(data), name="half.bin", data=data[:MIB])
    assert (await head(http, url, user)).headers["Upload-Offset"] == str(MIB)
    answer = await patch(http, url, user, MIB, data[MIB:])
    assert answer.headers["Upload-Offset"] == str(len(data))
    assert await stored(http, edge_url, user, "half.bin") == data


@pytest.mark.parametrize("size", [MIB, 12 * MIB], ids=["one-object", "parts"])
async def test_a_creation_whose_body_fails_names_the_upload(
        http: aiohttp.ClientSession, edge_url: str, user: User, stack: Stack,
        size: int) -> None:
    """creation-with-upload is one call into the service: when its body is refused (a wrong
    checksum), the upload exists all the same, the answer names it (Location), nothing of the
    body is kept, and the client resumes it from offset 0."""
    data = os.urandom(size)
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {**OCTETS, "Upload-Length": str(size),
                        "Upload-Metadata": metadata(filename="retried.bin"),
                        "Upload-Checksum": checksum("sha256", corrupted(data))}, data)
    assert (answer.status, answer.body["code"]) == (460, "UPLOAD_CHECKSUM_MISMATCH")
    url = edge_url + answer.headers["Location"]
    assert (await head(http, url, user)).headers["Upload-Offset"] == "0"
    assert temporary_objects(stack, upload_uuid(url)) == []
    answer = await patch(http, url, user, 0, data)
    assert (answer.status, answer.headers["Upload-Offset"]) == (204, str(size))
    assert await stored(http, edge_url, user, "retried.bin") == data


async def test_deferred_length(http: aiohttp.ClientSession, edge_url: str, user: User) -> None:
    data = os.urandom(6 * MIB + 5)
    url = await create(http, edge_url, user, None, name="deferred.bin")
    answer = await head(http, url, user)
    assert answer.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in answer.headers
    assert (await patch(http, url, user, 0, data[:6 * MIB])).status == 204
    answer = await patch(http, url, user, 6 * MIB, data[6 * MIB:],
                         **{"Upload-Length": str(len(data))})
    assert (answer.status, answer.headers["Upload-Offset"]) == (204, str(len(data)))
    assert await stored(http, edge_url, user, "deferred.bin") == data
    # an empty PATCH changes nothing; declared with an empty PATCH, at the end
    url = await create(http, edge_url, user, None, name="deferred-late.bin")
    answer = await patch(http, url, user, 0, b"")
    assert (answer.status, answer.headers["Upload-Offset"]) == (204, "0")
    assert (await patch(http, url, user, 0, data)).status == 204
    answer = await patch(http, url, user, len(data), b"", **{"Upload-Length": str(len(data))})
    assert (answer.status, answer.headers["Upload-Offset"]) == (204, str(len(data)))
    assert await stored(http, edge_url, user, "deferred-late.bin") == data


async def test_wrong_offset_is_409(http: aiohttp.ClientSession, edge_url: str,
                                   user: User) -> None:
    url = await create(http, edge_url, user, 3 * MIB)
    assert (await patch(http, url, user, 0, os.urandom(MIB))).status == 204
    for offset in (0, 2 * MIB):
        answer = await patch(http, url, user, offset, os.urandom(MIB))
        assert (answer.status, answer.body["code"]) == (409, "UPLOAD_OFFSET_MISMATCH")
        assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert (await head(http, url, user)).headers["Upload-Offset"] == str(MIB)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
async def test_checksums(http: aiohttp.ClientSession, edge_url: str, user: User,
                         stack: Stack, algorithm: str) -> None:
    """A matching checksum is kept; a mismatch is 460 and nothing of the PATCH is kept, be it
    a tail (1 MiB) or parts (12 MiB: two parts stored in the store, neither recorded)."""
    data = os.urandom(14 * MIB)
    url = await create(http, edge_url, user, len(data), name=f"sum-{algorithm}.bin")
    good = checksum(algorithm, data[:MIB])
    assert (await patch(http, url, user, 0, data[:MIB], **{"Upload-Checksum": good})
            ).status == 204
    for piece in (data[MIB:2 * MIB], data[MIB:13 * MIB]):
        wrong = checksum(algorithm, corrupted(piece))
        answer = await patch(http, url, user, MIB, piece, **{"Upload-Checksum": wrong})
        assert (answer.status, answer.body["code"]) == (460, "UPLOAD_CHECKSUM_MISMATCH")
        assert (await head(http, url, user)).headers["Upload-Offset"] == str(MIB)
    assert len(temporary_objects(stack, upload_uuid(url))) == 1  # the first MiB's tail
    rest = data[MIB:]
    answer = await patch(http, url, user, MIB, rest,
                         **{"Upload-Checksum": checksum(algorithm, rest)})
    assert answer.headers["Upload-Offset"] == str(len(data))
    assert await stored(http, edge_url, user, f"sum-{algorithm}.bin") == data
    assert temporary_objects(stack, upload_uuid(url)) == []
    answer = await patch(http, await create(http, edge_url, user, 10), user, 0, b"0123456789",
                         **{"Upload-Checksum": "md5 " + "A" * 22 + "=="})
    assert answer.status == 400


async def test_terminate_then_head_is_gone(http: aiohttp.ClientSession, edge_url: str,
                                           user: User, stack: Stack) -> None:
    url = await create(http, edge_url, user, 12 * MIB)
    assert (await patch(http, url, user, 0, os.urandom(7 * MIB))).status == 204  # a part
    assert (await patch(http, url, user, 7 * MIB, os.urandom(MIB))).status == 204  # a tail
    assert temporary_objects(stack, upload_uuid(url))
    assert (await tus(http, "DELETE", url, user)).status == 204
    for method in ("HEAD", "PATCH"):
        answer = await tus(http, method, url, user, OCTETS | {"Upload-Offset": str(8 * MIB)},
                           b"x" if method == "PATCH" else None)
        assert answer.status in (404, 410), answer
    assert (await tus(http, "DELETE", url, user)).status == 204  # again: already gone
    assert temporary_objects(stack, upload_uuid(url)) == []
    assert not [k for k in open_multipart_uploads(stack) if upload_uuid(url) in k]


async def test_expired_is_410_and_the_reaper_removes_its_bytes(
        http: aiohttp.ClientSession, edge_url: str, user: User, stack: Stack) -> None:
    url = await create(http, edge_url, user, 12 * MIB)
    answer = await patch(http, url, user, 0, os.urandom(6 * MIB))
    expires = parsedate_to_datetime(answer.headers["Upload-Expires"])
    assert expires.tzinfo is not None
    assert (await patch(http, url, user, 6 * MIB, os.urandom(MIB))).status == 204
    expire_now(stack, upload_uuid(url))
    assert (await head(http, url, user)).status == 410
    answer = await patch(http, url, user, 7 * MIB, os.urandom(MIB))
    assert (answer.status, answer.body["code"]) == (410, "UPLOAD_GONE")
    # One pass as an operator runs it. It waits for a pass the service may be running itself
    # (every 60 s), which may have reaped the upload first: the outcome is what counts.
    reap(stack)
    assert session_state(stack, upload_uuid(url)) == "expired"
    assert temporary_objects(stack, upload_uuid(url)) == []
    assert not [k for k in open_multipart_uploads(stack) if upload_uuid(url) in k]


async def test_version_and_content_type(http: aiohttp.ClientSession, edge_url: str,
                                        user: User) -> None:
    for version in (None, "0.2.2", "2.0.0"):
        answer = await tus(http, "POST", edge_url + BASE, user,
                           {"Tus-Resumable": version, "Upload-Length": "1"})
        assert (answer.status, answer.body["code"]) == (412, "TUS_VERSION_UNSUPPORTED")
        assert answer.headers["Tus-Version"] == "1.0.0"
    url = await create(http, edge_url, user, 10)
    answer = await tus(http, "PATCH", url, user, {"Content-Type": "application/octet-stream",
                                                  "Upload-Offset": "0"}, b"0123456789")
    assert answer.status == 415
    answer = await tus(http, "POST", edge_url + BASE, user, {})
    assert (answer.status, answer.body["code"]) == (400, "UPLOAD_LENGTH_MISSING")
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {"Upload-Length": "1", "Upload-Metadata": "filename ***"})
    assert (answer.status, answer.body["code"]) == (400, "UPLOAD_METADATA_INVALID")
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {"Upload-Length": "1", "Upload-Metadata": metadata(filename="a/b")})
    assert (answer.status, answer.body["code"]) == (400, "UPLOAD_METADATA_INVALID")

    async def chunked() -> AsyncIterator[bytes]:
        yield b"0123456789"

    sent = {"Tus-Resumable": "1.0.0", **user.auth, **OCTETS, "Upload-Offset": "0"}
    async with http.patch(url, headers=sent, data=chunked()) as r:
        assert (r.status, (await r.json())["code"]) == (411, "LENGTH_REQUIRED")
    answer = await patch(http, url, user, 0, b"0123456789" + b"!")
    assert (answer.status, answer.body["code"]) == (413, "UPLOAD_LENGTH_EXCEEDED")
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {"Upload-Length": str(50 * 1024 * MIB + 1)})
    assert (answer.status, answer.body["code"]) == (413, "UPLOAD_LENGTH_EXCEEDED")


async def test_only_the_owner_reaches_an_upload(http: aiohttp.ClientSession, edge_url: str,
                                                user: User) -> None:
    url = await create(http, edge_url, user, 10)
    stranger = await new_user(http, edge_url, "stranger")
    for method in ("HEAD", "PATCH", "DELETE"):
        answer = await tus(http, method, url, stranger, OCTETS | {"Upload-Offset": "0"},
                           b"0123456789" if method == "PATCH" else None)
        assert answer.status == 404, (method, answer)
    assert (await tus(http, "HEAD", url, None)).status == 401
    assert (await tus(http, "HEAD", edge_url + BASE + "not-an-upload", user)).status == 404
    assert (await head(http, url, user)).headers["Upload-Offset"] == "0"


async def test_quota_at_creation_is_413(http: aiohttp.ClientSession, edge_url: str,
                                        user: User, stack: Stack) -> None:
    set_quota(stack, user.email, "3MiB")
    answer = await tus(http, "POST", edge_url + BASE, user, {"Upload-Length": str(4 * MIB)})
    assert (answer.status, answer.body["code"]) == (413, "QUOTA_EXCEEDED")
    # the same with the body (creation-with-upload): no upload to name, nothing held
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {**OCTETS, "Upload-Length": str(4 * MIB)}, os.urandom(4 * MIB))
    assert (answer.status, answer.body["code"]) == (413, "QUOTA_EXCEEDED")
    assert "Location" not in answer.headers
    url = await create(http, edge_url, user, None)  # deferred: the quota applies when declared
    answer = await patch(http, url, user, 0, os.urandom(MIB),
                         **{"Upload-Length": str(4 * MIB)})
    assert (answer.status, answer.body["code"]) == (413, "QUOTA_EXCEEDED")
    assert (await head(http, url, user)).headers["Upload-Offset"] == "0"
    data = os.urandom(2 * MIB)
    url = await create(http, edge_url, user, len(data), name="fits.bin", data=data)
    assert await stored(http, edge_url, user, "fits.bin") == data


class SlowBody:
    """A body that sends its first MiB, then waits to be let go."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.started = asyncio.Event()
        self.go = asyncio.Event()

    async def __call__(self) -> AsyncIterator[bytes]:
        yield os.urandom(MIB)
        self.started.set()
        await self.go.wait()
        for _ in range(self.size // MIB - 1):
            yield os.urandom(MIB)


async def test_a_newer_request_takes_over_from_one_whose_client_stalled(
        http: aiohttp.ClientSession, edge_url: str, user: User, stack: Stack) -> None:
    """A PATCH whose client stopped sending (a reload, a dropped connection the server has not
    noticed) holds the upload: a newer PATCH asks it to stop, then writes. The stalled one is
    told UPLOAD_LOCKED when its client comes back."""
    data = os.urandom(30 * MIB)
    url = await create(http, edge_url, user, len(data), name="taken-over.bin")
    body = SlowBody(20 * MIB)
    sent = {"Tus-Resumable": "1.0.0", **user.auth, **OCTETS, "Upload-Offset": "0",
            "Content-Length": str(20 * MIB)}

    async def stalled() -> tuple[int, str]:
        async with aiohttp.ClientSession() as other, other.patch(url, headers=sent,
                                                                  data=body()) as r:
            return r.status, (await r.json())["code"]

    first = asyncio.create_task(stalled())
    await body.started.wait()
    await wait_for_writer(stack, upload_uuid(url))
    answer = await patch(http, url, user, 0, data)
    assert (answer.status, answer.headers["Upload-Offset"]) == (204, str(len(data))), answer
    body.go.set()
    assert await first == (423, "UPLOAD_LOCKED")
    assert await stored(http, edge_url, user, "taken-over.bin") == data


async def test_head_while_a_whole_body_is_written_then_refused(
        http: aiohttp.ClientSession, edge_url: str, user: User, stack: Stack) -> None:
    """A PATCH carrying the whole upload holds it claimed for completion while it streams; a
    HEAD meanwhile waits for its outcome, and when the body is refused (a wrong checksum) the
    HEAD answers the offset the upload is back at (0), not an error."""
    url = await create(http, edge_url, user, 8 * MIB, name="refused-whole.bin")
    body = SlowBody(8 * MIB)
    sent = {"Tus-Resumable": "1.0.0", **user.auth, **OCTETS, "Upload-Offset": "0",
            "Content-Length": str(8 * MIB),
            "Upload-Checksum": checksum("sha256", b"not these bytes")}

    async def whole() -> int:
        async with aiohttp.ClientSession() as other, other.patch(url, headers=sent,
                                                                  data=body()) as r:
            return r.status

    first = asyncio.create_task(whole())
    await body.started.wait()
    await wait_for_state(stack, upload_uuid(url), "completing")
    during = asyncio.create_task(head(http, url, user))
    await wait_for_upload_calls(stack, 2)  # the PATCH's and the HEAD's
    body.go.set()
    assert await first == 460
    answer = await during
    assert (answer.status, answer.headers["Upload-Offset"]) == (200, "0"), answer


async def test_cors_exposes_the_tus_headers(http: aiohttp.ClientSession, edge_url: str,
                                            user: User) -> None:
    origin = "http://localhost:5173"
    async with http.options(edge_url + BASE, headers={
            "Origin": origin, "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "tus-resumable,upload-offset"}) as r:
        allowed = r.headers.get("Access-Control-Allow-Headers", "")
        methods = r.headers.get("Access-Control-Allow-Methods", "")
    if not allowed:  # this stack allows no browser origin: see tests/browser for one that does
        pytest.fail("the test stack must allow the local development origins (make up)")
    for name in ("Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Metadata",
                 "Upload-Checksum", "Upload-Defer-Length"):
        assert name in allowed
    assert "HEAD" in methods and "PATCH" in methods
    answer = await tus(http, "POST", edge_url + BASE, user,
                       {"Origin": origin, "Upload-Length": "1"})
    exposed = answer.headers["Access-Control-Expose-Headers"]
    for name in ("Location", "Upload-Offset", "Upload-Length", "Tus-Resumable",
                 "Upload-Expires", "Tus-Version", "Tus-Extension", "Tus-Max-Size"):
        assert name in exposed
