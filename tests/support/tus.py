"""tus 1.0 over HTTP for the tests: raw requests (to check the protocol's answers one header at
a time), the stack's store and ledger as an auditor sees them (temporary objects, open
multipart uploads, sessions expired on purpose), and files read back byte for byte."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import psycopg
from minio import Minio

from compose import Stack
from tests.support.users import User

MIB = 1024 * 1024
VERSION = {"Tus-Resumable": "1.0.0"}
BASE = "/api/upload/tus/"
OCTETS = {"Content-Type": "application/offset+octet-stream"}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def corrupted(data: bytes) -> bytes:
    """`data` with its last byte changed, always (a fixed replacement byte equals the original
    one time in 256 with random data: a "wrong" checksum that was right once failed a run)."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


async def tus(http: aiohttp.ClientSession, method: str, url: str, user: User | None,
              headers: Mapping[str, str | None] | None = None,
              data: bytes | None = None) -> Answer:
    """One request with Tus-Resumable (and the user's token) unless `headers` overrides (a
    None value: the header is not sent)."""
    merged: dict[str, str | None] = {**VERSION, **(user.auth if user else {}), **(headers or {})}
    sent = {k: v for k, v in merged.items() if v is not None}
    async with http.request(method, url, headers=sent, data=data) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return Answer(r.status, dict(r.headers), body)


async def create(http: aiohttp.ClientSession, base: str, user: User, length: int | None,
                 name: str = "tus.bin", data: bytes | None = None, **headers: str) -> str:
    """A tus upload (with `data` as a creation's body); its absolute URL."""
    sent: dict[str, str | None] = {"Upload-Metadata": metadata(filename=name), **headers}
    sent |= {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    if data is not None:
        sent |= OCTETS
    answer = await tus(http, "POST", base + BASE, user, sent, data)
    assert answer.status == 201, answer
    return base + answer.headers["Location"]


async def patch(http: aiohttp.ClientSession, url: str, user: User, offset: int, data: bytes,
                **headers: str) -> Answer:
    return await tus(http, "PATCH", url, user,
                     {**OCTETS, "Upload-Offset": str(offset), **headers}, data)


async def head(http: aiohttp.ClientSession, url: str, user: User) -> Answer:
    return await tus(http, "HEAD", url, user)


async def owned(http: aiohttp.ClientSession, base: str, user: User) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/files/me/owned?limit=100", headers=user.auth) as r:
        assert r.status == 200, await r.text()
        files: list[dict[str, Any]] = (await r.json())["files"]
        return files


async def download(http: aiohttp.ClientSession, base: str, user: User, file_id: str) -> bytes:
    async with http.get(f"{base}/api/files/f/{file_id}/download", headers=user.auth) as r:
        assert r.status == 200, await r.text()
        url = (await r.json())["download_url"]
    async with http.get(url) as r:
        assert r.status == 200
        return await r.read()


async def stored(http: aiohttp.ClientSession, base: str, user: User, name: str) -> bytes:
    """The bytes of the one file named `name` the user owns (fails on none or several)."""
    mine = [f for f in await owned(http, base, user) if f["name"] == name]
    assert len(mine) == 1, [f["name"] for f in await owned(http, base, user)]
    return await download(http, base, user, mine[0]["file_id"])


def upload_uuid(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


# the stack as an auditor sees it ---------------------------------------------------------------


def store(stack: Stack) -> Minio:
    endpoint = stack.s3_endpoint.split("://", 1)[1]
    return Minio(endpoint, access_key=stack.s3_access_key, secret_key=stack.s3_secret_key,
                 secure=False, region=stack.s3_region)


def temporary_objects(stack: Stack, upload: str = "") -> list[str]:
    """Objects under the tus uploads' temporary prefix (of one upload, or all)."""
    prefix = f"tus/{upload}/" if upload else "tus/"
    return sorted(o.object_name or "" for o in store(stack).list_objects(
        stack.s3_bucket, prefix=prefix, recursive=True))


def open_multipart_uploads(stack: Stack, prefix: str = "users/") -> list[str]:
    client = store(stack)
    found = client._list_multipart_uploads(stack.s3_bucket, prefix=prefix)
    return [u.object_name for u in found.uploads]


def expire_now(stack: Stack, *upload_uuids: str) -> None:
    with psycopg.connect(stack.database_urls["upload"], autocommit=True) as conn:
        conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'"
                     " WHERE upload_uuid = ANY(%s::uuid[])", (list(upload_uuids),))


def session_state(stack: Stack, upload: str) -> str:
    with psycopg.connect(stack.database_urls["upload"], autocommit=True) as conn:
        row = conn.execute("SELECT state FROM upload_sessions WHERE upload_uuid = %s",
                           (upload,)).fetchone()
        assert row is not None
        return str(row[0])


def reap(stack: Stack, **env: str) -> dict[str, Any]:
    """One reaper pass, as an operator runs it; its JSON summary."""
    done = subprocess.run([sys.executable, "-m", "svc_upload", "reap"],
                          env={**stack.service_env("upload"), **env}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def audit(stack: Stack) -> dict[str, Any]:
    """The files service's bucket audit (objects without rows, rows without objects)."""
    done = subprocess.run([sys.executable, "-m", "svc_files", "audit", "--grace-s", "0"],
                          env=stack.service_env("files"), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def wait_for_writer(stack: Stack, upload: str, deadline_s: float = 60.0) -> None:
    """Until a request holds the upload's writer lease (fails after `deadline_s`)."""
    await _wait_for_ledger(stack, "SELECT writer_token IS NOT NULL FROM tus_uploads"
                           " WHERE upload_uuid = %s", upload, True,
                           f"no writer took upload {upload}", deadline_s)


async def wait_for_state(stack: Stack, upload: str, state: str, deadline_s: float = 60.0) -> None:
    """Until the upload's session is in `state` (fails after `deadline_s`)."""
    await _wait_for_ledger(stack, "SELECT state FROM upload_sessions WHERE upload_uuid = %s",
                           upload, state, f"upload {upload} was not {state}", deadline_s)


async def _wait_for_ledger(stack: Stack, query: str, upload: str, wanted: object, what: str,
                           deadline_s: float) -> None:
    """Until `query` (one row, one value) about the upload answers `wanted`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while loop.time() < end:
        with psycopg.connect(stack.database_urls["upload"], autocommit=True) as conn:
            row = conn.execute(query, (upload,)).fetchone()
        if row is not None and row[0] == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {deadline_s} s")


async def wait_for_upload_calls(stack: Stack, n: int, deadline_s: float = 60.0) -> None:
    """Until the upload service has `n` gRPC calls in progress (its in-flight gauge)."""
    port = stack.metrics_ports["upload"]
    gauge = 'govault_grpc_server_in_flight{service="upload"}'
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while loop.time() < end:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/metrics") as r:
            text = await r.text()
        found = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                 if line.startswith(gauge)]
        if found and found[0] >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the upload service did not have {n} calls in progress "
                         f"within {deadline_s} s")
