"""Logs that follow a request: one `X-Request-ID` sent with a proxy upload shows up as JSON lines
in the edge's, the upload service's and the files service's logs (RegisterFile), and no log line
anywhere carries the access token, the refresh token or the password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from common.runtime import GRPC_EXPERIMENTS
from compose import Stack
from tests.support.logs import ServiceLog
from tests.support.users import new_user

PROCESSES = ("edge", "auth", "upload", "files")


def _raw_since(log: ServiceLog, offset: int) -> str:
    with open(log.path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:
        yield client


async def test_request_id_follows_an_upload_through_every_hop(
    stack: Stack, session: aiohttp.ClientSession, service_log: Callable[[str], ServiceLog],
) -> None:
    marks = {name: service_log(name).mark() for name in PROCESSES}
    user = await new_user(session, stack.edge_url, "logs")
    request_id = f"ops-logs-{uuid.uuid4().hex[:12]}"
    headers = {**user.auth, "X-Request-ID": request_id}
    data = b"follow me " * 100
    async with session.post(f"{stack.edge_url}/api/upload/proxy/session", headers=headers,
                            json={"file_name": "trace.bin", "file_size_bytes": len(data)}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["X-Request-ID"] == request_id
        upload = await r.json()
    async with session.post(f"{stack.edge_url}/api/upload/proxy/chunk?id=0",
                            headers={**headers, "Upload-UUID": upload["upload_uuid"],
                                     "Content-Type": "application/octet-stream"},
                            data=data) as r:
        assert r.status == 200, await r.text()
        assert r.headers["X-Request-ID"] == request_id
        assert (await r.json())["status"] == "completed"

    def has_id(line: dict[str, object]) -> bool:
        return line.get("request_id") == request_id

    edge_line = service_log("edge").wait_for(
        lambda line: has_id(line) and line.get("route") == "/api/upload/proxy/chunk",
        since=marks["edge"])
    assert edge_line["status"] == 200 and edge_line["user_id"] == user.user_id
    assert edge_line["service"] == "edge" and edge_line["level"] == "info"
    assert "timestamp" in edge_line
    upload_line = service_log("upload").wait_for(
        lambda line: has_id(line) and line.get("event") == "rpc"
        and line.get("rpc") == "UploadChunk", since=marks["upload"])
    assert upload_line["code"] == "OK"
    files_line = service_log("files").wait_for(
        lambda line: has_id(line) and line.get("event") == "rpc"
        and line.get("rpc") == "RegisterFile", since=marks["files"])
    assert files_line["code"] == "OK"

    # every line that mentions the id is a JSON object carrying it (no plain-text stragglers)
    for name in ("edge", "upload", "files"):
        raw = _raw_since(service_log(name), marks[name])
        mentioning = [line for line in raw.splitlines() if request_id in line]
        assert mentioning, f"{name}: no line with {request_id}"
        for line in mentioning:
            assert json.loads(line)["request_id"] == request_id, (name, line)


async def test_no_log_line_carries_secrets(
    stack: Stack, session: aiohttp.ClientSession, service_log: Callable[[str], ServiceLog],
) -> None:
    user = await new_user(session, stack.edge_url, "secret")
    async with session.post(f"{stack.edge_url}/auth/refresh",
                            json={"refresh_token": user.refresh_token}) as r:
        assert r.status == 200
        rotated = (await r.json())["refresh_token"]
    async with session.post(f"{stack.edge_url}/auth/login",
                            json={"email": user.email, "password": "Wrong@pass-123"}) as r:
        assert r.status == 400
    async with session.get(f"{stack.edge_url}/auth/me",
                           headers={"Authorization": f"Bearer {user.token}x"}) as r:
        assert r.status == 401  # a tampered token is not echoed into a log either
    async with session.get(f"{stack.edge_url}/api/files/me/owned", headers=user.auth) as r:
        assert r.status == 200
    service_log("edge").wait_for(lambda line: line.get("route") == "/api/files/me/owned"
                                 and line.get("user_id") == user.user_id)
    secrets = {"access token": user.token, "refresh token": user.refresh_token,
               "rotated refresh token": rotated, "password": user.password,
               "wrong password": "Wrong@pass-123",
               "token signature": user.token.rsplit(".", 1)[1]}
    for name in PROCESSES:
        text = service_log(name).path.read_text(errors="replace")
        assert text, f"{name} wrote no log"
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} appears in {name}'s log"


def test_log_files_are_not_readable_by_every_local_user(stack: Stack) -> None:
    """Log lines carry user ids and client addresses: DATA/logs is 0750 and its files 0640 (they
    were 0755 / 0644)."""
    assert stack.log_dir.stat().st_mode & 0o777 in (0o700, 0o750)
    logs = sorted(stack.log_dir.glob("*.log"))
    assert {p.stem for p in logs} >= set(PROCESSES)
    for path in logs:
        assert path.stat().st_mode & 0o777 in (0o600, 0o640), path


def test_every_process_runs_with_the_grpc_settings_it_knows(
        stack: Stack, service_log: Callable[[str], ServiceLog]) -> None:
    """common/runtime.py turns gRPC experiments off by name, before grpc is imported: with the
    pinned grpcio every name is known to it (an unknown one is logged on start-up), and the
    setting is in place by the time grpc is imported (a process started by the stack)."""
    for name in PROCESSES:
        text = service_log(name).path.read_text(errors="replace")
        assert "Unknown experiment" not in text, f"{name}: {text[:2000]}"
    for package in ("edge", "svc_auth", "svc_upload", "svc_files"):
        probe = subprocess.run(
            [sys.executable, "-c", f"import {package}, os, grpc; "
             "print(os.environ['GRPC_EXPERIMENTS'])"],
            env={k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"},
            capture_output=True, text=True, check=True)
        assert probe.stdout.strip() == GRPC_EXPERIMENTS, package
        assert "Unknown experiment" not in probe.stderr, probe.stderr
