"""SQL for storage quotas (tables `user_usage`, `quota_reservations`): the base of `PgCatalog`,
so the counters change in the same transaction as the file rows they follow (store.py calls
`_charge_copy` and `_credit` inside its own transactions; RegisterFile charges the upload's
reservation in its own single statement).

Every check is one conditional UPDATE (`... WHERE used + reserved + n <= quota RETURNING`): the
row lock serialises concurrent reservations of one user and PostgreSQL re-evaluates the
condition on the row each of them finally updates, so no number of concurrent sessions can
together exceed the quota. A user's quota is `quota_bytes`, or the service default when NULL
(so changing GOVAULT_DEFAULT_QUOTA_BYTES applies to everyone without a quota of their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from common.db import pooled
from common.errors import AlreadyExists
from svc_files.models import Usage, UsageDrift
from svc_files.rules import quota_exceeded

_QUOTA = "COALESCE(quota_bytes, %(default)s)"
_FITS = f"({_QUOTA} = 0 OR used_bytes + reserved_bytes + %(n)s <= {_QUOTA})"
_USAGE = (f"user_id::text, used_bytes, reserved_bytes, {_QUOTA}, files, quota_bytes IS NULL")


def _taken(exc: pg_errors.UniqueViolation) -> AlreadyExists:
    return AlreadyExists(f"already exists ({exc.diag.constraint_name})")


def _usage(row: Sequence[Any]) -> Usage:
    return Usage(user_id=row[0], used_bytes=int(row[1]), reserved_bytes=int(row[2]),
                 quota_bytes=int(row[3]), files=int(row[4]), quota_is_default=bool(row[5]))


Conn = psycopg.AsyncConnection[Any]


class PgQuotas:
    def __init__(self, pool: AsyncConnectionPool, default_quota_bytes: int = 0) -> None:
        self._pool = pool
        self._default = default_quota_bytes

    def _conn(self) -> AbstractAsyncContextManager[Conn]:
        return pooled(self._pool, "files", _taken)

    # ------------------------------------------------------------------ inside transactions
    async def _usage_in(self, conn: Conn, user_id: str) -> Usage:
        cur = conn.cursor(row_factory=tuple_row)
        await cur.execute(f"SELECT {_USAGE} FROM user_usage WHERE user_id = %(u)s",
                          {"u": user_id, "default": self._default})
        row = await cur.fetchone()
        if row is None:
            return Usage(user_id, 0, 0, self._default, 0)
        return _usage(row)

    async def _charge(self, conn: Conn, user_id: str, column: str, n: int,
                      files: int = 0) -> Usage:
        """Adds `n` to `column` (used_bytes or reserved_bytes) if it fits, or raises
        QuotaExceeded (the caller's transaction then rolls back)."""
        await conn.execute("INSERT INTO user_usage (user_id) VALUES (%s) ON CONFLICT DO NOTHING",
                           (user_id,))
        cur = conn.cursor(row_factory=tuple_row)
        await cur.execute(
            f"UPDATE user_usage SET {column} = {column} + %(n)s, files = files + %(files)s,"
            f" updated_at = now() WHERE user_id = %(u)s AND {_FITS} RETURNING {_USAGE}",
            {"u": user_id, "n": n, "files": files, "default": self._default})
        row = await cur.fetchone()
        if row is None:
            raise quota_exceeded(await self._usage_in(conn, user_id), n)
        return _usage(row)

    async def _charge_copy(self, conn: Conn, user_id: str, size: int) -> None:
        await self._charge(conn, user_id, "used_bytes", size, files=1)

    @staticmethod
    async def _credit(conn: Conn, user_id: str, size: int) -> None:
        """A deleted file's bytes are free again (never below zero: the audit reports drift)."""
        await conn.execute(
            "UPDATE user_usage SET used_bytes = GREATEST(0, used_bytes - %s),"
            " files = GREATEST(0, files - 1), updated_at = now() WHERE user_id = %s",
            (size, user_id))

    # ------------------------------------------------------------------ reservations
    async def reserve(self, user_id: str, upload_uuid: str, size: int) -> Usage:
        """Reserves `size` bytes for an upload session, or QuotaExceeded. Idempotent: the same
        upload reserved again changes nothing. One statement on the way in: the conditional
        charge (an upsert whose update only happens if it fits; a first reservation fits if the
        quota does) and the reservation row, written only if the charge was."""
        params = {"u": user_id, "id": upload_uuid, "n": size, "default": self._default}
        try:
            async with self._conn() as conn:
                cur = conn.cursor(row_factory=tuple_row)
                await cur.execute(
                    "WITH c AS (INSERT INTO user_usage AS uu (user_id, reserved_bytes)"
                    "  SELECT %(u)s, %(n)s WHERE NOT EXISTS (SELECT 1 FROM quota_reservations"
                    "   WHERE upload_uuid = %(id)s)"
                    # a new user fits the default quota; a known one: its row decides below
                    "   AND (%(default)s = 0 OR %(n)s <= %(default)s"
                    "    OR EXISTS (SELECT 1 FROM user_usage WHERE user_id = %(u)s))"
                    "  ON CONFLICT (user_id) DO UPDATE SET"
                    "  reserved_bytes = uu.reserved_bytes + EXCLUDED.reserved_bytes,"
                    "  updated_at = now()"
                    "  WHERE (COALESCE(uu.quota_bytes, %(default)s) = 0 OR uu.used_bytes"
                    "   + uu.reserved_bytes + EXCLUDED.reserved_bytes"
                    "   <= COALESCE(uu.quota_bytes, %(default)s))"
                    f"  RETURNING {_USAGE}),"
                    " r AS (INSERT INTO quota_reservations (upload_uuid, user_id, bytes)"
                    "  SELECT %(id)s, %(u)s, %(n)s FROM c)"
                    " SELECT * FROM c", params)
                row = await cur.fetchone()
                if row is not None:
                    return _usage(row)
                usage = await self._usage_in(conn, user_id)
                cur = await conn.execute("SELECT 1 FROM quota_reservations WHERE upload_uuid = %s",
                                         (upload_uuid,))
                if await cur.fetchone() is not None:
                    return usage  # reserved before: nothing changes
        except AlreadyExists:  # a concurrent reservation of the same upload won: it stands
            return await self.usage(user_id)
        raise quota_exceeded(usage, size)

    async def release(self, upload_uuid: str) -> int:
        """Gives an upload's reservation back; the bytes released (0: none left, idempotent)."""
        async with self._conn() as conn:
            cur = await conn.execute(
                "WITH r AS (DELETE FROM quota_reservations WHERE upload_uuid = %s"
                "  RETURNING user_id, bytes),"
                " u AS (UPDATE user_usage SET updated_at = now(),"
                "  reserved_bytes = GREATEST(0, reserved_bytes - r.bytes)"
                "  FROM r WHERE user_usage.user_id = r.user_id)"
                " SELECT bytes FROM r", (upload_uuid,))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ reading, operator
    async def usage(self, user_id: str) -> Usage:
        async with self._conn() as conn:
            return await self._usage_in(conn, user_id)

    async def set_quota(self, user_id: str, quota_bytes: int | None) -> Usage:
        """`quota_bytes` None: back to the service default; 0: unlimited."""
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(
                "INSERT INTO user_usage (user_id, quota_bytes) VALUES (%(u)s, %(q)s)"
                " ON CONFLICT (user_id) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes,"
                f" updated_at = now() RETURNING {_USAGE}",
                {"u": user_id, "q": quota_bytes, "default": self._default})
            row = await cur.fetchone()
        assert row is not None
        return _usage(row)

    async def list_usage(self) -> list[Usage]:
        async with self._conn() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(f"SELECT {_USAGE} FROM user_usage ORDER BY used_bytes DESC,"
                              " user_id", {"default": self._default})
            return [_usage(r) for r in await cur.fetchall()]

    async def usage_totals(self) -> tuple[int, int]:
        """(used bytes, reserved bytes) over all users (the usage gauges)."""
        async with self._conn() as conn:
            cur = await conn.execute("SELECT COALESCE(sum(used_bytes), 0),"
                                     " COALESCE(sum(reserved_bytes), 0) FROM user_usage")
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def stale_reservations(self, older_than_s: float) -> list[tuple[str, str, int]]:
        """(upload, user, bytes) of reservations older than `older_than_s`: sessions that should
        have ended long ago, whose release was lost (the files service unreachable then)."""
        async with self._conn() as conn:
            cur = await conn.execute(
                "SELECT upload_uuid::text, user_id::text, bytes FROM quota_reservations"
                " WHERE created_at < now() - make_interval(secs => %s)"
                " ORDER BY created_at, upload_uuid", (older_than_s,))
            return [(r[0], r[1], int(r[2])) for r in await cur.fetchall()]

    async def audit_usage(self, fix: bool = False) -> tuple[int, list[UsageDrift]]:
        """(users checked, users whose counters differ from their rows) in one consistent
        snapshot; `fix` also sets their counters to what the rows say, with writers held off
        for that moment (SHARE ROW EXCLUSIVE locks)."""
        async with self._conn() as conn:
            async with conn.transaction():
                if fix:
                    await conn.execute("LOCK TABLE files, quota_reservations, user_usage"
                                       " IN SHARE ROW EXCLUSIVE MODE")
                else:
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur = conn.cursor(row_factory=tuple_row)
                await cur.execute(_AUDIT, {"default": self._default})
                rows = await cur.fetchall()
                drifts = [UsageDrift(r[0], _usage(r[:6]), int(r[6]), int(r[7]), int(r[8]))
                          for r in rows if (r[1], r[2], r[4]) != (r[6], r[7], r[8])]
                if fix:
                    for d in drifts:
                        await conn.execute(
                            "INSERT INTO user_usage (user_id, used_bytes, reserved_bytes, files)"
                            " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET"
                            " used_bytes = EXCLUDED.used_bytes,"
                            " reserved_bytes = EXCLUDED.reserved_bytes,"
                            " files = EXCLUDED.files, updated_at = now()",
                            (d.user_id, d.used_bytes, d.reserved_bytes, d.files))
        return len(rows), drifts


# Every user with a usage row, a live file or a reservation: the recorded counters (the
# `_USAGE` columns) then what the rows say (used, reserved, files).
_AUDIT = """
WITH f AS (SELECT owner_id AS user_id, sum(size_bytes) AS used, count(*) AS n FROM files
           WHERE deleted_at IS NULL GROUP BY owner_id),
     r AS (SELECT user_id, sum(bytes) AS reserved FROM quota_reservations GROUP BY user_id),
     ids AS (SELECT user_id FROM user_usage UNION SELECT user_id FROM f UNION
             SELECT user_id FROM r)
SELECT ids.user_id::text, COALESCE(u.used_bytes, 0), COALESCE(u.reserved_bytes, 0),
       COALESCE(u.quota_bytes, %(default)s), COALESCE(u.files, 0), u.quota_bytes IS NULL,
       COALESCE(f.used, 0), COALESCE(r.reserved, 0), COALESCE(f.n, 0)
FROM ids LEFT JOIN user_usage u USING (user_id) LEFT JOIN f USING (user_id)
     LEFT JOIN r USING (user_id)
ORDER BY ids.user_id
"""
