"""What the fault tests check after their faults, as a user and an operator would, and the helpers
they share: accounts, signals to a stack's processes, time to the first success after a fault,
waiting for the workload to reach a point (`until`), and the services' own commands
(`python -m svc_upload reap`, `python -m svc_files audit`).

`assert_nothing_lost_nothing_left` is the verdict both fault tests end with:
- every upload a client saw succeed is listed and downloads byte-exact;
- after a reaper pass no session is stuck (none left completing, pending or uploading);
- the files audit and a sweep of the bucket find no orphan object and no open multipart upload
  (counted, with the ones the reaper aborted because no live session recorded them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp
import psycopg
from minio import Minio

from compose import Stack
from loadtest.audit import open_uploads, orphan_uploads
from tests.faults.workload import Account, FaultClient, Observations
from tests.support.stacks import TEST_STACK_LIMITS

PASSWORD = "fault-injection"
RECOVERY_LIMIT_S = 60.0
JANITOR_INTERVAL_S = 2
# The bound on waiting for a workload to reach a point (its first stored upload, a count of
# them): generous, for a machine whose cores are busy with other work; it only fails loudly.
WORKLOAD_LIMIT_S = 300.0


class Deployment(Protocol):
    """What the verdict reads of a running GoVault: a launcher `Stack`, or the chart's release
    on the test cluster (tests/k8s/release.py)."""

    database_urls: dict[str, str]
    s3_bucket: str
    s3_access_key: str
    s3_secret_key: str

    @property
    def s3_endpoint(self) -> str: ...


def fault_env(session_ttl_s: int) -> dict[str, str]:
    """The services' settings under fault injection."""
    return {
        **TEST_STACK_LIMITS,
        # Chunks of 5 MiB keep two-chunk files small; a short completing lease lets the reaper
        # and retrying clients take over a completion whose process was killed.
        "GOVAULT_UPLOAD_CHUNK_SIZE_BYTES": str(5 * 1024 * 1024),
        "GOVAULT_UPLOAD_COMPLETING_LEASE_S": "5",
        "GOVAULT_UPLOAD_COMPLETION_WAIT_S": "10",
        "GOVAULT_UPLOAD_REAPER_INTERVAL_S": "5",
        # a session that ended without an upload id has its key listed for late uploads soon
        "GOVAULT_UPLOAD_ORPHAN_GRACE_S": "1",
        # A session whose creation a client never learned of (the answer was lost with a killed
        # process) is abandoned: it is settled when it expires, so expiry is short here.
        "GOVAULT_UPLOAD_SESSION_TTL_S": str(session_ttl_s),
        "GOVAULT_FILES_JANITOR_INTERVAL_S": str(JANITOR_INTERVAL_S),
    }


async def new_account(http: aiohttp.ClientSession, base: str) -> Account:
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


def signal_group(stack: Stack, name: str, sig: int) -> None:
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


