"""In-memory fakes of the files service's seams (svc_files/seams.py): Catalog, Objects and
Directory. tests/contract/ runs the same cases against them and the real adapters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from common.errors import (
    AlreadyExists,
    Unavailable,
)
from common.files import NewFile
from svc_files.models import (
    Access,
    FileGrant,
    FileRecord,
    ResolvedUser,
    Share,
    ShareGrant,
    Shortcut,
    Usage,
    UsageDrift,
)
from svc_files.rules import access_for, fits, quota_exceeded

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeCatalog:
    def __init__(self, default_quota_bytes: int = 0) -> None:
        self.default_quota = default_quota_bytes
        # user → [quota (None: default), used, reserved, files]; upload → (user, bytes)
        self.counters: dict[str, list[int | None]] = {}
        self.reservations: dict[str, tuple[str, int]] = {}
        self.reserved_at: dict[str, datetime] = {}
        self.files: dict[str, FileRecord] = {}
        self.deleted: set[str] = set()
        self.uploads: dict[str, str] = {}
        self.shares: dict[tuple[str, str], Share] = {}
        self.public: set[str] = set()
        self.shortcuts: dict[tuple[str, str], Shortcut] = {}
        self.pending: dict[int, str] = {}
        self.fail_insert = False
        self.tick = 0

    def _now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    def _rec(self, file_id: str) -> FileRecord:
        return replace(self.files[file_id], is_public=file_id in self.public)

    def _live(self, file_id: str) -> bool:
        return file_id in self.files and file_id not in self.deleted

    def _new(self, new: NewFile) -> FileRecord:
        if new.file_id in self.files or any(
            f.storage_key == new.storage_key for f in self.files.values()
        ):
            raise AlreadyExists("taken")
        rec = FileRecord(new.file_id, new.owner_id, new.name, new.mime_type, new.size_bytes,
                         new.checksum, new.storage_key, self._now())
        self.files[new.file_id] = rec
        return rec

    async def register_file(self, new: NewFile) -> tuple[FileRecord, bool]:
        assert new.upload_id
        if new.upload_id in self.uploads:
            return self._rec(self.uploads[new.upload_id]), False
        rec = self._new(new)
        self.uploads[new.upload_id] = rec.file_id
        _, reserved = self.reservations.pop(new.upload_id, ("", 0))
        self._add(new.owner_id, used=new.size_bytes, reserved=-reserved, files=1)
        return rec, True

    async def insert_file(self, new: NewFile) -> FileRecord:
        if self.fail_insert:
            raise Unavailable("db down")
        usage = await self.usage(new.owner_id)
        if not fits(usage, new.size_bytes):
            raise quota_exceeded(usage, new.size_bytes)
        rec = self._new(new)
        self._add(new.owner_id, used=new.size_bytes, files=1)
        return rec

    # -- quotas
    def _row(self, user_id: str) -> list[int | None]:
        return self.counters.setdefault(user_id, [None, 0, 0, 0])

    def _add(self, user_id: str, used: int = 0, reserved: int = 0, files: int = 0) -> None:
        row = self._row(user_id)
        for i, delta in ((1, used), (2, reserved), (3, files)):
            row[i] = max(0, int(row[i] or 0) + delta)

    async def usage(self, user_id: str) -> Usage:
        quota, used, reserved, files = self.counters.get(user_id, [None, 0, 0, 0])
        return Usage(user_id, int(used or 0), int(reserved or 0),
                     self.default_quota if quota is None else quota, int(files or 0),
                     quota is None)

    async def reserve(self, user_id: str, upload_uuid: str, size: int) -> Usage:
        if upload_uuid not in self.reservations:
            usage = await self.usage(user_id)
            if not fits(usage, size):
                raise quota_exceeded(usage, size)
            self.reservations[upload_uuid] = (user_id, size)
            self.reserved_at[upload_uuid] = datetime.now(UTC)
            self._add(user_id, reserved=size)
        return await self.usage(user_id)

    async def release(self, upload_uuid: str) -> int:
        user_id, size = self.reservations.pop(upload_uuid, ("", 0))
        if user_id:
            self._add(user_id, reserved=-size)
        return size

    async def stale_reservations(self, older_than_s: float) -> list[tuple[str, str, int]]:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        return [(u, *self.reservations[u]) for u, at in sorted(self.reserved_at.items(),
                                                                 key=lambda i: (i[1], i[0]))
                if u in self.reservations and at < cutoff]

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> Usage:
        self._row(user_id)[0] = quota_bytes
        return await self.usage(user_id)

    async def list_usage(self) -> list[Usage]:
        rows = [await self.usage(u) for u in self.counters]
        return sorted(rows, key=lambda u: (-u.used_bytes, u.user_id))

    async def usage_totals(self) -> tuple[int, int]:
        rows = await self.list_usage()
        return sum(u.used_bytes for u in rows), sum(u.reserved_bytes for u in rows)

    async def audit_usage(self, fix: bool = False) -> tuple[int, list[UsageDrift]]:
        users = set(self.counters) | {u for u, _ in self.reservations.values()} | {
            f.owner_id for i, f in self.files.items() if self._live(i)}
        drifts = []
        for user in sorted(users):
            live = [f for i, f in self.files.items() if self._live(i) and f.owner_id == user]
            used, n = sum(f.size_bytes for f in live), len(live)
            reserved = sum(b for u, b in self.reservations.values() if u == user)
            recorded = await self.usage(user)
            if (recorded.used_bytes, recorded.reserved_bytes, recorded.files) != (
                    used, reserved, n):
                drifts.append(UsageDrift(user, recorded, used, reserved, n))
                if fix:
                    self._row(user)[1:] = [used, reserved, n]
        return len(users), drifts

    async def get_grant(self, file_id: str, user_id: str | None) -> FileGrant | None:
        if not self._live(file_id):
            return None
        share = self.shares.get((file_id, user_id or ""))
        return FileGrant(self._rec(file_id), share.permission if share else None)

    def _page(self, ids: list[str], limit: int, offset: int) -> list[str]:
        ids.sort(key=lambda i: (self.files[i].created_at, i), reverse=True)
        return ids[offset:offset + limit]

    async def list_owned(self, owner_id: str, limit: int, offset: int) -> list[FileRecord]:
        ids = [i for i, f in self.files.items() if f.owner_id == owner_id and self._live(i)]
        return [self._rec(i) for i in self._page(ids, limit, offset)]

    async def list_shared(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        ids = [f for (f, u) in self.shares if u == user_id and self._live(f)]
        return [FileGrant(self._rec(i), self.shares[(i, user_id)].permission)
                for i in self._page(ids, limit, offset)]

    async def list_shortcuts(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        ids = [f for (f, u) in self.shortcuts if u == user_id and self._live(f)]
        grants = [g for i in ids if (g := await self.get_grant(i, user_id))
                  and access_for(g, user_id) != Access.NONE]
        keep = self._page([g.file.file_id for g in grants], limit, offset)
        return [g for i in keep for g in grants if g.file.file_id == i]

    async def rename(self, file_id: str, name: str) -> bool:
        if not self._live(file_id):
            return False
        self.files[file_id] = replace(self.files[file_id], name=name)
        return True

    async def soft_delete(self, file_id: str) -> int | None:
        if not self._live(file_id):
            return None
        self.deleted.add(file_id)
        self._add(self.files[file_id].owner_id, used=-self.files[file_id].size_bytes, files=-1)
        self.public.discard(file_id)
        for key in [k for k in self.shares if k[0] == file_id]:
            del self.shares[key]
        for key in [k for k in self.shortcuts if k[0] == file_id]:
            del self.shortcuts[key]
        return await self.enqueue_delete(self.files[file_id].storage_key)

    async def enqueue_delete(self, storage_key: str) -> int:
        pending_id = len(self.pending) + 1000
        self.pending[pending_id] = storage_key
        return pending_id

    async def finish_delete(self, pending_id: int) -> None:
        self.pending.pop(pending_id, None)

    async def upsert_shares(self, file_id: str, grants: Sequence[ShareGrant]) -> list[Share]:
        out = []
        for g in grants:
            old = self.shares.get((file_id, g.user_id))
            share = Share(g.user_id, g.email, g.permission, old.created_at if old else self._now())
            self.shares[(file_id, g.user_id)] = share
            out.append(share)
        return out

    async def list_shares(self, file_id: str) -> list[Share]:
        return [s for (f, _), s in self.shares.items() if f == file_id]

    async def update_share(self, file_id: str, user_id: str, permission: str) -> bool:
        old = self.shares.get((file_id, user_id))
        if old is None:
            return False
        self.shares[(file_id, user_id)] = replace(old, permission=permission)
        return True

    async def remove_share(self, file_id: str, user_id: str) -> bool:
        return self.shares.pop((file_id, user_id), None) is not None

    async def set_public(self, file_id: str, public: bool) -> None:
        (self.public.add if public else self.public.discard)(file_id)

    async def add_shortcut(self, file_id: str, user_id: str, shortcut_id: str) -> Shortcut:
        return self.shortcuts.setdefault((file_id, user_id),
                                         Shortcut(shortcut_id, file_id, self._now()))

    async def remove_shortcut(self, file_id: str, user_id: str) -> None:
        self.shortcuts.pop((file_id, user_id), None)


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_remove = False

    async def copy(self, source_key: str, target_key: str) -> None:
        self.objects[target_key] = self.objects[source_key]

    async def remove(self, key: str) -> None:
        if self.fail_remove:
            raise Unavailable("s3 down")
        self.objects.pop(key, None)

    def presign_get(self, key: str, ttl: timedelta, file_name: str, mime_type: str) -> str:
        return f"https://s3.example/{key}?ttl={int(ttl.total_seconds())}"


class FakeDirectory:
    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.calls = 0

    def add(self, email: str, user_id: str) -> None:
        self.users[email.lower()] = user_id

    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        self.calls += 1
        return {e: ResolvedUser(self.users[e], e) for e in emails if e in self.users}
