"""Fault injection for tus uploads (issue 24): every offset the server acknowledged survives a
kill -9 of any process, and nothing is left behind.

- Between two PATCHes, the edge, the upload service and the store are killed (the launcher
  restarts them): HEAD answers the acknowledged offset, and the upload completes byte-exact.
- Under concurrent tus uploads in PATCHes of 1, 3 and 7 MiB, each GoVault process, PostgreSQL
  and the store is killed in turn. A client that meets an error asks HEAD where its upload
  stands: that offset is never below what was acknowledged. Afterwards every upload is listed
  and byte-exact, no session is left unsettled after the reaper, the files audit finds no
  orphan, no multipart upload is open, and no temporary object (tail) remains.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import time
from collections.abc import Iterator

import aiohttp
import pytest

from compose import Stack
from tests.faults.checks import (
    RECOVERY_LIMIT_S,
    assert_nothing_lost_nothing_left,
    fault_env,
    new_account,
    signal_group,
    until,
)
from tests.faults.workload import TRANSIENT, FaultClient, Observations, Stored
from tests.support.stacks import isolated_environ, make_data_dir, offset_for, stop_stack
from tests.support.tus import BASE, MIB, OCTETS, VERSION, metadata, reap, temporary_objects

pytestmark = pytest.mark.faults

TARGETS = ("upload", "edge", "files", "auth", "postgres", "seaweedfs")
SESSION_TTL_S = 150
# a writer killed with its process is known dead after this (its upload is 423 until then)
LEASE_S = 4


@pytest.fixture(scope="module")
def tus_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    env = {**fault_env(SESSION_TTL_S), "GOVAULT_UPLOAD_TUS_LEASE_S": str(LEASE_S)}
    stack = Stack(make_data_dir("tus-faults"), offset_for("scratch"), services=True,
                  prometheus=False, environ={**isolated_environ(), **env},
                  fast_unsafe_pg=False, supervise=True)
    stack.start()
    yield stack
    stop_stack(stack, keep_logs=bool(request.session.testsfailed))


class TusClient:
    """A tus client that rides out faults: transient answers and 423 are retried; after any
    other failure it asks HEAD for the offset and goes on from there, checking that no
    acknowledged byte was lost."""

    def __init__(self, client: FaultClient) -> None:
        self.client = client
        self.lost: list[str] = []

    async def request(self, method: str, url: str, headers: dict[str, str],
                      data: bytes | None = None) -> tuple[int, dict[str, str]]:
        deadline = time.monotonic() + 120
        while True:
            sent = {**VERSION, **headers,
                    "Authorization": f"Bearer {self.client.account.token}"}
            try:
                async with self.client.http.request(
                        method, url, headers=sent, data=data,
                        timeout=aiohttp.ClientTimeout(total=60)) as r:
                    raw = await r.read()
                    status, answer = r.status, dict(r.headers)
            except (aiohttp.ClientError, TimeoutError):
                status, answer, raw = 0, {}, b""
            if status == 401:
                await self.client.login()
                continue
            if status >= 500 and status not in TRANSIENT:
                self.client.seen.server_errors.append(f"{status} {method} {url}: {raw[:300]!r}")
            if status in (0, 423) or status in TRANSIENT:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{method} {url}: still {status or 'no answer'}")
                self.client.seen.transient += 1
                await asyncio.sleep(0.3)
                continue
            return status, answer

    async def offset(self, url: str) -> int:
        status, answer = await self.request("HEAD", url, {})
        assert status == 200, (status, url)
        return int(answer["Upload-Offset"])

    async def upload(self, data: bytes, name: str) -> Stored:
        status, answer = await self.request(
            "POST", self.client.base + BASE,
            {"Upload-Length": str(len(data)), "Upload-Metadata": metadata(filename=name)})
        assert status == 201, (status, answer)
        url = self.client.base + answer["Location"]
        acknowledged = 0
        while acknowledged < len(data):
            piece = data[acknowledged:acknowledged + random.choice((MIB, 3 * MIB, 7 * MIB))]
            status, answer = await self.request(
                "PATCH", url, {**OCTETS, "Upload-Offset": str(acknowledged)}, piece)
            if status == 204:
                assert int(answer["Upload-Offset"]) == acknowledged + len(piece)
                acknowledged += len(piece)
                continue
            offset = await self.offset(url)
            if offset < acknowledged:
                self.lost.append(f"{url}: acknowledged {acknowledged}, then HEAD {offset}")
            acknowledged = offset
        return Stored(await self.file_id(name), hashlib.sha256(data).hexdigest(), len(data),
                      "tus")

    async def file_id(self, name: str) -> str:
        status, body = await self.client.call("GET", "/api/files/me/owned?limit=100")
        assert status == 200, body
        found = [f["file_id"] for f in body["files"] if f["name"] == name]
        assert len(found) == 1, (name, found)
        return str(found[0])


async def until_recovered(tus: TusClient) -> None:
    """Until a small tus upload succeeds again (bounded)."""
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    while True:
        try:
            await tus.upload(os.urandom(4096), f"probe-{os.urandom(4).hex()}.bin")
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def test_restarts_between_patches_lose_no_acknowledged_byte(
        tus_stack: Stack, http: aiohttp.ClientSession) -> None:
    base = tus_stack.edge_url
    seen = Observations()
    client = FaultClient(http, base, await new_account(http, base), seen)
    await client.login()
    tus = TusClient(client)
    for target in ("edge", "upload", "seaweedfs"):
        data = os.urandom(20 * MIB)
        name = f"restart-{target}.bin"
        status, answer = await tus.request(
            "POST", base + BASE, {"Upload-Length": str(len(data)),
                                  "Upload-Metadata": metadata(filename=name)})
        assert status == 201
        url = base + answer["Location"]
        for start, end in ((0, 6 * MIB), (6 * MIB, 7 * MIB)):  # a part, then a tail
            status, answer = await tus.request("PATCH", url, {**OCTETS,
                                                              "Upload-Offset": str(start)},
                                               data[start:end])
            assert (status, answer["Upload-Offset"]) == (204, str(end))
        signal_group(tus_stack, target, signal.SIGKILL)
        assert await tus.offset(url) == 7 * MIB, target
        status, answer = await tus.request("PATCH", url, {**OCTETS,
                                                          "Upload-Offset": str(7 * MIB)},
                                           data[7 * MIB:])
        assert (status, answer["Upload-Offset"]) == (204, str(len(data))), target
        seen.stored.append(Stored(await tus.file_id(name), hashlib.sha256(data).hexdigest(),
                                  len(data), "tus"))
    assert seen.server_errors == []
    await assert_nothing_lost_nothing_left(tus_stack, http, [client], seen)


async def test_kill_9_of_each_process_during_tus_uploads(
        tus_stack: Stack, http: aiohttp.ClientSession) -> None:
    base = tus_stack.edge_url
    seen = Observations()
    workers = [FaultClient(http, base, await new_account(http, base), seen) for _ in range(3)]
    probe = TusClient(FaultClient(http, base, await new_account(http, base), Observations()))
    for client in [*workers, probe.client]:
        await client.login()
    clients = [TusClient(client) for client in workers]
    stop = asyncio.Event()

    async def keep_uploading(tus: TusClient, number: int) -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            data = os.urandom(random.choice((6 * MIB, 17 * MIB, 24 * MIB)))
            seen.stored.append(await tus.upload(data, f"tus-{number}-{round_}.bin"))

    tasks = [asyncio.create_task(keep_uploading(tus, n)) for n, tus in enumerate(clients)]
    try:
        await until("the workload under way (an upload stored)", lambda: bool(seen.stored),
                    tasks)
        for target in TARGETS:
            signal_group(tus_stack, target, signal.SIGKILL)
            await until_recovered(probe)
            await asyncio.sleep(2)
        await until("6 uploads stored", lambda: len(seen.stored) >= 6, tasks)
    finally:
        stop.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(result) for result in done if isinstance(result, BaseException)]
    assert failures == []
    assert [lost for tus in clients for lost in tus.lost] == []
    assert seen.server_errors == [] and probe.client.seen.server_errors == []
    assert len(seen.stored) >= 6
    await assert_nothing_lost_nothing_left(tus_stack, http, workers, seen)
    summary = reap(tus_stack, GOVAULT_UPLOAD_TUS_SWEEP_GRACE_S="0")
    assert temporary_objects(tus_stack) == [], summary