async def until(what: str, check: Callable[[], bool], workload: Sequence[asyncio.Task[Any]],
                timeout_s: float = WORKLOAD_LIMIT_S) -> None:
    """Returns once `check()` holds (polled five times a second), or as soon as a task of the
    `workload` has ended (it failed: the caller's verdict says how); fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check() and not any(task.done() for task in workload):
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        await asyncio.sleep(0.2)


async def first_success(probe: FaultClient, since: float,
                        limit_s: float = RECOVERY_LIMIT_S) -> float:
    """Seconds from `since` until a login and a small upload succeed again."""
    deadline = time.monotonic() + limit_s
    last = ""
    while time.monotonic() < deadline:
        try:
            await probe.login(give_up_s=5)
            await probe.upload(os.urandom(4096), "proxy")
            return time.monotonic() - since
        except (AssertionError, Exception) as exc:
            last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.2)
    raise AssertionError(f"no success within {limit_s:.0f}s of the fault (last: {last[:300]})")


def service_command(stack: Stack, service: str, *args: str) -> dict[str, Any]:
    """`python -m svc_<service> <args>` with the stack's environment; its JSON summary."""
    module = {"upload": "svc_upload", "files": "svc_files"}[service]
    proc = subprocess.run([sys.executable, "-m", module, *args], env=stack.service_env(service),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json_summary(proc.stdout)


def json_summary(stdout: str) -> dict[str, Any]:
    """The JSON summary a service command prints after any log lines (one line or indented)."""
    lines = stdout.splitlines()
    for start in reversed([i for i, line in enumerate(lines) if line.startswith("{")]):
        try:
            parsed: dict[str, Any] = json.loads("\n".join(lines[start:]))
        except ValueError:
            continue
        if "event" not in parsed:
            return parsed
    raise AssertionError(f"no JSON summary in: {stdout[-2000:]}")


async def _no_deletion_owed(stack: Deployment, timeout_s: float = 60.0) -> None:
    """Until the files janitor (every JANITOR_INTERVAL_S) has made every owed S3 deletion."""
    deadline = time.monotonic() + timeout_s
    while True:
        with psycopg.connect(stack.database_urls["files"]) as conn:
            row = conn.execute("SELECT count(*) FROM pending_deletes").fetchone()
        if row is not None and row[0] == 0:
            return
        assert time.monotonic() < deadline, f"{row} deletions still owed after {timeout_s} s"
        await asyncio.sleep(0.2)


async def _downloads_byte_exact(http: aiohttp.ClientSession, client: FaultClient,
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


async def listed(client: FaultClient) -> set[str]:
    """Every file id the client's account owns (all pages of GET /api/files/me/owned)."""
    ids: set[str] = set()
    page = 1
    while True:
        status, body = await client.call("GET", f"/api/files/me/owned?page={page}&limit=100")
        assert status == 200, body
        ids |= {f["file_id"] for f in body["files"]}
        if not body["has_more"]:
            return ids
        page += 1


async def assert_nothing_lost_nothing_left(
        stack: Deployment, http: aiohttp.ClientSession, workers: list[FaultClient],
        seen: Observations, command: Callable[..., dict[str, Any]] | None = None
        ) -> dict[str, Any]:
    """The verdict after the faults (see the module docstring); returns the reaper summary.
    `command(service, *args)` runs a service's command (default: `service_command` on a
    launcher Stack)."""
    if command is None:
        assert isinstance(stack, Stack)
        launched = stack

        def command(service: str, *args: str) -> dict[str, Any]:
            return service_command(launched, service, *args)
    owner_of = {}
    for client in workers:
        for file_id in await listed(client):
            owner_of[file_id] = client
    missing = [s.file_id for s in seen.stored if s.file_id not in owner_of]
    assert missing == [], f"confirmed uploads not listed: {missing}"
    problems: list[str] = []
    for client in workers:
        mine = Observations(stored=[s for s in seen.stored if owner_of[s.file_id] is client])
        problems += await _downloads_byte_exact(http, client, mine)
    assert problems == []

    with psycopg.connect(stack.database_urls["upload"]) as conn:
        row = conn.execute("SELECT GREATEST(0, EXTRACT(EPOCH FROM max(expires_at) - now()))"
                           " FROM upload_sessions WHERE state IN ('pending', 'uploading')"
                           ).fetchone()
    await asyncio.sleep(float(row[0] or 0) + 1 if row else 0)  # abandoned sessions expire
    reaped = command("upload", "reap")
    with psycopg.connect(stack.database_urls["upload"]) as conn:
        rows = conn.execute("SELECT state, count(*) FROM upload_sessions"
                            " WHERE state IN ('pending', 'uploading', 'completing')"
                            " GROUP BY state").fetchall()
    assert rows == [], f"sessions left unsettled after a reaper pass {reaped}: {rows}"

    await _no_deletion_owed(stack)
    audit = command("files", "audit", "--grace-s", "0")
    s3 = Minio(stack.s3_endpoint.split("://", 1)[1], access_key=stack.s3_access_key,
               secret_key=stack.s3_secret_key, secure=False)
    if audit["missing_objects"]:  # say whether the store lost them or only did not list them
        with psycopg.connect(stack.database_urls["files"]) as conn:
            for key in audit["missing_keys"]:
                found = conn.execute("SELECT size_bytes, created_at FROM files"
                                     " WHERE storage_key = %s", (key,)).fetchone()
                try:
                    s3.stat_object(stack.s3_bucket, key)
                    there = "answers HEAD"
                except Exception as exc:
                    there = f"HEAD fails: {exc}"
                print(f"missing object {key}: row {found}; {there}")
    assert audit["orphan_objects"] == 0 and audit["missing_objects"] == 0, json.dumps(audit)
    still_open = open_uploads(s3, stack.s3_bucket)
    orphans = orphan_uploads(stack.database_urls["upload"], still_open)
    print(f"multipart uploads: {reaped['orphans_aborted']} orphans aborted by the reaper pass, "
          f"{len(still_open)} open after it ({len(orphans)} no live session's)")
    assert still_open == [] and orphans == [], (still_open, orphans)
    return reaped
