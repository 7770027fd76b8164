"""Fault injection (issue #10): under concurrent proxy and multipart uploads, each GoVault process,
PostgreSQL and the store is killed (SIGKILL; the launcher restarts it) and, separately, frozen
(SIGSTOP for a few seconds, then SIGCONT). Afterwards, as a user and an operator would check:

- every upload a client saw succeed is listed and downloads byte-exact;
- no client ever saw a 500 (an outage is an honest 503/504 with Retry-After, or no answer);
- after a reaper pass no session is stuck (none left completing, pending or uploading);
- the files audit and a sweep of the bucket find no orphan object and no open multipart upload.

Bounded: about ten seconds per fault plus recovery; loopback only. The time from each fault's end
to the first successful login + upload is printed and written to DATA/fault-timings.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from compose import Stack
from tests.faults.checks import (
    assert_nothing_lost_nothing_left,
    fault_env,
    first_success,
    new_account,
    signal_group,
    until,
)
from tests.faults.workload import PART_BYTES, FaultClient, Observations, keep_uploading
from tests.support.logs import ServiceLog
from tests.support.raw_http import Silent
from tests.support.ready import watch_ready
from tests.support.stacks import (
    isolated_environ,
    make_data_dir,
    offset_for,
    stop_stack,
)

pytestmark = pytest.mark.faults

TARGETS = ("auth", "files", "upload", "edge", "postgres", "seaweedfs")
FREEZE_S = 3.0
SESSION_TTL_S = 45

FAULT_ENV = fault_env(SESSION_TTL_S)
MIB = 1024 * 1024
STREAMS_PER_USER = 16  # the edge's default GOVAULT_MAX_STREAMS_PER_USER


@pytest.fixture(scope="module")
def fault_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    # PostgreSQL with its durable defaults: the other test stacks trade fsync and synchronous
    # commit for speed, which a kill -9 of PostgreSQL would turn into lost commits.
    stack = Stack(make_data_dir("faults"), offset_for("scratch"), services=True, prometheus=False,
                  environ={**isolated_environ(), **FAULT_ENV}, fast_unsafe_pg=False,
                  supervise=True)
    stack.start()
    yield stack
    stop_stack(stack, keep_logs=bool(request.session.testsfailed))


async def test_faults_lose_nothing_and_leave_nothing_behind(
        fault_stack: Stack, http: aiohttp.ClientSession) -> None:
    base = fault_stack.edge_url
    seen = Observations()
    workers = [FaultClient(http, base, await new_account(http, base), seen) for _ in range(4)]
    probe_seen = Observations()
    probe = FaultClient(http, base, await new_account(http, base), probe_seen)
    for client in [*workers, probe]:
        await client.login()

    stop = asyncio.Event()
    tasks = [asyncio.create_task(keep_uploading(client, method, stop))
             for client, method in zip(workers, ["proxy", "multipart"] * 2, strict=True)]
    timings: dict[str, float] = {}
    try:
        await until("the workload under way (an upload stored)", lambda: bool(seen.stored),
                    tasks)
        for target in TARGETS:
            signal_group(fault_stack, target, signal.SIGKILL)
            timings[f"kill -9 {target}"] = round(await first_success(probe, time.monotonic()), 2)
            await asyncio.sleep(1)
            signal_group(fault_stack, target, signal.SIGSTOP)
            await asyncio.sleep(FREEZE_S)
            signal_group(fault_stack, target, signal.SIGCONT)
            timings[f"SIGSTOP {FREEZE_S:.0f}s {target}"] = round(
                await first_success(probe, time.monotonic()), 2)
            await asyncio.sleep(1)
        await until("8 uploads stored", lambda: len(seen.stored) >= 8, tasks)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    report = {"recovery_s": timings, "stored": len(seen.stored), "gave_up": seen.gave_up,
              "transient_answers": seen.transient, "server_errors": seen.server_errors}
    (fault_stack.data_dir / "fault-timings.json").write_text(json.dumps(report, indent=2))
    print("\nfault injection:", json.dumps(report, indent=2))

    assert seen.server_errors == [] and probe_seen.server_errors == []
    assert len(seen.stored) >= 8, report

    await assert_nothing_lost_nothing_left(fault_stack, http, workers, seen)


async def _ready(http: aiohttp.ClientSession, base: str) -> tuple[int, Any]:
    async with http.get(f"{base}/ready", timeout=aiohttp.ClientTimeout(total=10)) as response:
        return response.status, await response.json()


async def _until_ready(http: aiohttp.ClientSession, base: str, want: int,
                       not_serving: set[str]) -> None:
    """Polls /ready until it answers `want` with exactly `not_serving` not serving (bounded: a
    few probe intervals, so a broken probe fails the test)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = await _ready(http, base)
        down = {name for name, state in body["upstreams"].items() if state != "serving"}
        if status == want and down == not_serving:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"/ready never answered {want} without {not_serving}: {status} {body}")


