"""The S3 answers the services read (common/s3/), parsed with an XML parser and classified
once: success bodies, error bodies, S3's "200 with <Error>" answer to CompleteMultipartUpload,
and garbage. The last tests drive the upload adapter against a local HTTP server that answers
like an S3 store would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from common.errors import StorageFull, Unavailable
from common.s3 import (
    CAPACITY_PROBE_KEY,
    EntityTooSmall,
    InvalidPart,
    NoSuchUpload,
    S3Client,
    S3Settings,
    clean_etag,
    complete_body,
    error_in,
    parse_xml,
)
from svc_upload.s3 import S3Objects

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

INITIATED = f"""<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult {NS}><Bucket>b</Bucket><Key>users/a/b</Key>
<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>""".encode()

COMPLETED = f"""<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult {NS}><Location>http://s3/b/k</Location><Bucket>b</Bucket>
<Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>
</CompleteMultipartUploadResult>""".encode()


def error_body(code: str, message: str = "m") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>r</RequestId></Error>").encode()


def test_success_bodies_are_read_by_element_name_whatever_the_namespace() -> None:
    assert parse_xml(INITIATED)["UploadId"] == "VXBsb2FkIElE"
    assert clean_etag(parse_xml(COMPLETED)["ETag"]) == "3858f62230ac3c915f300c664312c11f-9"
    assert error_in(200, INITIATED) is None
    assert error_in(200, COMPLETED) is None
    assert error_in(204, b"") is None


@pytest.mark.parametrize(("code", "kind"), [
    ("EntityTooSmall", EntityTooSmall), ("InvalidPart", InvalidPart),
    ("InvalidPartOrder", InvalidPart), ("NoSuchUpload", NoSuchUpload),
    ("AccessDenied", Unavailable), ("SlowDown", Unavailable), ("InternalError", Unavailable),
])
def test_error_bodies_are_classified_once(code: str, kind: type[Exception]) -> None:
    assert isinstance(error_in(400, error_body(code)), kind)


@pytest.mark.parametrize(("status", "code", "message"), [
    (507, "XMinioStorageFull", "Storage backend has reached its minimum free drive threshold"),
    (507, "InsufficientStorage", "m"),
    (500, "InternalError", "We encountered an internal error: cause(no space left on device)"),
])
def test_a_store_that_says_it_is_out_of_space_is_storage_full(status: int, code: str,
                                                               message: str) -> None:
    assert isinstance(error_in(status, error_body(code, message)), StorageFull)


def test_a_200_with_an_error_body_is_an_error() -> None:
    """S3 answers CompleteMultipartUpload with 200 before joining the parts, and reports a
    failure in the body."""
    error = error_in(200, error_body("InvalidPart", "One or more of the specified parts could "
                                                    "not be found."))
    assert isinstance(error, InvalidPart)
    assert isinstance(error_in(200, error_body("InternalError")), Unavailable)


def test_whitespace_sent_before_the_answer_is_skipped() -> None:
    """AWS S3 keeps a slow CompleteMultipartUpload alive by sending whitespace after the 200
    status line; the XML (with its declaration) follows, a result or an <Error>."""
    keepalive = b"\n \n \n"
    assert clean_etag(parse_xml(keepalive + COMPLETED)["ETag"]).endswith("-9")
    assert error_in(200, keepalive + COMPLETED) is None
    assert isinstance(error_in(200, keepalive + error_body("InvalidPart")), InvalidPart)


@pytest.mark.parametrize("payload", [b"", b"not xml", b"<Error><Code>", b"\x00\xff"])
def test_an_unreadable_error_answer_is_unavailable(payload: bytes) -> None:
    assert isinstance(error_in(503, payload), Unavailable)
    assert "HTTP 503" in str(error_in(503, payload))


def test_an_etag_with_markup_or_quotes_is_escaped_in_the_complete_body() -> None:
    body = complete_body([(1, "abc"), (2, 'x<y>&"z')])
    parsed = parse_xml(body)
    assert parsed["PartNumber"] == "1" and parsed["ETag"] == '"abc"'
    assert b"x&lt;y&gt;&amp;" in body


async def serve(handler: Callable[[web.Request], object]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def fake_store() -> AsyncIterator[Callable[[bytes, int], S3Objects]]:
    runners: list[web.AppRunner] = []
    clients: list[S3Objects] = []
    answers: dict[str, tuple[int, bytes]] = {}

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        status, payload = answers["next"]
        return web.Response(status=status, body=payload, content_type="application/xml")

    runner, url = await serve(handler)
    runners.append(runner)

    def objects(payload: bytes, status: int = 200) -> S3Objects:
        answers["next"] = (status, payload)
        client = S3Objects(S3Client(S3Settings(endpoint=url, access_key="k", secret_key="s",
                                               timeout_s=5.0), "upload"))
        clients.append(client)
        return client

    yield objects
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


async def test_complete_multipart_raises_on_200_with_error(fake_store) -> None:  # type: ignore[no-untyped-def]
    objects = fake_store(error_body("EntityTooSmall"), 200)
    with pytest.raises(EntityTooSmall):
        await objects.complete_multipart("users/a/b", "u", [(1, "e1"), (2, "e2")])


async def test_complete_multipart_returns_the_final_etag(fake_store) -> None:  # type: ignore[no-untyped-def]
    objects = fake_store(COMPLETED, 200)
    assert await objects.complete_multipart("k", "u", [(1, "e")]) == (
        "3858f62230ac3c915f300c664312c11f-9")


async def test_create_multipart_reads_the_upload_id(fake_store) -> None:  # type: ignore[no-untyped-def]
    assert await fake_store(INITIATED, 200).create_multipart("users/a/b") == "VXBsb2FkIElE"


async def test_a_refused_create_is_unavailable(fake_store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unavailable):
        await fake_store(error_body("AccessDenied"), 403).create_multipart("users/a/b")


async def test_a_streamed_put_refused_with_no_such_upload(fake_store) -> None:  # type: ignore[no-untyped-def]
    objects = fake_store(error_body("NoSuchUpload"), 404)

    async def body() -> AsyncIterator[bytes]:
        yield b"abc"

    with pytest.raises(NoSuchUpload):
        await objects.upload_part_stream("k", "u", 1, 3, body())


@pytest.fixture
async def space_store() -> AsyncIterator[tuple[dict[str, bool], S3Client]]:
    """A store whose writes fail with SeaweedFS's bare 500 while `state["full"]`; the probe
    object's write too, unless `state["probe_ok"]` (a passing failure of one write)."""
    state = {"full": True, "probe_ok": False}

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        if request.method == "PUT":
            probe = request.path.endswith(CAPACITY_PROBE_KEY)
            if state["full"] and not (probe and state["probe_ok"]):
                return web.Response(status=500, body=error_body("InternalError"),
                                    content_type="application/xml")
            return web.Response(status=200, headers={"ETag": '"e"'})
        return web.Response(status=204)

    runner, url = await serve(handler)
    client = S3Client(S3Settings(endpoint=url, access_key="k", secret_key="s", timeout_s=5.0),
                      "upload")
    yield state, client
    await client.close()
    await runner.cleanup()


async def _frames(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_bare_500_that_a_probe_write_gets_too_is_a_full_store(space_store) -> None:  # type: ignore[no-untyped-def]
    state, client = space_store
    with pytest.raises(StorageFull):
        await client.put_stream("put_object", "users/a/b", 3, _frames(b"abc"))
    with pytest.raises(StorageFull):  # known full: refused before any work
        await client.check_space()
    state["full"] = False  # space freed: the next check's probe write goes through
    client._full_checked_at = -1e9  # (its last probe is long past)
    await client.check_space()
    assert await client.put_stream("put_object", "users/a/b", 3, _frames(b"abc")) == "e"


async def test_a_bare_500_that_a_probe_write_does_not_get_is_unavailable(space_store) -> None:  # type: ignore[no-untyped-def]
    state, client = space_store
    state["probe_ok"] = True
    with pytest.raises(Unavailable):
        await client.put_stream("put_object", "users/a/b", 3, _frames(b"abc"))
    await client.check_space()  # not known to be full
