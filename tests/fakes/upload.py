"""In-memory fakes of the upload service's seams (svc_upload/seams.py), keeping the real
adapters' contracts: the ledger's conditional state changes, S3's part rules (EntityTooSmall /
InvalidPart / NoSuchUpload). tests/contract/ runs the same cases against them and the real
adapters."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import QuotaExceeded, Unavailable
from common.files import NewFile
from common.s3 import EntityTooSmall, InvalidPart, NoSuchUpload
from svc_upload.models import (
    ACTIVE,
    COMPLETED,
    COMPLETING,
    FAILED,
    MULTIPART,
    PROXY,
    UPLOADING,
    Part,
    Session,
)

MIB = 1024 * 1024


def now() -> datetime:
    return datetime.now(UTC)



class FakeLedger:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.parts: dict[str, dict[int, Part]] = {}

    async def create_session(self, *, upload_uuid: str, owner_id: str, method: str,
                             file_name: str, file_size_bytes: int, part_size_bytes: int,
                             total_chunks: int, file_id: str, storage_key: str,
                             ttl_s: float, chunk_size_fixed: bool = True) -> Session:
        s = Session(upload_uuid, owner_id, method, file_name, file_size_bytes, part_size_bytes,
                    total_chunks, file_id, storage_key, None, "pending", now(),
                    now() + timedelta(seconds=ttl_s), chunk_size_fixed=chunk_size_fixed)
        self.sessions[upload_uuid] = s
        self.parts[upload_uuid] = {}
        return s

    async def get_session(self, upload_uuid: str) -> Session | None:
        return self.sessions.get(upload_uuid)

    async def fix_chunk_size(self, upload_uuid: str, chunk_size: int,
                             total_chunks: int) -> Session | None:
        s = self.sessions[upload_uuid]
        if s.chunk_size_fixed or s.state not in ACTIVE:
            return None
        s = replace(s, part_size_bytes=chunk_size, total_chunks=total_chunks,
                    chunk_size_fixed=True,
                    storage_upload_id=None if total_chunks == 1 else s.storage_upload_id)
        self.sessions[upload_uuid] = s
        return s

    async def set_storage_upload_id(self, upload_uuid: str, storage_upload_id: str) -> Session:
        s = replace(self.sessions[upload_uuid], storage_upload_id=storage_upload_id)
        self.sessions[upload_uuid] = s
        return s

    def _live(self, s: Session) -> bool:
        return s.state in ACTIVE and s.expires_at > now()

    async def record_part(self, upload_uuid: str, part: Part) -> int | None:
        s = self.sessions[upload_uuid]
        if not self._live(s):
            return None
        self.sessions[upload_uuid] = replace(s, state=UPLOADING)
        self.parts[upload_uuid][part.part_number] = part
        return len(self.parts[upload_uuid])

    async def record_owned_part(self, upload_uuid: str, owner_id: str,
                                part: Part) -> tuple[int, int] | None:
        s = self.sessions.get(upload_uuid)
        if (s is None or s.owner_id != owner_id or s.method != MULTIPART
                or not 1 <= part.part_number <= s.total_chunks
                or part.size_bytes != s.expected_part_size(part.part_number)):
            return None
        count = await self.record_part(upload_uuid, part)
        return None if count is None else (count, s.total_chunks)

    async def record_listed_parts(self, upload_uuid: str, parts: list[Part]) -> list[int] | None:
        have = self.parts[upload_uuid]
        conflicts = sorted(p.part_number for p in parts if p.part_number in have and (
            have[p.part_number].etag, have[p.part_number].size_bytes) != (p.etag, p.size_bytes))
        if conflicts:
            return conflicts
        s = self.sessions[upload_uuid]
        if not self._live(s):
            return None
        self.sessions[upload_uuid] = replace(s, state=UPLOADING)
        for part in parts:
            have.setdefault(part.part_number, part)
        return []

    async def record_claimed_part(self, upload_uuid: str, claim_token: str, part: Part) -> bool:
        s = self.sessions[upload_uuid]
        if s.state != COMPLETING or s.claim_token != claim_token:
            return False
        self.parts[upload_uuid][part.part_number] = part
        return True

    async def count_parts(self, upload_uuid: str) -> int:
        return len(self.parts[upload_uuid])

    async def delete_part(self, upload_uuid: str, part_number: int) -> None:
        if self.sessions[upload_uuid].state in ACTIVE:
            self.parts[upload_uuid].pop(part_number, None)

    async def list_parts(self, upload_uuid: str) -> list[Part]:
        return [self.parts[upload_uuid][n] for n in sorted(self.parts[upload_uuid])]

    async def get_part(self, upload_uuid: str, part_number: int) -> Part | None:
        return self.parts[upload_uuid].get(part_number)

    async def claim_single_chunk(self, upload_uuid: str, owner_id: str, content_length: int,
                                 lease_s: float) -> Session | None:
        s = self.sessions.get(upload_uuid)
        if (s is None or s.owner_id != owner_id or s.method != PROXY or s.total_chunks != 1
                or content_length not in (0, s.file_size_bytes)):
            return None
        return await self.claim_completing(upload_uuid, ACTIVE, lease_s)

    async def claim_multipart(self, upload_uuid: str, owner_id: str,
                              lease_s: float) -> tuple[Session, list[Part]] | None:
        s = self.sessions.get(upload_uuid)
        if (s is None or s.owner_id != owner_id or s.method != MULTIPART
                or len(self.parts[upload_uuid]) != s.total_chunks):
            return None
        claim = await self.claim_completing(upload_uuid, ACTIVE, lease_s)
        return None if claim is None else (claim, await self.list_parts(upload_uuid))

    async def claim_completing(self, upload_uuid: str, from_states: tuple[str, ...],
                               lease_s: float) -> Session | None:
        s = self.sessions[upload_uuid]
        fresh = s.state in from_states and s.expires_at > now()
        stale = (s.state == COMPLETING and s.claimed_at is not None
                 and s.claimed_at < now() - timedelta(seconds=lease_s))
        if not (fresh or stale):
            return None
        s = replace(s, state=COMPLETING, claim_token=str(uuid.uuid4()), claimed_at=now())
        self.sessions[upload_uuid] = s
        return s

    async def release_claim(self, upload_uuid: str, claim_token: str, to_state: str) -> bool:
        s = self.sessions[upload_uuid]
        if s.state != COMPLETING or s.claim_token != claim_token:
            return False
        if to_state == COMPLETING:
            s = replace(s, claimed_at=datetime.fromtimestamp(0, UTC))  # the epoch, as PgLedger
        else:
            s = replace(s, state=to_state, claim_token=None, claimed_at=None)
        self.sessions[upload_uuid] = s
        return True

    async def renew_claim(self, upload_uuid: str, claim_token: str) -> bool:
        s = self.sessions[upload_uuid]
        if s.state != COMPLETING or s.claim_token != claim_token:
            return False
        self.sessions[upload_uuid] = replace(s, claimed_at=now())
        return True

    async def mark_completed(self, upload_uuid: str, claim_token: str, *, size_bytes: int,
                             checksum: str, mime_type: str) -> Session | None:
        s = self.sessions[upload_uuid]
        if s.state != COMPLETING or s.claim_token != claim_token:
            return None
        s = replace(s, state=COMPLETED, result_size_bytes=size_bytes, result_checksum=checksum,
                    mime_type=mime_type)
        self.sessions[upload_uuid] = s
        return s

    async def mark_failed(self, upload_uuid: str, claim_token: str, reason: str) -> bool:
        s = self.sessions[upload_uuid]
        if s.state != COMPLETING or s.claim_token != claim_token:
            return False
        self.sessions[upload_uuid] = replace(s, state=FAILED, failure_reason=reason)
        return True

    async def finish_inactive(self, upload_uuid: str, to_state: str) -> Session | None:
        s = self.sessions[upload_uuid]
        if s.state not in ACTIVE:
            return None
        s = replace(s, state=to_state)
        self.sessions[upload_uuid] = s
        return s

    def age(self, upload_uuid: str, **changes: Any) -> None:
        self.sessions[upload_uuid] = replace(self.sessions[upload_uuid], **changes)


@dataclass(frozen=True)
class Info:
    size_bytes: int
    etag: str


class FakeObjects:
    def __init__(self, min_part: int = 5 * MIB) -> None:
        self.min_part = min_part
        self.uploads: dict[str, dict[int, tuple[str, bytes]]] = {}
        self.objects: dict[str, bytes] = {}
        self.modified: dict[str, datetime] = {}
        self.completes = 0
        self.aborted: list[str] = []

    async def create_multipart(self, key: str) -> str:
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = {}
        return upload_id

    def client_put(self, upload_id: str, number: int, data: bytes) -> str:
        etag = hashlib.md5(data).hexdigest()
        self.uploads[upload_id][number] = (etag, data)
        return etag

    async def complete_multipart(self, key: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> str:
        if upload_id not in self.uploads:
            raise NoSuchUpload("NoSuchUpload")
        stored = self.uploads[upload_id]
        for i, (number, etag) in enumerate(parts):
            if number not in stored or stored[number][0] != etag:
                raise InvalidPart("InvalidPart")
            if i < len(parts) - 1 and len(stored[number][1]) < self.min_part:
                raise EntityTooSmall("EntityTooSmall")
        self.objects[key] = b"".join(stored[n][1] for n, _ in parts)
        del self.uploads[upload_id]
        self.completes += 1
        return f"{hashlib.md5(self.objects[key]).hexdigest()}-{len(parts)}"

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self.uploads.pop(upload_id, None)
        self.aborted.append(upload_id)

    async def multipart_exists(self, key: str, upload_id: str) -> bool:
        return upload_id in self.uploads

    async def stat(self, key: str) -> Info | None:
        data = self.objects.get(key)
        return None if data is None else Info(len(data), hashlib.md5(data).hexdigest())

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.modified.pop(key, None)

    async def presign_parts(self, key: str, upload_id: str, part_numbers: list[int],
                            expires_s: int) -> list[str]:
        return [f"https://s3/{key}?uploadId={upload_id}&partNumber={n}" for n in part_numbers]

    async def _read(self, length: int, body: AsyncIterator[bytes]) -> bytes:
        got = bytearray()
        try:
            async for piece in body:
                got += piece
                await asyncio.sleep(0)
        except Exception as exc:  # what aiohttp does: the request fails, wrapped
            raise Unavailable("the object store is unavailable") from exc
        assert len(got) == length
        return bytes(got)

    async def upload_part_stream(self, key: str, upload_id: str, part_number: int, length: int,
                                 body: AsyncIterator[bytes]) -> str:
        if upload_id not in self.uploads:
            async for _ in body:
                pass
            raise NoSuchUpload("NoSuchUpload")
        return self.client_put(upload_id, part_number, await self._read(length, body))

    async def put_object_stream(self, key: str, length: int, body: AsyncIterator[bytes]) -> str:
        self.objects[key] = await self._read(length, body)
        self.modified[key] = now()
        return hashlib.md5(self.objects[key]).hexdigest()

    async def get_stream(self, key: str) -> AsyncIterator[bytes]:
        if key not in self.objects:
            raise Unavailable("no such object")
        yield self.objects[key]

    async def list_keys(self, prefix: str) -> dict[str, datetime]:
        return {k: self.modified.get(k, now()) for k in self.objects if k.startswith(prefix)}


class FakeFiles:
    """The files service as the upload rules see it: registrations, and quota reservations
    against one quota per owner (`quota`, 0 = unlimited)."""

    def __init__(self, quota: int = 0) -> None:
        self.registered: dict[str, NewFile] = {}
        self.calls = 0
        self.fail_next = 0
        self.quota = quota
        self.reserved: dict[str, tuple[str, int]] = {}  # upload → (owner, bytes)
        self.used: dict[str, int] = {}
        self.released: list[str] = []

    def held(self, owner_id: str) -> int:
        return sum(b for o, b in self.reserved.values() if o == owner_id)

    async def reserve_quota(self, user_id: str, upload_uuid: str, size_bytes: int) -> None:
        if upload_uuid in self.reserved:
            return
        taken = self.used.get(user_id, 0) + self.held(user_id)
        if self.quota and taken + size_bytes > self.quota:
            raise QuotaExceeded(f"storage quota exceeded: {self.quota - taken} bytes free")
        self.reserved[upload_uuid] = (user_id, size_bytes)

    async def release_quota(self, upload_uuid: str) -> int:
        self.released.append(upload_uuid)
        return self.reserved.pop(upload_uuid, ("", 0))[1]

    async def register_file(self, registration: NewFile) -> str:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail_next:
            self.fail_next -= 1
            raise Unavailable("files service down")
        existing = self.registered.setdefault(registration.upload_id or "", registration)
        if existing is registration:
            self.reserved.pop(registration.upload_id or "", None)
            self.used[registration.owner_id] = (self.used.get(registration.owner_id, 0)
                                                + registration.size_bytes)
        return existing.file_id
