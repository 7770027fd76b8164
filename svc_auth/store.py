"""The auth database: the only module with SQL. Single statements run in autocommit; work
that needs several statements opens an explicit transaction. SQLSTATEs become domain errors:
unique violations → AlreadyExists (EMAIL_TAKEN / USERNAME_TAKEN), pool timeout or a lost
connection → Unavailable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from common.db import pooled
from common.errors import InvalidArgument
from common.files import validate_uuid
from svc_auth.errors import email_taken, username_taken
from svc_auth.models import Credentials, RefreshTokenRecord, User

_USER_COLUMNS = "u.user_id::text, u.username, u.email, u.created_at"


def _user(row: Sequence[Any]) -> User:
    return User(user_id=row[0], username=row[1], email=row[2], created_at=row[3])


class PgAccounts:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    def _conn(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return pooled(self._pool, "auth")

    async def create_user(self, username: str, email: str, password_hash: str) -> User:
        try:
            async with self._conn() as conn:
                cur = await conn.execute(
                    "INSERT INTO users AS u (username, email, password_hash)"
                    f" VALUES (%s, %s, %s) RETURNING {_USER_COLUMNS}",
                    (username, email, password_hash),
                )
                row = await cur.fetchone()
        except pg_errors.UniqueViolation as exc:
            constraint = exc.diag.constraint_name or ""
            if "email" in constraint:
                raise email_taken() from None
            raise username_taken() from None
        assert row is not None
        return _user(row)

    async def credentials_by_email(self, email: str) -> Credentials | None:
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = %s",
                (email,),
            )
            row = await cur.fetchone()
        return Credentials(_user(row), row[4]) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        try:
            user_id = validate_uuid(user_id, "user_id")
        except InvalidArgument:
            return None
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users u WHERE u.user_id = %s", (user_id,)
            )
            row = await cur.fetchone()
        return _user(row) if row else None

    async def users_by_emails(self, emails: Sequence[str]) -> list[User]:
        if not emails:
            return []
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users u WHERE u.email = ANY(%s)", (list(emails),)
            )
            rows = await cur.fetchall()
        return [_user(row) for row in rows]

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = %s, updated_at = now() WHERE user_id = %s",
                (password_hash, user_id),
            )

    async def create_family(self, user_id: str, token_hash: bytes, expires_at: datetime) -> str:
        family_id = str(uuid.uuid4())
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO refresh_families (family_id, user_id) VALUES (%s, %s)",
                (family_id, user_id),
            )
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
                " VALUES (%s, %s, %s, %s)",
                (token_hash, family_id, user_id, expires_at),
            )
        return family_id

    async def find_refresh_token(self, token_hash: bytes) -> RefreshTokenRecord | None:
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_USER_COLUMNS}, t.family_id::text, t.expires_at,"
                " t.rotated_at IS NOT NULL, f.revoked_at IS NOT NULL"
                " FROM refresh_tokens t"
                " JOIN refresh_families f ON f.family_id = t.family_id"
                " JOIN users u ON u.user_id = t.user_id"
                " WHERE t.token_hash = %s",
                (token_hash,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return RefreshTokenRecord(family_id=row[4], user=_user(row), expires_at=row[5],
                                  rotated=row[6], family_revoked=row[7])

    async def rotate_refresh_token(
        self, old_hash: bytes, new_hash: bytes, expires_at: datetime
    ) -> User | None:
        """Marks `old_hash` rotated and stores its successor, only if it was still current (not
        rotated, not expired, family not revoked), in one statement; returns the token's user
        for exactly one of concurrent callers, None for the others (and for a token that is
        unknown or no longer current: `find_refresh_token` tells which)."""
        async with self._conn() as conn:
            cur = await conn.execute(
                "WITH old AS (UPDATE refresh_tokens t SET rotated_at = now()"
                "  FROM refresh_families f"
                "  WHERE t.token_hash = %s AND t.rotated_at IS NULL AND t.expires_at > now()"
                "  AND f.family_id = t.family_id AND f.revoked_at IS NULL"
                "  RETURNING t.family_id, t.user_id),"
                " successor AS (INSERT INTO refresh_tokens (token_hash, family_id, user_id,"
                "  expires_at) SELECT %s, family_id, user_id, %s FROM old)"
                f" SELECT {_USER_COLUMNS} FROM users u JOIN old ON u.user_id = old.user_id",
                (old_hash, new_hash, expires_at),
            )
            row = await cur.fetchone()
        return None if row is None else _user(row)

    async def revoke_family(self, family_id: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE refresh_families SET revoked_at = now()"
                " WHERE family_id = %s AND revoked_at IS NULL",
                (family_id,),
            )

    async def delete_expired_tokens(self, limit: int = 10_000) -> int:
        """Housekeeping: removes tokens past their expiry (and their emptied families)."""
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(
                "DELETE FROM refresh_tokens WHERE token_hash IN ("
                " SELECT token_hash FROM refresh_tokens WHERE expires_at < now() LIMIT %s)",
                (limit,),
            )
            deleted = cur.rowcount
            await conn.execute(
                "DELETE FROM refresh_families f WHERE NOT EXISTS ("
                " SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.family_id)"
            )
        return deleted
