"""Real tus clients against the stack, unchanged: tus-js-client (npm, in Node) and tuspy (PyPI)
upload 0 B, 1 B, 5 MiB - 1, 5 MiB + 1 and 64 MiB in PATCHes of 1 MiB, 7 MiB and the whole file;
every file is listed and downloads byte-exact. A client killed with SIGKILL in the middle is
resumed by a new process from the server's offset, and no acknowledged byte is lost.

The clients run as their own processes (tests/tus_clients: upload.mjs, tuspy_upload.py), which
print each offset the server acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.tus import MIB, head, stored, upload_uuid
from tests.support.tus_clients import installed_tus_clients
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

SIZES = [0, 1, 5 * MIB - 1, 5 * MIB + 1, 64 * MIB]
CHUNKS = {"1MiB": MIB, "7MiB": 7 * MIB, "unlimited": 0}
CLIENTS = ("tus-js-client", "tuspy")
RUN_S = 300  # one client's whole run, generous on a busy machine


@pytest.fixture(scope="module")
def clients() -> Path:
    return installed_tus_clients()


@pytest.fixture
def http_timeout_s() -> float:
    return 120.0


@pytest.fixture(scope="module")
async def owner(edge_url: str) -> User:
    async with aiohttp.ClientSession() as session:
        return await new_user(session, edge_url, "tusclient")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("tus-files")
    made = {}
    for size in SIZES:
        made[size] = folder / f"{size}.bin"
        made[size].write_bytes(os.urandom(size))
    return made


def command(clients: Path, client: str, edge_url: str, user: User, path: Path, name: str,
            chunk: int, url: str | None = None) -> list[str]:
    args = [f"{edge_url}/api/upload/tus/", user.token, str(path), name, str(chunk)]
    args += [url] if url else []
    if client == "tus-js-client":
        return ["node", str(clients / "upload.mjs"), *args]
    return [sys.executable, str(clients / "tuspy_upload.py"), *args]


async def start(clients: Path, cmd: list[str], **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *cmd, cwd=clients, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env})


async def events(process: asyncio.subprocess.Process) -> AsyncIterator[dict[str, Any]]:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        yield json.loads(line)


async def run(clients: Path, cmd: list[str], **env: str) -> list[dict[str, Any]]:
    process = await start(clients, cmd, **env)

    async def everything() -> list[dict[str, Any]]:
        return [event async for event in events(process)]

    seen = await asyncio.wait_for(everything(), RUN_S)
    assert process.stderr is not None
    errors = (await process.stderr.read()).decode()
    assert await process.wait() == 0, (seen, errors[-3000:])
    return seen


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("chunk", list(CHUNKS.values()), ids=list(CHUNKS))
@pytest.mark.parametrize("size", SIZES, ids=lambda n: f"{n}B")
async def test_a_real_client_uploads_any_size_in_any_pieces(
        clients: Path, http: aiohttp.ClientSession, edge_url: str, owner: User,
        files: dict[int, Path], client: str, chunk: int, size: int) -> None:
    name = f"{client}-{size}-{chunk}.bin"
    seen = await run(clients, command(clients, client, edge_url, owner, files[size], name,
                                      chunk))
    assert seen[-1]["success"], seen
    acknowledged = [e["acknowledged"] for e in seen if "acknowledged" in e]
    assert acknowledged == sorted(acknowledged)
    if size and chunk:
        assert len(acknowledged) == -(-size // chunk)  # one PATCH per chunk
    assert await stored(http, edge_url, owner, name) == files[size].read_bytes()


async def test_tuspy_with_upload_checksums(clients: Path, http: aiohttp.ClientSession,
                                           edge_url: str, owner: User,
                                           files: dict[int, Path]) -> None:
    """tuspy's own Upload-Checksum (sha1) on every PATCH, accepted."""
    seen = await run(clients, command(clients, "tuspy", edge_url, owner, files[5 * MIB + 1],
                                      "checksums.bin", MIB), TUSPY_CHECKSUM="1")
    assert seen[-1]["success"]
    assert await stored(http, edge_url, owner, "checksums.bin") == files[5 * MIB + 1].read_bytes()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_killed_client_resumes_from_the_servers_offset(
        clients: Path, http: aiohttp.ClientSession, edge_url: str, owner: User,
        files: dict[int, Path], client: str) -> None:
    path, name = files[64 * MIB], f"resumed-{client}.bin"
    process = await start(clients, command(clients, client, edge_url, owner, path, name, MIB))
    url, acknowledged = None, 0
    async for event in events(process):
        url = event.get("url") or url
        acknowledged = event.get("acknowledged", acknowledged)
        if acknowledged >= 9 * MIB:
            break
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert url is not None and acknowledged >= 9 * MIB
    answer = await head(http, url, owner)
    offset = int(answer.headers["Upload-Offset"])
    assert acknowledged <= offset < path.stat().st_size  # nothing acknowledged was lost

    seen = await run(clients, command(clients, client, edge_url, owner, path, name, MIB, url))
    assert seen[-1]["success"] and upload_uuid(seen[-1]["url"]) == upload_uuid(url)
    resumed = [e["acknowledged"] for e in seen if "acknowledged" in e]
    assert resumed[0] == offset + MIB  # the new process went on from the server's offset
    assert await stored(http, edge_url, owner, name) == path.read_bytes()
