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
import signal
import time
from collections.abc import Iterator

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
