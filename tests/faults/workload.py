"""A well-behaved upload client for fault injection: proxy and direct multipart uploads that ride
out a dead or frozen process by retrying transient answers (connection errors, 429, 502, 503, 504
with their Retry-After) and resuming from `GET /api/upload/status`, and that abort what they give
up on. It records what a user would notice: every upload the server confirmed (to be downloaded
byte-exact afterwards) and every 5xx that is not an honest "unavailable" (500 must never happen).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

MIB = 1024 * 1024
PART_BYTES = 5 * MIB
TRANSIENT = frozenset({429, 502, 503, 504})
FINAL = frozenset({507})  # STORAGE_FULL: an honest answer that waiting does not change
GIVE_UP_S = 90.0


def refusal_kind(status: int, retry_after: str | None) -> str:
    if status == 0:
        return "no answer"
    return f"{status} {'with' if retry_after else 'without'} Retry-After"


class GaveUp(Exception):
    """The upload could not finish in time (its session was aborted)."""


@dataclass(frozen=True)
class Stored:
    file_id: str
    sha256: str
    size: int
    method: str


@dataclass
class Observations:
    stored: list[Stored] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # 500 and other non-honest 5xx
    gave_up: int = 0
    transient: int = 0  # honest refusals seen (and retried)
    # the same by kind: "503 with Retry-After", "503 without Retry-After", "no answer", …
    refusals: Counter[str] = field(default_factory=Counter)


@dataclass
class Account:
    email: str
    password: str
    token: str = ""


class FaultClient:
    def __init__(self, http: aiohttp.ClientSession, base: str, account: Account,
                 seen: Observations) -> None:
        self.http = http
        self.base = base
        self.account = account
        self.seen = seen

    async def login(self, give_up_s: float = GIVE_UP_S) -> None:
        status, body = await self.call("POST", "/auth/login", give_up_s=give_up_s, auth=False,
                                       json={"email": self.account.email,
                                             "password": self.account.password})
        assert status == 200, body
        self.account.token = body["token"]

    async def call(self, method: str, path_or_url: str, *, give_up_s: float = GIVE_UP_S,
                   auth: bool = True, **kwargs: Any) -> tuple[int, Any]:
        """One request, retried while the answer is transient; (status, JSON body or None)."""
        deadline = time.monotonic() + give_up_s
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        headers = dict(kwargs.pop("headers", {}))
        if auth and url.startswith(self.base):
            headers["Authorization"] = f"Bearer {self.account.token}"
        while True:
            wait = 0.3
            try:
                async with self.http.request(method, url, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=30),
                                             **kwargs) as response:
                    raw = await response.read()
                    status = response.status
                    etag = response.headers.get("ETag", "")
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                status, raw, etag, retry_after = 0, b"", "", None
            if status == 401 and auth and url.startswith(self.base):
                await self.login(max(1.0, deadline - time.monotonic()))
                headers["Authorization"] = f"Bearer {self.account.token}"
                continue
            if status >= 500 and status not in TRANSIENT and status not in FINAL:
                self.seen.server_errors.append(f"{status} {method} {url.split('?')[0]}: "
                                               f"{raw[:300]!r}")
            if status == 0 or (status >= 500 and status not in FINAL) or status == 429:
                self.seen.transient += 1
                self.seen.refusals[refusal_kind(status, retry_after)] += 1
                if time.monotonic() >= deadline:
                    raise GaveUp(f"{method} {url.split('?')[0]}: still {status or 'no answer'}")
                if retry_after and retry_after.isdigit():
                    wait = min(float(retry_after), 2.0)
                await asyncio.sleep(wait)
                continue
            body: Any = None
            if not url.startswith(self.base):  # the store: its answer is the ETag header
                body = {"etag": etag.strip('"')}
            elif raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw[:200]}
            return status, body

    # ------------------------------------------------------------------------- uploads
    async def upload(self, data: bytes, method: str) -> Stored:
        """One upload to the end: a confirmed file, or GaveUp after aborting its session."""
        name = f"fault-{os.urandom(4).hex()}.bin"
        if method == "proxy":
            status, body = await self.call("POST", "/api/upload/proxy/session",
                                           json={"file_name": name, "file_size_bytes": len(data)})
        else:
            status, body = await self.call("POST", "/api/upload/multipart/session",
                                           json={"file_name": name, "file_size_bytes": len(data),
                                                 "part_size_bytes": PART_BYTES})
        if status != 200:
            raise GaveUp(f"session refused: {status} {body}")
        upload_uuid = body["upload_uuid"]
        deadline = time.monotonic() + GIVE_UP_S
        try:
            while time.monotonic() < deadline:
                file_id = await (self._proxy_round(upload_uuid, data, body) if method == "proxy"
                                 else self._multipart_round(upload_uuid, data, body))
                if file_id:
                    stored = Stored(file_id, hashlib.sha256(data).hexdigest(), len(data), method)
                    self.seen.stored.append(stored)
                    return stored
                await asyncio.sleep(0.3)
            raise GaveUp(f"{upload_uuid} not completed in {GIVE_UP_S:.0f}s")
        except GaveUp:
            self.seen.gave_up += 1
            await self.call("POST", "/api/upload/abort", json={"upload_uuid": upload_uuid})
            raise

    async def _status(self, upload_uuid: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/upload/status?upload_uuid={upload_uuid}")
        if status != 200:
            raise GaveUp(f"status: {status} {body}")
        if body["status"] in ("failed", "aborted", "expired"):
            raise GaveUp(f"the session is {body['status']}")
        return dict(body)

    async def _proxy_round(self, upload_uuid: str, data: bytes, session: dict[str, Any]) -> str:
        """Sends every chunk the status does not list; the file id once completed."""
        state = await self._status(upload_uuid)
        if state["status"] == "completed":
            return str(state["file_id"])
        size = int(session["chunk_size_bytes"])
        for index in range(int(session["total_chunks"])):
            if index in state["received"]:
                continue
            chunk = data[index * size:(index + 1) * size]
            status, body = await self.call(
                "POST", f"/api/upload/proxy/chunk?id={index}", data=chunk,
                headers={"Upload-UUID": upload_uuid,
                         "Checksum": hashlib.sha256(chunk).hexdigest()})
            if status == 200 and body.get("file_id"):
                return str(body["file_id"])
            if status not in (200, 409):
                raise GaveUp(f"chunk {index}: {status} {body}")
        return ""

    async def _multipart_round(self, upload_uuid: str, data: bytes,
                               session: dict[str, Any]) -> str:
        """PUTs and registers every part the status does not list, then completes."""
        state = await self._status(upload_uuid)
        if state["status"] == "completed":
            return str(state["file_id"])
        total = int(session["total_chunks"])
        missing = [n for n in range(1, total + 1) if n not in state["received"]]
        if missing and state["status"] != "completing":
            status, fresh = await self.call("POST", "/api/upload/multipart/presign",
                                            json={"upload_uuid": upload_uuid,
                                                  "part_numbers": missing})
            if status != 200:
                raise GaveUp(f"presign: {status} {fresh}")
            for part in fresh["parts"]:
                number = int(part["part_number"])
                piece = data[(number - 1) * PART_BYTES:number * PART_BYTES]
                status, put = await self.call("PUT", part["url"], data=piece, auth=False)
                if status != 200:
                    return ""  # an expired or refused URL: the next round presigns again
                status, body = await self.call("POST", "/api/upload/multipart/part", json={
                    "upload_uuid": upload_uuid, "part_number": number,
                    "size_bytes": len(piece), "etag": put["etag"]})
                if status not in (200, 409):
                    raise GaveUp(f"part {number}: {status} {body}")
        status, body = await self.call("POST", "/api/upload/multipart/complete",
                                       json={"upload_uuid": upload_uuid})
        if status == 200:
            return str(body["file_id"])
        if status in (400, 409):
            return ""  # parts missing or completing elsewhere: look at the status again
        raise GaveUp(f"complete: {status} {body}")


SIZES = {
    "proxy": (200 * 1024, PART_BYTES + 100 * 1024),  # one chunk; two chunks (5 MiB chunks)
    "multipart": (300 * 1024, PART_BYTES + 1024),  # one part; two parts
}


async def keep_uploading(client: FaultClient, method: str, stop: asyncio.Event) -> None:
    """Uploads one file after another until `stop`; gives up on nothing it can retry."""
    turn = 0
    while not stop.is_set():
        size = SIZES[method][turn % 2]
        turn += 1
        try:
            await client.upload(os.urandom(size), method)
        except GaveUp:
            await asyncio.sleep(0.5)
