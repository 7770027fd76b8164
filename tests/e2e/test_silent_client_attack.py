"""The attack of issue 22, item 1, repeated: one account opens a few hundred proxy chunks that
send their head and 1 KiB of body, then go silent, at 40 a second, twice over (the attacker
stalls again), while another user uploads with both flows. On main before the fix, the silent
chunks held the upload service's S3 connections, its store probe timed out, it turned
NOT_SERVING, and other users' uploads got 503 for 25-40 s (0 of 10 succeeded).

Here, with the default settings: every silent chunk is answered (429 TOO_MANY_STREAMS beyond the
account's cap at once, 408 REQUEST_TIMEOUT after the body timeout), never a 5xx; every upload
of the other user succeeds, and `/ready` stays 200 throughout; and once the attacker's sessions
expire, a reaper pass leaves nothing behind: every session expired (none stuck), no open S3
multipart upload under the attacker's prefix, no quota reservation.

An upload service (sessions expire after SESSION_TTL_S) and an edge of their own run next to the
session's stack, on its databases and store.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from minio import Minio

from compose import Stack
from loadtest.audit import open_multipart_uploads
from tests.faults.checks import service_command
from tests.support.processes import start_edge, start_service
from tests.support.raw_http import Silent
from tests.support.ready import watch_ready
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
SILENT = 300
ROUNDS = 2
OPEN_PER_S = 40
SESSION_TTL_S = 90


@pytest.fixture
def attack_edge(stack: Stack, tmp_path: Path) -> Iterator[str]:
    upload_env = {**stack.service_env("upload"), "GOVAULT_UPLOAD_SESSION_TTL_S": str(SESSION_TTL_S),
                  "GOVAULT_UPLOAD_REAPER_INTERVAL_S": "0"}
    upload, upload_addr = start_service("svc_upload", upload_env, tmp_path / "upload.log")
    edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                           upload_addr=upload_addr)
    try:
        yield url
    finally:
        edge.stop()
        upload.stop()


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    return body


class Victim:
    """Uploads small files in a loop, both flows, and keeps every answer."""

    def __init__(self, http: aiohttp.ClientSession, base: str, user: User) -> None:
        self.http = http
        self.base = base
        self.user = user
        self.results: list[tuple[str, int, str]] = []

    async def _post(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.base + path, headers={**self.user.auth,
                                                             **kwargs.pop("headers", {})},
                                  timeout=aiohttp.ClientTimeout(total=60), **kwargs) as r:
            return r.status, await _json(r)

    async def proxy(self) -> tuple[int, str]:
        data = os.urandom(256 * 1024)
        status, session = await self._post("/api/upload/proxy/session", json={
            "file_name": "victim.bin", "file_size_bytes": len(data)})
        if status != 200:
            return status, session["code"]
        status, answer = await self._post("/api/upload/proxy/chunk?id=0", data=data,
                                          headers={"Upload-UUID": session["upload_uuid"]})
        return status, answer.get("status") or answer["code"]

    async def multipart(self) -> tuple[int, str]:
        data = os.urandom(256 * 1024)
        status, session = await self._post("/api/upload/multipart/session", json={
            "file_name": "victim.bin", "file_size_bytes": len(data),
            "part_size_bytes": 5 * MIB})
        if status != 200:
            return status, session["code"]
        async with self.http.put(session["parts"][0]["url"], data=data) as r:
            if r.status != 200:
                return r.status, "part PUT"
            etag = r.headers["ETag"].strip('"')
        status, answer = await self._post("/api/upload/multipart/part", json={
            "upload_uuid": session["upload_uuid"], "part_number": 1, "size_bytes": len(data),
            "etag": etag})
        if status != 200:
            return status, answer["code"]
        status, answer = await self._post("/api/upload/multipart/complete", json={
            "upload_uuid": session["upload_uuid"]})
        return status, answer.get("status") or answer["code"]

    async def keep_uploading(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for flow in (self.proxy, self.multipart):
                try:
                    status, what = await flow()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status, what = 0, repr(exc)
                self.results.append((flow.__name__, status, what))


async def _silent_chunks(base: str, attacker: User, sessions: list[str]) -> list[int]:
    """One round: a silent chunk per session, opened at OPEN_PER_S; the statuses answered."""
    async def one(upload_uuid: str) -> int:
        request = await Silent.open(base, "/api/upload/proxy/chunk?id=0", {
            **attacker.auth, "Upload-UUID": upload_uuid,
            "Content-Type": "application/octet-stream"}, 10 * MIB, b"x" * 1024)
        status, _payload, _waited = await request.answer()
        return status

    tasks = []
    for upload_uuid in sessions:
        tasks.append(asyncio.create_task(one(upload_uuid)))
        await asyncio.sleep(1 / OPEN_PER_S)
    return list(await asyncio.gather(*tasks))


async def test_one_account_with_silent_chunks_stops_nobody_and_leaves_nothing(
        http: aiohttp.ClientSession, stack: Stack,
        attack_edge: str) -> None:
    base = attack_edge
    attacker = await new_user(http, base, "attacker")
    victim = Victim(http, base, await new_user(http, base, "victim"))

    async def session() -> str:
        async with http.post(f"{base}/api/upload/proxy/session", headers=attacker.auth, json={
                "file_name": "silent.bin", "file_size_bytes": 20 * MIB,
                "chunk_size_bytes": 10 * MIB}) as r:
            assert r.status == 200, await r.text()
            return str((await _json(r))["upload_uuid"])

    sessions: list[str] = []
    for _ in range(SILENT // 20):
        sessions += await asyncio.gather(*(session() for _ in range(20)))
    expires_at = time.monotonic() + SESSION_TTL_S  # no earlier than this, for every session

    stop = asyncio.Event()
    ready: Counter[int] = Counter()
    background = [asyncio.create_task(victim.keep_uploading(stop)),
                  asyncio.create_task(watch_ready(http, base, stop, ready))]
    answered: Counter[int] = Counter()
    try:
        for _ in range(ROUNDS):
            answered.update(await _silent_chunks(base, attacker, sessions))
    finally:
        stop.set()
        await asyncio.gather(*background)

    outcomes = Counter(r[1] for r in victim.results)
    print(f"\nsilent chunks answered {dict(answered)}; victim's uploads {dict(outcomes)};"
          f" /ready {dict(ready)}")
    assert set(answered) <= {408, 429} and answered[408] > 0, answered
    failed = [r for r in victim.results if (r[1], r[2]) != (200, "completed")]
    assert failed == [] and len(victim.results) >= 10, (failed, len(victim.results))
    assert set(ready) == {200}, ready

    # the attacker's sessions expire; one reaper pass settles every one of them
    await asyncio.sleep(max(0.0, expires_at - time.monotonic()) + 1)
    reaped = service_command(stack, "upload", "reap")
    with psycopg.connect(stack.database_urls["upload"]) as conn:
        states: dict[str, int] = dict(conn.execute("SELECT state, count(*) FROM upload_sessions"
                                   " WHERE upload_uuid = ANY(%s) GROUP BY state",
                                   (sessions,)).fetchall())
    assert states == {"expired": SILENT}, (states, reaped)
    with psycopg.connect(stack.database_urls["files"]) as conn:
        reservations = conn.execute("SELECT count(*) FROM quota_reservations"
                                    " WHERE upload_uuid = ANY(%s)", (sessions,)).fetchone()
    assert reservations == (0,)
    s3 = Minio(stack.s3_endpoint.split("://", 1)[1], access_key=stack.s3_access_key,
               secret_key=stack.s3_secret_key, secure=False)
    assert open_multipart_uploads(s3, stack.s3_bucket, f"users/{attacker.user_id}/") == []
