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
from collections.abc import Iterator
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
)
from tests.faults.workload import FaultClient, Observations, keep_uploading
from tests.fixtures.stacks import (
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
        await asyncio.sleep(3)
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

    cases = (("postgres", list_files, {"auth", "files", "upload"}),
             ("seaweedfs", proxy_chunk, {"upload"}))
    for target, attempt, dependents in cases:
        signal_group(fault_stack, target, signal.SIGSTOP)
        try:
            response = await attempt()  # a one-chunk proxy session needs no store call
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