async def test_a_frozen_dependency_is_an_honest_503_and_ready_says_so(
        fault_stack: Stack, http: aiohttp.ClientSession) -> None:
    """A frozen PostgreSQL or store: requests that need it get 503 UNAVAILABLE with Retry-After
    (not a 504 after the edge's own deadline, not a two-minute wait), `/ready` answers 503 and
    names the upstream that is not serving, and all of it comes back by itself."""
    base = fault_stack.edge_url
    client = FaultClient(http, base, await new_account(http, base), Observations())
    await client.login()
    headers = {"Authorization": f"Bearer {client.account.token}"}
    chunk = os.urandom(1024 * 1024)
    answer_within = aiohttp.ClientTimeout(total=30)  # a user's patience, not a measurement

    async def list_files() -> aiohttp.ClientResponse:
        return await http.get(f"{base}/api/files/me/owned", headers=headers,
                              timeout=answer_within)

    async def proxy_chunk() -> aiohttp.ClientResponse:
        async with http.post(f"{base}/api/upload/proxy/session", headers=headers, json={
                "file_name": "frozen.bin", "file_size_bytes": len(chunk)}) as created:
            assert created.status == 200, await created.text()
            uid = (await created.json())["upload_uuid"]
        return await http.post(f"{base}/api/upload/proxy/chunk?id=0", data=chunk,
                               headers={**headers, "Upload-UUID": uid},
                               timeout=answer_within)

    async def new_session() -> aiohttp.ClientResponse:
        return await http.post(f"{base}/api/upload/proxy/session", headers=headers, json={
            "file_name": "frozen.bin", "file_size_bytes": 10}, timeout=answer_within)

    async def login() -> aiohttp.ClientResponse:
        return await http.post(f"{base}/auth/login", json={
            "email": client.account.email, "password": client.account.password},
            timeout=answer_within)

    cases = (("postgres", list_files, {"auth", "files", "upload"}),
             ("seaweedfs", proxy_chunk, {"upload"}),
             # a frozen GoVault service: its calls end when its connection stops answering
             # pings (common.grpc.client), 503 rather than 504 after the edge's deadline
             ("upload", new_session, {"upload"}),
             ("files", list_files, {"files"}),
             ("auth", login, {"auth"}))
    waited: dict[str, float] = {}
    for target, attempt, dependents in cases:
        signal_group(fault_stack, target, signal.SIGSTOP)
        try:
            start = time.monotonic()
            response = await attempt()  # a one-chunk proxy session needs no store call
            waited[target] = round(time.monotonic() - start, 1)
            body = await response.json()
            assert response.status == 503, (target, response.status, body)
            assert body["code"] == "UNAVAILABLE" and response.headers.get("Retry-After"), body
            await _until_ready(http, base, 503, dependents)
        finally:
            signal_group(fault_stack, target, signal.SIGCONT)
        await _until_ready(http, base, 200, set())
        deadline = time.monotonic() + 30  # the first request after the thaw may still meet
        while time.monotonic() < deadline:  # a dropped connection
            response = await attempt()
            if response.status == 200:
                break
            await asyncio.sleep(0.2)
        assert response.status == 200, await response.text()
    print(f"\nfrozen dependency → 503 after (s): {waited}")


async def test_a_chunk_in_flight_when_its_service_or_the_store_freezes_is_an_honest_503(
        fault_stack: Stack, http: aiohttp.ClientSession) -> None:
    """A 10 MiB chunk streaming (at 2.5 MiB/s) when the upload service or the store is frozen
    under it: 503 UNAVAILABLE with Retry-After once the frozen side is found out, not a wait for
    the thaw; nothing of the chunk is kept, and it goes through after the thaw."""
    base = fault_stack.edge_url
    client = FaultClient(http, base, await new_account(http, base), Observations())
    await client.login()
    status, session = await client.call("POST", "/api/upload/proxy/session", json={
        "file_name": "frozen.bin", "file_size_bytes": 20 * MIB,
        "chunk_size_bytes": 10 * MIB})
    assert status == 200, session
    upload_uuid = session["upload_uuid"]
    chunk = os.urandom(10 * MIB)
    headers = {"Authorization": f"Bearer {client.account.token}", "Upload-UUID": upload_uuid,
               "Content-Length": str(len(chunk))}
    async def paced(halfway: asyncio.Event) -> AsyncIterator[bytes]:
        for start in range(0, len(chunk), 256 * 1024):
            if start == 4 * MIB:
                halfway.set()
            yield chunk[start:start + 256 * 1024]
            await asyncio.sleep(0.1)

    waited: dict[str, float] = {}
    for target in ("upload", "seaweedfs"):
        halfway = asyncio.Event()
        sending = asyncio.create_task(http.post(
            f"{base}/api/upload/proxy/chunk?id=0", data=paced(halfway), headers=headers,
            timeout=aiohttp.ClientTimeout(total=60)))
        await halfway.wait()
        signal_group(fault_stack, target, signal.SIGSTOP)
        start = time.monotonic()
        try:
            response = await sending
            waited[target] = round(time.monotonic() - start, 1)
            body = await response.json()
            assert response.status == 503, (target, response.status, body)
            assert body["code"] == "UNAVAILABLE" and response.headers.get("Retry-After"), body
        finally:
            signal_group(fault_stack, target, signal.SIGCONT)
        await _until_ready(http, base, 200, set())
        status, state = await client.call("GET", f"/api/upload/status?upload_uuid={upload_uuid}")
        assert status == 200 and state["received"] == [], state
    status, body = await client.call("POST", "/api/upload/proxy/chunk?id=0", data=chunk,
                                     headers={"Upload-UUID": upload_uuid})
    assert status == 200, body
    print(f"\nchunk in flight → 503 after the freeze of (s): {waited}")


