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
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import psycopg
import pytest
from minio import Minio

from compose import Stack
from loadtest.audit import open_multipart_uploads
from tests.faults.workload import Account, FaultClient, Observations, keep_uploading
from tests.fixtures.stacks import (
    TEST_STACK_LIMITS,
    isolated_environ,
    make_data_dir,
    offset_for,
    stop_stack,
)

pytestmark = pytest.mark.faults

TARGETS = ("auth", "files", "upload", "edge", "postgres", "seaweedfs")
FREEZE_S = 3.0
SESSION_TTL_S = 45
RECOVERY_LIMIT_S = 60.0
PASSWORD = "fault-injection"

FAULT_ENV = {
    **TEST_STACK_LIMITS,
    # Chunks of 5 MiB keep two-chunk files small; a short completing lease lets the reaper and
    # retrying clients take over a completion whose process was killed.
    "GOVAULT_UPLOAD_CHUNK_SIZE_BYTES": str(5 * 1024 * 1024),
    "GOVAULT_UPLOAD_COMPLETING_LEASE_S": "5",
    "GOVAULT_UPLOAD_COMPLETION_WAIT_S": "10",
    "GOVAULT_UPLOAD_REAPER_INTERVAL_S": "5",
    # A session whose creation a client never learned of (the answer was lost with a killed
    # process) is abandoned: it is settled when it expires, so expiry is short here.
    "GOVAULT_UPLOAD_SESSION_TTL_S": str(SESSION_TTL_S),
    "GOVAULT_FILES_JANITOR_INTERVAL_S": "2",
}


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


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        yield session


