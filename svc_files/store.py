"""SQL for the files database: rows in, dataclasses out. SQLSTATEs become domain errors here
(`UniqueViolation` → AlreadyExists, pool timeout / lost connection → Unavailable).

Connections are autocommit (common.db); multi-statement work opens a transaction explicitly.
About 300 lines because it holds every table of the files database, grouped by table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import tuple_row

from common.errors import Unavailable
from common.files import NewFile
from svc_files.models import (
    FileGrant,
    FileRecord,
    PendingDelete,
    Share,
    ShareGrant,
    Shortcut,
)
from svc_files.quota_store import PgQuotas

_FILE_COLUMNS = (
    "f.file_id::text, f.owner_id::text, f.name, f.mime_type, f.size_bytes, f.checksum, "
    "f.storage_key, f.created_at, (p.file_id IS NOT NULL) AS is_public"
)


def _record(row: Sequence[Any]) -> FileRecord:
    return FileRecord(
        file_id=row[0], owner_id=row[1], name=row[2], mime_type=row[3], size_bytes=row[4],
        checksum=row[5], storage_key=row[6], created_at=row[7], is_public=row[8],
    )


def _share(row: Sequence[Any]) -> Share:
    return Share(user_id=row[0], email=row[1], permission=row[2], created_at=row[3])


class PgCatalog(PgQuotas):
    """The files database; quotas and usage counters come from `PgQuotas` (quota_store.py),
    changed here in the same transactions as the file rows."""

    async def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def _fetchone(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(sql, params)
            return await cur.fetchone()

    async def _rowcount(self, sql: str, params: Sequence[Any]) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    # ------------------------------------------------------------------------------ files
    async def register_file(self, new: NewFile) -> tuple[FileRecord, bool]:
        """Idempotent on upload_id: the second call returns the first call's row (even when
        that file has since been deleted, so a retried registration never resurrects it).
        One statement: the insert with its quota charge (the upload's reservation becomes usage
        of the real size: not checked again, the reservation was), or else the row already
        registered for the upload."""
        for _ in range(2):
            row = await self._fetchone(
                "WITH ins AS (INSERT INTO files (file_id, upload_id, owner_id, name, mime_type,"
                "  size_bytes, checksum, storage_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                "  ON CONFLICT (upload_id) DO NOTHING"
                "  RETURNING file_id::text, owner_id::text, name, mime_type, size_bytes, checksum,"
                "  storage_key, created_at, false, true),"
                " res AS (DELETE FROM quota_reservations WHERE upload_uuid = %s"
                "  AND EXISTS (SELECT 1 FROM ins) RETURNING bytes),"
                " charged AS (INSERT INTO user_usage (user_id, used_bytes, files)"
                "  SELECT %s, %s, 1 FROM ins"
                "  ON CONFLICT (user_id) DO UPDATE SET"
                "  used_bytes = user_usage.used_bytes + EXCLUDED.used_bytes,"
                "  files = user_usage.files + 1,"
                "  reserved_bytes = GREATEST(0, user_usage.reserved_bytes"
                "   - COALESCE((SELECT sum(bytes) FROM res), 0)), updated_at = now())"
                " SELECT * FROM ins"
                f" UNION ALL SELECT {_FILE_COLUMNS}, false FROM files f"
                " LEFT JOIN public_files p ON p.file_id = f.file_id"
                " WHERE f.upload_id = %s AND NOT EXISTS (SELECT 1 FROM ins)",
                (new.file_id, new.upload_id, new.owner_id, new.name, new.mime_type,
                 new.size_bytes, new.checksum, new.storage_key, new.upload_id, new.owner_id,
                 new.size_bytes, new.upload_id),
            )
            if row is not None:
                return _record(row), bool(row[9])
            # A concurrent registration of the same upload committed after this statement's
            # snapshot was taken (the insert saw it, the select did not): read it again.
        raise Unavailable("the file registration did not settle, retry")

    async def insert_file(self, new: NewFile) -> FileRecord:
        """A copy: charged to its owner's quota in the same transaction (QuotaExceeded, and no
        row, when it does not fit)."""
        async with self._conn() as conn:
            async with conn.transaction():
                await self._charge_copy(conn, new.owner_id, new.size_bytes)
                cur = conn.cursor(row_factory=tuple_row)
                await cur.execute(
                    "INSERT INTO files (file_id, upload_id, owner_id, name, mime_type,"
                    " size_bytes, checksum, storage_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " RETURNING file_id::text, owner_id::text, name, mime_type, size_bytes,"
                    " checksum, storage_key, created_at, false",
                    (new.file_id, new.upload_id, new.owner_id, new.name, new.mime_type,
                     new.size_bytes, new.checksum, new.storage_key),
                )
                row = await cur.fetchone()
        assert row is not None
        return _record(row)

    async def get_grant(self, file_id: str, user_id: str | None) -> FileGrant | None:
        row = await self._fetchone(
            f"SELECT {_FILE_COLUMNS}, s.permission FROM files f"
            " LEFT JOIN public_files p ON p.file_id = f.file_id"
            " LEFT JOIN file_shares s ON s.file_id = f.file_id AND s.user_id = %s"
            " WHERE f.file_id = %s AND f.deleted_at IS NULL",
            (user_id, file_id),
        )
        if row is None:
            return None
        return FileGrant(_record(row), row[9])

    async def list_owned(self, owner_id: str, limit: int, offset: int) -> list[FileRecord]:
        rows = await self._fetchall(
            f"SELECT {_FILE_COLUMNS} FROM files f"
            " LEFT JOIN public_files p ON p.file_id = f.file_id"
            " WHERE f.owner_id = %s AND f.deleted_at IS NULL"
            " ORDER BY f.created_at DESC, f.file_id DESC LIMIT %s OFFSET %s",
            (owner_id, limit, offset),
        )
        return [_record(r) for r in rows]

    async def list_shared(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        rows = await self._fetchall(
            f"SELECT {_FILE_COLUMNS}, s.permission FROM file_shares s"
            " JOIN files f ON f.file_id = s.file_id AND f.deleted_at IS NULL"
            " LEFT JOIN public_files p ON p.file_id = f.file_id"
            " WHERE s.user_id = %s"
            " ORDER BY f.created_at DESC, f.file_id DESC LIMIT %s OFFSET %s",
            (user_id, limit, offset),
        )
        return [FileGrant(_record(r), r[9]) for r in rows]

    async def list_shortcuts(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        """Shortcuts to files the user can still see (own, shared with them, or public)."""
        rows = await self._fetchall(
            f"SELECT {_FILE_COLUMNS}, s.permission FROM file_shortcuts sc"
            " JOIN files f ON f.file_id = sc.file_id AND f.deleted_at IS NULL"
            " LEFT JOIN public_files p ON p.file_id = f.file_id"
            " LEFT JOIN file_shares s ON s.file_id = f.file_id AND s.user_id = sc.user_id"
            " WHERE sc.user_id = %s"
            "   AND (f.owner_id = sc.user_id OR s.user_id IS NOT NULL OR p.file_id IS NOT NULL)"
            " ORDER BY f.created_at DESC, f.file_id DESC LIMIT %s OFFSET %s",
            (user_id, limit, offset),
        )
        return [FileGrant(_record(r), r[9]) for r in rows]

    async def rename(self, file_id: str, name: str) -> bool:
        return await self._rowcount(
            "UPDATE files SET name = %s WHERE file_id = %s AND deleted_at IS NULL",
            (name, file_id),
        ) == 1

    async def soft_delete(self, file_id: str) -> int | None:
        """Marks the file deleted, drops its shares, link and shortcuts, gives its bytes back to
        its owner's usage and queues its object for removal, in one transaction. Returns the
        pending-delete id (None: already gone)."""
        async with self._conn() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "UPDATE files SET deleted_at = now() WHERE file_id = %s AND deleted_at IS NULL"
                    " RETURNING storage_key, owner_id, size_bytes",
                    (file_id,),
                )
                row = await cur.fetchone()
                if row is None:
                    return None
                await self._credit(conn, row[1], int(row[2]))
                for table in ("file_shares", "public_files", "file_shortcuts"):
                    await conn.execute(
                        f"DELETE FROM {table} WHERE file_id = %s", (file_id,)
                    )
                cur = await conn.execute(
                    "INSERT INTO pending_deletes (storage_key) VALUES (%s) RETURNING id", (row[0],)
                )
                pending = await cur.fetchone()
        assert pending is not None
        return int(pending[0])

    # ------------------------------------------------------------------------------ deletes
    async def enqueue_delete(self, storage_key: str) -> int:
        row = await self._fetchone(
            "INSERT INTO pending_deletes (storage_key) VALUES (%s) RETURNING id", (storage_key,)
        )
        assert row is not None
        return int(row[0])

    async def finish_delete(self, pending_id: int) -> None:
        await self._rowcount("DELETE FROM pending_deletes WHERE id = %s", (pending_id,))

    async def due_deletes(self, limit: int) -> list[PendingDelete]:
        rows = await self._fetchall(
            "SELECT id, storage_key, attempts FROM pending_deletes"
            " WHERE next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT %s",
            (limit,),
        )
        return [PendingDelete(int(r[0]), r[1], int(r[2])) for r in rows]

    async def key_is_live(self, storage_key: str) -> bool:
        row = await self._fetchone(
            "SELECT 1 FROM files WHERE storage_key = %s AND deleted_at IS NULL", (storage_key,)
        )
        return row is not None

    async def delete_failed(self, pending_id: int, error: str, retry_in_s: float) -> None:
        await self._rowcount(
            "UPDATE pending_deletes SET attempts = attempts + 1, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            (error[:500], retry_in_s, pending_id),
        )

    async def count_pending(self) -> int:
        row = await self._fetchone("SELECT count(*) FROM pending_deletes", ())
        return int(row[0]) if row else 0

    async def audit_keys(self) -> tuple[set[str], set[str]]:
        """(storage keys of live files, storage keys queued for deletion)."""
        live = await self._fetchall("SELECT storage_key FROM files WHERE deleted_at IS NULL", ())
        pending = await self._fetchall("SELECT DISTINCT storage_key FROM pending_deletes", ())
        return {r[0] for r in live}, {r[0] for r in pending}

    # ------------------------------------------------------------------------------ shares
    async def upsert_shares(self, file_id: str, grants: Sequence[ShareGrant]) -> list[Share]:
        """All rows in one transaction; sharing again updates the permission."""
        shares: list[Share] = []
        async with self._conn() as conn:
            async with conn.transaction():
                cur = conn.cursor(row_factory=tuple_row)
                for grant in grants:
                    await cur.execute(
                        "INSERT INTO file_shares (file_id, user_id, email, permission)"
                        " VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (file_id, user_id) DO UPDATE"
                        " SET permission = EXCLUDED.permission, email = EXCLUDED.email"
                        " RETURNING user_id::text, email, permission, created_at",
                        (file_id, grant.user_id, grant.email, grant.permission),
                    )
                    row = await cur.fetchone()
                    assert row is not None
                    shares.append(_share(row))
        return shares

    async def list_shares(self, file_id: str) -> list[Share]:
        rows = await self._fetchall(
            "SELECT user_id::text, email, permission, created_at FROM file_shares"
            " WHERE file_id = %s ORDER BY created_at, user_id",
            (file_id,),
        )
        return [_share(r) for r in rows]

    async def update_share(self, file_id: str, user_id: str, permission: str) -> bool:
        return await self._rowcount(
            "UPDATE file_shares SET permission = %s WHERE file_id = %s AND user_id = %s",
            (permission, file_id, user_id),
        ) == 1

    async def remove_share(self, file_id: str, user_id: str) -> bool:
        return await self._rowcount(
            "DELETE FROM file_shares WHERE file_id = %s AND user_id = %s", (file_id, user_id)
        ) == 1

    # ------------------------------------------------------------------------------ links
    async def set_public(self, file_id: str, public: bool) -> None:
        if public:
            await self._rowcount(
                "INSERT INTO public_files (file_id) VALUES (%s) ON CONFLICT DO NOTHING",
                (file_id,),
            )
        else:
            await self._rowcount("DELETE FROM public_files WHERE file_id = %s", (file_id,))

    async def add_shortcut(self, file_id: str, user_id: str, shortcut_id: str) -> Shortcut:
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(
                "INSERT INTO file_shortcuts (shortcut_id, file_id, user_id)"
                " VALUES (%s, %s, %s) ON CONFLICT (user_id, file_id) DO NOTHING",
                (shortcut_id, file_id, user_id),
            )
            await cur.execute(
                "SELECT shortcut_id::text, file_id::text, created_at FROM file_shortcuts"
                " WHERE user_id = %s AND file_id = %s",
                (user_id, file_id),
            )
            row = await cur.fetchone()
        assert row is not None
        return Shortcut(row[0], row[1], row[2])

    async def remove_shortcut(self, file_id: str, user_id: str) -> None:
        await self._rowcount(
            "DELETE FROM file_shortcuts WHERE file_id = %s AND user_id = %s", (file_id, user_id)
        )