async def test_stalled_clients_under_upload_load_cost_the_others_nothing(
        fault_stack: Stack, http: aiohttp.ClientSession) -> None:
    """While four clients upload (both flows), one account stalls: chunk streams that go
    silent after their first KiB (twice its cap of streams, round after round) and JSON bodies
    that stop half-way; another sends chunks and hangs up mid-body. The uploaders see no error
    and give up on nothing; every stalled request is answered 408 (429 beyond the cap), the
    hang-ups are logged 499 and none as a server error; `/ready` stays 200; and after a reaper
    pass nothing is left behind (no stuck session, no orphan, no open multipart upload)."""
    base = fault_stack.edge_url
    seen = Observations()
    workers = [FaultClient(http, base, await new_account(http, base), seen) for _ in range(4)]
    staller = FaultClient(http, base, await new_account(http, base), Observations())
    quitter = FaultClient(http, base, await new_account(http, base), Observations())
    for client in [*workers, staller, quitter]:
        await client.login()

    async def sessions_of(client: FaultClient, count: int) -> list[str]:
        made = []
        for _ in range(count):
            status, session = await client.call("POST", "/api/upload/proxy/session", json={
                "file_name": "stalled.bin", "file_size_bytes": 2 * PART_BYTES})
            assert status == 200, session
            made.append(session["upload_uuid"])
        return made

    sessions = await sessions_of(staller, 2 * STREAMS_PER_USER)
    quitting = await sessions_of(quitter, 5)
    auth = {"Authorization": f"Bearer {staller.account.token}"}
    chunk_headers = {**auth, "Content-Type": "application/octet-stream"}
    edge_log = ServiceLog(fault_stack.log_path("edge"))
    since = edge_log.mark()

    async def silent_chunk(upload_uuid: str) -> int:
        request = await Silent.open(base, "/api/upload/proxy/chunk?id=0", {
            **chunk_headers, "Upload-UUID": upload_uuid}, PART_BYTES, b"x" * 1024)
        return (await request.answer())[0]

    async def silent_json(path: str) -> int:
        request = await Silent.open(base, path, {**auth, "Content-Type": "application/json"},
                                    200, b'{"file_name": "st')
        return (await request.answer())[0]

    async def hang_up(upload_uuid: str) -> None:
        request = await Silent.open(base, "/api/upload/proxy/chunk?id=0", {
            "Authorization": f"Bearer {quitter.account.token}", "Upload-UUID": upload_uuid,
            "Content-Type": "application/octet-stream"}, PART_BYTES, b"x" * 256 * 1024)
        request.close()

    stop = asyncio.Event()
    ready: Counter[int] = Counter()
    tasks = [asyncio.create_task(keep_uploading(client, method, stop))
             for client, method in zip(workers, ["proxy", "multipart"] * 2, strict=True)]
    watcher = asyncio.create_task(watch_ready(http, base, stop, ready))
    answered: Counter[int] = Counter()
    hang_ups = 0
    try:
        for _ in range(3):
            stalled = [silent_chunk(uid) for uid in sessions]
            stalled += [silent_json(path) for path in ("/auth/login", "/api/upload/proxy/session")]
            for upload_uuid in quitting:
                await hang_up(upload_uuid)
                hang_ups += 1
            answered.update(await asyncio.gather(*stalled))
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await watcher
    lines = edge_log.find(lambda line: line.get("event") in ("request", "unhandled_error"),
                          since)
    logged = Counter(line.get("status") for line in lines if line["event"] == "request")
    print(f"\nstalled answered {dict(answered)}; edge logged {dict(logged)}; stored "
          f"{len(seen.stored)}; /ready {dict(ready)}")
    # each round: as many silent chunks as the cap hold their slots until 408, the rest 429
    assert answered == {408: 3 * (STREAMS_PER_USER + 2), 429: 3 * STREAMS_PER_USER}, answered
    assert logged[499] == hang_ups and not any(status >= 500 for status in logged if status)
    assert [line for line in lines if line["event"] == "unhandled_error"] == []
    assert seen.server_errors == [] and seen.gave_up == 0, seen
    assert len(seen.stored) >= 4 and set(ready) == {200}, (len(seen.stored), ready)
    await assert_nothing_lost_nothing_left(fault_stack, http, workers, seen)