async def _new_account(http: aiohttp.ClientSession, base: str) -> Account:
    tag = uuid.uuid4().hex[:10]
    account = Account(f"fault-{tag}@example.com", PASSWORD)
    async with http.post(f"{base}/auth/signup", json={
            "username": f"fault_{tag}", "email": account.email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    return account


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_group(stack: Stack, name: str, sig: int) -> None:
    """The process, its group and every descendant: PostgreSQL's backends are session leaders
    of their own (setsid), so only signalling each of them freezes the database."""
    pid = stack.pid(name)
    assert pid is not None, name
    os.killpg(pid, sig)
    for child in _descendants(pid):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass


async def _first_success(probe: FaultClient, since: float) -> float:
    """Seconds from `since` until a login and a small upload succeed again."""
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        try:
            await probe.login(give_up_s=5)
            await probe.upload(os.urandom(4096), "proxy")
            return time.monotonic() - since
        except (AssertionError, Exception):
            await asyncio.sleep(0.2)
    raise AssertionError(f"no success within {RECOVERY_LIMIT_S:.0f}s of the fault")


def _cli(stack: Stack, service: str, *args: str) -> dict[str, Any]:
    module = {"upload": "svc_upload", "files": "svc_files"}[service]
    proc = subprocess.run([sys.executable, "-m", module, *args], env=stack.service_env(service),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for start in reversed([i for i, line in enumerate(lines) if line.startswith("{")]):
        try:  # the command's JSON summary comes after any log lines
            parsed: dict[str, Any] = json.loads("\n".join(lines[start:]))
        except ValueError:
            continue
        if "event" not in parsed:
            return parsed
    raise AssertionError(f"no JSON summary in: {proc.stdout[-2000:]}")


async def _downloads_byte_exact(http: aiohttp.ClientSession, base: str, client: FaultClient,
                                seen: Observations) -> list[str]:
    problems = []
    for stored in seen.stored:
        status, link = await client.call("GET", f"/api/files/f/{stored.file_id}/download")
        if status != 200:
            problems.append(f"{stored.file_id}: download link {status}")
            continue
        async with http.get(link["download_url"]) as response:
            data = await response.read()
        if hashlib.sha256(data).hexdigest() != stored.sha256:
            problems.append(f"{stored.file_id}: {len(data)} bytes differ from the upload")
    return problems


async def _listed(client: FaultClient) -> set[str]:
    ids: set[str] = set()
    page = 1
    while True:
        status, body = await client.call("GET", f"/api/files/me/owned?page={page}&limit=100")
        assert status == 200, body
        ids |= {f["file_id"] for f in body["files"]}
        if not body["has_more"]:
            return ids
        page += 1


async def test_faults_lose_nothing_and_leave_nothing_behind(
        fault_stack: Stack, http: aiohttp.ClientSession) -> None:
    base = fault_stack.edge_url
    seen = Observations()
    workers = [FaultClient(http, base, await _new_account(http, base), seen) for _ in range(4)]
    probe_seen = Observations()
    probe = FaultClient(http, base, await _new_account(http, base), probe_seen)
    for client in [*workers, probe]:
        await client.login()

    stop = asyncio.Event()
    tasks = [asyncio.create_task(keep_uploading(client, method, stop))
             for client, method in zip(workers, ["proxy", "multipart"] * 2, strict=True)]
    timings: dict[str, float] = {}
    try:
        await asyncio.sleep(3)
        for target in TARGETS:
            _signal_group(fault_stack, target, signal.SIGKILL)
            timings[f"kill -9 {target}"] = round(await _first_success(probe, time.monotonic()), 2)
            await asyncio.sleep(1)
            _signal_group(fault_stack, target, signal.SIGSTOP)
            await asyncio.sleep(FREEZE_S)
            _signal_group(fault_stack, target, signal.SIGCONT)
            timings[f"SIGSTOP {FREEZE_S:.0f}s {target}"] = round(
                await _first_success(probe, time.monotonic()), 2)
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

    owner_of = {}
    for client in workers:
        for file_id in await _listed(client):
            owner_of[file_id] = client
    missing = [s.file_id for s in seen.stored if s.file_id not in owner_of]
    assert missing == [], f"confirmed uploads not listed: {missing}"
    problems: list[str] = []
    for client in workers:
        mine = Observations(stored=[s for s in seen.stored if owner_of[s.file_id] is client])
        problems += await _downloads_byte_exact(http, base, client, mine)
    assert problems == []

    with psycopg.connect(fault_stack.database_urls["upload"]) as conn:
        row = conn.execute("SELECT GREATEST(0, EXTRACT(EPOCH FROM max(expires_at) - now()))"
                           " FROM upload_sessions WHERE state IN ('pending', 'uploading')"
                           ).fetchone()
    await asyncio.sleep(float(row[0] or 0) + 1 if row else 0)  # abandoned sessions expire
    reaped = _cli(fault_stack, "upload", "reap")
    with psycopg.connect(fault_stack.database_urls["upload"]) as conn:
        rows = conn.execute("SELECT state, count(*) FROM upload_sessions"
                            " WHERE state IN ('pending', 'uploading', 'completing')"
                            " GROUP BY state").fetchall()
    assert rows == [], f"sessions left unsettled after a reaper pass {reaped}: {rows}"

    await asyncio.sleep(3)  # the janitor's interval: owed deletions go through
    audit = _cli(fault_stack, "files", "audit", "--grace-s", "0")
    s3 = Minio(fault_stack.s3_endpoint.split("://", 1)[1], access_key=fault_stack.s3_access_key,
               secret_key=fault_stack.s3_secret_key, secure=False)
    if audit["missing_objects"]:  # say whether the store lost them or only did not list them
        with psycopg.connect(fault_stack.database_urls["files"]) as conn:
            for key in audit["missing_keys"]:
                row = conn.execute("SELECT size_bytes, created_at FROM files"
                                   " WHERE storage_key = %s", (key,)).fetchone()
                try:
                    s3.stat_object(fault_stack.s3_bucket, key)
                    there = "answers HEAD"
                except Exception as exc:
                    there = f"HEAD fails: {exc}"
                print(f"missing object {key}: row {row}; {there}")
    assert audit["orphan_objects"] == 0 and audit["missing_objects"] == 0, json.dumps(audit)
    assert open_multipart_uploads(s3, fault_stack.s3_bucket) == []


async def _ready(http: aiohttp.ClientSession, base: str) -> tuple[int, Any]:
    async with http.get(f"{base}/ready", timeout=aiohttp.ClientTimeout(total=10)) as response:
        return response.status, await response.json()


async def _until_ready(http: aiohttp.ClientSession, base: str, want: int,
                       not_serving: set[str]) -> None:
    """Polls /ready until it answers `want` with exactly `not_serving` not serving (bounded: a
    few probe intervals, so a broken probe fails the test)."""
    for _ in range(150):
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
    client = FaultClient(http, base, await _new_account(http, base), Observations())
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
        _signal_group(fault_stack, target, signal.SIGSTOP)
        try:
            response = await attempt()  # a one-chunk proxy session needs no store call
            body = await response.json()
            assert response.status == 503, (target, response.status, body)
            assert body["code"] == "UNAVAILABLE" and response.headers.get("Retry-After"), body
            await _until_ready(http, base, 503, dependents)
        finally:
            _signal_group(fault_stack, target, signal.SIGCONT)
        await _until_ready(http, base, 200, set())
        for _ in range(50):  # the first request after the thaw may still meet a dropped conn
            response = await attempt()
            if response.status == 200:
                break
            await asyncio.sleep(0.2)
        assert response.status == 200, await response.text()
