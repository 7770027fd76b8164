"""S3 waits are bounded (issue #10): a store that takes no bytes, or sends no answer, is
Unavailable within the stall bound; a client that streams slowly is not a stalled store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from common.errors import Unavailable
from common.s3 import S3Client, S3Settings

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


async def _frames(total: int, frame: int = MIB, pause_s: float = 0.0) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = os.urandom(min(frame, total - sent))
        sent += len(piece)
        if pause_s:
            await asyncio.sleep(pause_s)
        yield piece


async def test_a_store_that_stops_reading_is_unavailable_not_a_hang() -> None:
    """A listener that accepts and never reads nor answers: what a frozen store looks like."""
    held: list[asyncio.StreamWriter] = []

    async def frozen(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(frozen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = S3Client(S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="k",
                                 secret_key="s", read_timeout_s=0.5, stall_timeout_s=0.5),
                      "deadline-it")
    try:
        async with asyncio.timeout(30):  # the test's own guard against the hang it checks
            with pytest.raises(Unavailable):  # more than the socket buffers hold: writes stall
                await client.put_stream("put_object", "big", 256 * MIB, _frames(256 * MIB))
            with pytest.raises(Unavailable):  # all bytes sent, no answer
                await client.put_stream("put_object", "small", 1024, _frames(1024))
            with pytest.raises(Unavailable):  # a control call with no answer
                await client.stat("anything")
    finally:
        await client.close()
        for writer in held:
            writer.close()
        server.close()


async def test_a_busy_store_that_answers_probes_is_waited_for() -> None:
    """The store takes long to answer the PUT (busy writing) but answers a HEAD at once."""
    async def put(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(2.0)  # four stall periods
        return web.Response(headers={"ETag": '"busy-but-alive"'})

    async def head(_request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application(client_max_size=8 * MIB)
    app.router.add_put("/{tail:.*}", put)
    app.router.add_route("HEAD", "/{tail:.*}", head)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = S3Client(S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="k",
                                 secret_key="s", read_timeout_s=0.5, stall_timeout_s=0.5),
                      "deadline-it")
    try:
        assert await client.put_stream("put_object", "k", 4 * MIB, _frames(4 * MIB)) == \
            "busy-but-alive"
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_slow_client_stream_is_not_a_stalled_store(stack_deps: Any) -> None:
    client = S3Client(S3Settings(endpoint=stack_deps.s3_endpoint,
                                 access_key=stack_deps.s3_access_key,
                                 secret_key=stack_deps.s3_secret_key, bucket=stack_deps.s3_bucket,
                                 stall_timeout_s=0.3), "deadline-it")
    try:
        await client.ensure_bucket()
        etag = await client.put_stream("put_object", "slow-client", 3 * 256 * 1024,
                                       _frames(3 * 256 * 1024, 256 * 1024, pause_s=0.6))
        assert etag
        info = await client.stat("slow-client")
        assert info is not None and info.size_bytes == 3 * 256 * 1024
        await client.delete("slow-client")
    finally:
        await client.close()


async def test_a_store_that_answers_calls_is_up_without_a_probe_of_its_own() -> None:
    """Under load a probe's HEAD queues in the store like everything else: a store that
    answered any call within the read timeout is up; one that answers nothing is down."""
    probes: list[str] = []
    frozen = asyncio.Event()

    async def head(request: web.Request) -> web.Response:
        if request.path.endswith(".govault-readiness-probe"):
            probes.append(request.path)
        if frozen.is_set():
            await asyncio.sleep(30)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("HEAD", "/{tail:.*}", head)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    client = S3Client(S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="k",
                                 secret_key="s", read_timeout_s=0.3), "deadline-it")
    try:
        assert await client.stat("some/key") is None  # an answer (404)
        await client.probe()
        assert probes == []  # it answered just now: no probe of its own
        await asyncio.sleep(0.4)
        await client.probe()
        assert len(probes) == 1  # nothing lately: asked
        frozen.set()
        await asyncio.sleep(0.4)
        with pytest.raises(Unavailable):
            await client.probe()
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_silent_client_is_not_a_stalled_store_even_when_probes_fail() -> None:
    """The stream's source goes silent for many stall periods while the store does not answer
    probes (its HEADs hang): waiting on the client is never the store's stall, so the PUT is not
    given up, and completes once the client sends the rest (issue 22: silent clients were taken
    for a stalled store once the probe also failed)."""
    async def put(request: web.Request) -> web.Response:
        return web.Response(headers={"ETag": f'"{len(await request.read())}"'})

    async def head(_request: web.Request) -> web.Response:
        await asyncio.sleep(30)  # never answers in time: every probe fails
        return web.Response(status=404)

    app = web.Application(client_max_size=8 * MIB)
    app.router.add_put("/{tail:.*}", put)
    app.router.add_route("HEAD", "/{tail:.*}", head)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    client = S3Client(S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="k",
                                 secret_key="s", read_timeout_s=0.2, stall_timeout_s=0.2),
                      "deadline-it")
    resume = asyncio.Event()
    probed = asyncio.Event()

    async def silent_then_rest() -> AsyncIterator[bytes]:
        yield b"x" * 1024
        await resume.wait()  # silent until the store has failed a probe
        yield b"y" * 1024

    async def watch_probe() -> None:
        with pytest.raises(Unavailable):
            await client.probe()
        probed.set()

    try:
        async with asyncio.timeout(30):
            put_task = asyncio.create_task(
                client.put_stream("put_object", "k", 2048, silent_then_rest()))
            await watch_probe()
            await probed.wait()
            await asyncio.sleep(1.0)  # five stall periods more of silence, probes failing
            resume.set()
            assert await put_task == "2048"
    finally:
        await client.close()
        await runner.cleanup()


async def test_streams_held_by_silent_clients_leave_the_probe_and_control_calls_their_own(
        stack_deps: Any) -> None:
    """Every stream connection of the pool is held by a stream whose client went silent: the
    readiness probe and a control call still reach the store at once (issue 22: 265 silent
    chunks held the pool the probe shared, and the upload service turned NOT_SERVING)."""
    client = S3Client(S3Settings(endpoint=stack_deps.s3_endpoint,
                                 access_key=stack_deps.s3_access_key,
                                 secret_key=stack_deps.s3_secret_key, bucket=stack_deps.s3_bucket,
                                 max_connections=2), "deadline-it")
    release = asyncio.Event()
    started = [asyncio.Event(), asyncio.Event()]

    async def silent(index: int) -> AsyncIterator[bytes]:
        yield b"x" * 1024
        started[index].set()  # the first frame is written: the connection is this stream's
        await release.wait()
        yield b"x" * 1024

    try:
        await client.ensure_bucket()
        streams = [asyncio.create_task(client.put_stream("put_object", f"silent-{i}", 2048,
                                                         silent(i))) for i in range(2)]
        async with asyncio.timeout(30):
            for event in started:
                await event.wait()
            async with asyncio.timeout(client.settings.read_timeout_s):
                await client.probe()  # a HEAD of its own (nothing has answered yet)
                assert await client.stat("no-such-key") is None
            release.set()
            assert all(await asyncio.gather(*streams))
        for i in range(2):
            await client.delete(f"silent-{i}")
    finally:
        release.set()
        await client.close()


async def test_concurrent_probes_share_one_head() -> None:
    """The readiness loop and every stalled stream's watchdog may probe at once: one HEAD goes
    out, and a probe that went unanswered lately fails the next at once."""
    heads = 0

    async def head(_request: web.Request) -> web.Response:
        nonlocal heads
        heads += 1
        await asyncio.sleep(30)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("HEAD", "/{tail:.*}", head)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    client = S3Client(S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="k",
                                 secret_key="s", read_timeout_s=0.3), "deadline-it")
    try:
        async with asyncio.timeout(30):
            results = await asyncio.gather(*(client.probe() for _ in range(5)),
                                           return_exceptions=True)
            assert all(isinstance(r, Unavailable) for r in results), results
            with pytest.raises(Unavailable):
                await client.probe()
        assert heads == 1
    finally:
        await client.close()
        await runner.cleanup()
