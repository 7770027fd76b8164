"""SQL for the upload ledger: sessions and their received chunks/parts.

Every state change is a conditional UPDATE whose WHERE names the states it may leave, so two
callers racing for the same transition cannot both win. Single statements run in autocommit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.db import pooled
from common.errors import AlreadyExists
from svc_upload.models import (
    ABORTED,
    ACTIVE,
    COMPLETED,
    COMPLETING,
    EXPIRED,
    FAILED,
    MULTIPART,
    PROXY,
    UPLOADING,
    Part,
    Session,
)

_SESSION_COLUMNS = (
    "upload_uuid::text, owner_id, method, file_name, file_size_bytes, part_size_bytes,"
    " total_chunks, file_id::text, storage_key, storage_upload_id, state, created_at,"
    " expires_at, claim_token::text, claimed_at, result_size_bytes, result_checksum, mime_type,"
    " failure_reason, chunk_size_fixed"
)


_PART_FIELDS = ("part_number", "etag", "size_bytes", "sha256")


def _session(row: dict[str, Any] | None) -> Session | None:
    return Session(**row) if row is not None else None


def _duplicate(_: pg_errors.UniqueViolation) -> AlreadyExists:
    return AlreadyExists("duplicate upload session")


class PgLedger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with pooled(self._pool, "upload", _duplicate) as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchone() if cur.description else None

    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with pooled(self._pool, "upload") as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchall()

    # sessions -------------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        upload_uuid: str,
        owner_id: str,
        method: str,
        file_name: str,
        file_size_bytes: int,
        part_size_bytes: int,
        total_chunks: int,
        file_id: str,
        storage_key: str,
        ttl_s: float,
        chunk_size_fixed: bool = True,
    ) -> Session:
        row = await self._one(
            "INSERT INTO upload_sessions (upload_uuid, owner_id, method, file_name,"
            " file_size_bytes, part_size_bytes, total_chunks, file_id, storage_key, expires_at,"
            " chunk_size_fixed)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s)"
            f" RETURNING {_SESSION_COLUMNS}",
            (upload_uuid, owner_id, method, file_name, file_size_bytes, part_size_bytes,
             total_chunks, file_id, storage_key, ttl_s, chunk_size_fixed),
        )
        session = _session(row)
        assert session is not None
        return session

    async def get_session(self, upload_uuid: str) -> Session | None:
        return _session(await self._one(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE upload_uuid = %s",
            (upload_uuid,),
        ))

    async def set_storage_upload_id(self, upload_uuid: str, storage_upload_id: str) -> Session:
        row = await self._one(
            "UPDATE upload_sessions SET storage_upload_id = %s, updated_at = now()"
            f" WHERE upload_uuid = %s RETURNING {_SESSION_COLUMNS}",
            (storage_upload_id, upload_uuid),
        )
        session = _session(row)
        assert session is not None
        return session

    async def fix_chunk_size(self, upload_uuid: str, chunk_size: int,
                             total_chunks: int) -> Session | None:
        """A proxy session's chunk size, told by its first chunk: set once, while it takes
        chunks (one chunk file: its multipart upload forgotten, the caller aborts it). None:
        already fixed, or the session stopped taking chunks."""
        return _session(await self._one(
            "UPDATE upload_sessions SET part_size_bytes = %s, total_chunks = %s,"
            " chunk_size_fixed = true, updated_at = now(), storage_upload_id = CASE WHEN %s = 1"
            " THEN NULL ELSE storage_upload_id END"
            " WHERE upload_uuid = %s AND NOT chunk_size_fixed AND state = ANY(%s)"
            f" RETURNING {_SESSION_COLUMNS}",
            (chunk_size, total_chunks, total_chunks, upload_uuid, list(ACTIVE)),
        ))

    # chunks / parts ---------------------------------------------------------------------------

    async def record_part(self, upload_uuid: str, part: Part) -> int | None:
        """Upserts a part while the session is still active (pending → uploading on the way).
        Returns the number of parts recorded (this statement's snapshot plus this part; a
        concurrent registration may be missed: callers that decide on it use count_parts), or
        None when the session is no longer active. The row lock taken on the session serialises
        this with the claim to `completing`, so a part is never added behind a completion."""
        row = await self._upsert_part(upload_uuid, part, "", ())
        return None if row is None else int(row["n"])

    async def record_owned_part(self, upload_uuid: str, owner_id: str,
                                part: Part) -> tuple[int, int] | None:
        """A part registration's common case in one statement (`record_part` with the checks
        the caller would otherwise read the session for): the owner's active, unexpired
        multipart session, the part number in range and its size the one expected. Returns
        (parts recorded, total parts), or None: anything else (the caller reads the session
        and says what is wrong)."""
        row = await self._upsert_part(
            upload_uuid, part,
            " AND owner_id = %s AND method = %s AND %s BETWEEN 1 AND total_chunks"
            " AND %s = CASE WHEN %s < total_chunks THEN part_size_bytes"
            "  ELSE file_size_bytes - part_size_bytes * (total_chunks - 1) END",
            (owner_id, MULTIPART, part.part_number, part.size_bytes, part.part_number))
        return None if row is None else (int(row["n"]), int(row["total"]))

    async def _upsert_part(self, upload_uuid: str, part: Part, conditions: str,
                           params: tuple[Any, ...]) -> dict[str, Any] | None:
        """The upsert of `record_part`, the session also matching `conditions` (SQL appended
        to its WHERE, with `params`). None: the session did not match."""
        row = await self._one(
            "WITH s AS (UPDATE upload_sessions SET state = %s, updated_at = now()"
            "  WHERE upload_uuid = %s AND state = ANY(%s) AND expires_at > now()" + conditions +
            "  RETURNING upload_uuid, total_chunks),"
            " ins AS (INSERT INTO upload_parts (upload_uuid, part_number, etag, size_bytes, sha256)"
            "  SELECT upload_uuid, %s, %s, %s, %s FROM s"
            "  ON CONFLICT (upload_uuid, part_number) DO UPDATE SET etag = EXCLUDED.etag,"
            "  size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, updated_at = now()"
            "  RETURNING (xmax = 0) AS inserted)"
            " SELECT (SELECT inserted FROM ins) AS inserted, (SELECT total_chunks FROM s) AS total,"
            "  (SELECT count(*) FROM upload_parts WHERE upload_uuid = %s) AS n",
            (UPLOADING, upload_uuid, list(ACTIVE), *params, part.part_number, part.etag,
             part.size_bytes, part.sha256, upload_uuid),
        )
        if row is None or row["inserted"] is None:
            return None
        return {**row, "n": int(row["n"]) + (1 if row["inserted"] else 0)}

    async def record_listed_parts(self, upload_uuid: str, parts: list[Part]) -> list[int] | None:
        """The parts a client lists at completion, recorded in one statement while the session
        is active, unless one of them was registered with another ETag or size: then nothing is
        written and those part numbers come back. [] when recorded (the parts already
        registered alike stay as they are); None when the session is no longer active."""
        row = await self._one(
            "WITH listed AS (SELECT * FROM unnest(%s::int[], %s::text[], %s::bigint[])"
            "  AS l(part_number, etag, size_bytes)),"
            " conflicts AS (SELECT l.part_number FROM listed l JOIN upload_parts p"
            "  ON p.upload_uuid = %s AND p.part_number = l.part_number"
            "  WHERE p.etag <> l.etag OR p.size_bytes <> l.size_bytes),"
            " s AS (UPDATE upload_sessions SET state = %s, updated_at = now()"
            "  WHERE upload_uuid = %s AND state = ANY(%s) AND expires_at > now()"
            "  AND NOT EXISTS (SELECT 1 FROM conflicts) RETURNING upload_uuid),"
            " ins AS (INSERT INTO upload_parts (upload_uuid, part_number, etag, size_bytes)"
            "  SELECT s.upload_uuid, l.part_number, l.etag, l.size_bytes FROM s, listed l"
            "  ON CONFLICT (upload_uuid, part_number) DO NOTHING)"
            " SELECT (SELECT count(*) FROM s) AS active,"
            "  ARRAY(SELECT part_number FROM conflicts ORDER BY 1) AS conflicts",
            ([p.part_number for p in parts], [p.etag for p in parts],
             [p.size_bytes for p in parts], upload_uuid, UPLOADING, upload_uuid, list(ACTIVE)),
        )
        assert row is not None
        if row["conflicts"]:
            return [int(n) for n in row["conflicts"]]
        return [] if row["active"] else None

    async def record_claimed_part(self, upload_uuid: str, claim_token: str, part: Part) -> bool:
        """Records the single chunk of a one-chunk upload while its writer holds the claim."""
        row = await self._one(
            "WITH s AS (SELECT upload_uuid FROM upload_sessions"
            "  WHERE upload_uuid = %s AND state = %s AND claim_token = %s FOR UPDATE)"
            " INSERT INTO upload_parts (upload_uuid, part_number, etag, size_bytes, sha256)"
            " SELECT upload_uuid, %s, %s, %s, %s FROM s"
            " ON CONFLICT (upload_uuid, part_number) DO UPDATE SET etag = EXCLUDED.etag,"
            " size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, updated_at = now()"
            " RETURNING part_number",
            (upload_uuid, COMPLETING, claim_token, part.part_number, part.etag, part.size_bytes,
             part.sha256),
        )
        return row is not None

    async def count_parts(self, upload_uuid: str) -> int:
        """A fresh statement (fresh snapshot) after the caller's own upsert committed, so of two
        concurrent last chunks at least the later one sees them all."""
        row = await self._one(
            "SELECT count(*) AS n FROM upload_parts WHERE upload_uuid = %s", (upload_uuid,)
        )
        assert row is not None
        return int(row["n"])

    async def delete_part(self, upload_uuid: str, part_number: int) -> None:
        """Forgets a part while the session is active (its bytes in the store were replaced by
        bytes that were then rejected)."""
        await self._one(
            "DELETE FROM upload_parts p USING upload_sessions s"
            " WHERE p.upload_uuid = s.upload_uuid AND p.upload_uuid = %s AND p.part_number = %s"
            " AND s.state = ANY(%s)",
            (upload_uuid, part_number, list(ACTIVE)),
        )

    async def list_parts(self, upload_uuid: str) -> list[Part]:
        rows = await self._all(
            "SELECT part_number, etag, size_bytes, sha256 FROM upload_parts"
            " WHERE upload_uuid = %s ORDER BY part_number",
            (upload_uuid,),
        )
        return [Part(**row) for row in rows]

    async def get_part(self, upload_uuid: str, part_number: int) -> Part | None:
        row = await self._one(
            "SELECT part_number, etag, size_bytes, sha256 FROM upload_parts"
            " WHERE upload_uuid = %s AND part_number = %s",
            (upload_uuid, part_number),
        )
        return Part(**row) if row else None

    # transitions ------------------------------------------------------------------------------

    async def claim_completing(
        self, upload_uuid: str, from_states: tuple[str, ...], lease_s: float
    ) -> Session | None:
        """Moves the session to `completing` with a fresh claim token, from one of `from_states`
        (not expired) or from a `completing` claim older than the lease. None: someone else holds
        it, or the state does not allow it."""
        return _session(await self._one(
            "UPDATE upload_sessions SET state = %s, claim_token = %s, claimed_at = now(),"
            " updated_at = now()"
            " WHERE upload_uuid = %s AND ((state = ANY(%s) AND expires_at > now())"
            "  OR (state = %s AND claimed_at < now() - make_interval(secs => %s)))"
            f" RETURNING {_SESSION_COLUMNS}",
            (COMPLETING, str(uuid.uuid4()), upload_uuid, list(from_states), COMPLETING, lease_s),
        ))

    async def claim_multipart(self, upload_uuid: str, owner_id: str,
                              lease_s: float) -> tuple[Session, list[Part]] | None:
        """Completion's common case in one statement: the owner's active, unexpired multipart
        session with as many parts registered as it has moves to `completing` with a fresh
        claim, and its parts come back with it. None: anything else (the caller reads the
        session and decides). The count and the parts are this statement's snapshot: a
        registration it waited for (the session row's lock) is not in them, so a last part
        registered just then sends the caller the long way, and a part registered again just
        then with a new ETag completes with the ETag before it, which the store refuses
        (PART_NOT_UPLOADED, the claim released): never a file of other bytes."""
        rows = await self._all(
            "WITH c AS (UPDATE upload_sessions s SET state = %s, claim_token = %s,"
            " claimed_at = now(), updated_at = now()"
            " WHERE upload_uuid = %s AND owner_id = %s AND method = %s AND state = ANY(%s)"
            " AND expires_at > now() AND total_chunks ="
            "  (SELECT count(*) FROM upload_parts p WHERE p.upload_uuid = s.upload_uuid)"
            f" RETURNING {_SESSION_COLUMNS})"
            " SELECT c.*, p.part_number AS part_number_, p.etag AS etag_,"
            " p.size_bytes AS size_bytes_, p.sha256 AS sha256_"
            " FROM c JOIN upload_parts p ON p.upload_uuid = %s ORDER BY p.part_number",
            (COMPLETING, str(uuid.uuid4()), upload_uuid, owner_id, MULTIPART, list(ACTIVE),
             upload_uuid),
        )
        if not rows:
            return None
        parts = [Part(*(row.pop(f"{name}_") for name in _PART_FIELDS)) for row in rows]
        return Session(**rows[0]), parts

    async def claim_single_chunk(self, upload_uuid: str, owner_id: str, content_length: int,
                                 lease_s: float) -> Session | None:
        """The common case in one statement: the owner's active, unexpired one-chunk proxy
        session, whose size fits `content_length` (0: unknown), moves to `completing` with a
        fresh claim. None: anything else (the caller reads the session and decides)."""
        return _session(await self._one(
            "UPDATE upload_sessions SET state = %s, claim_token = %s, claimed_at = now(),"
            " updated_at = now()"
            " WHERE upload_uuid = %s AND owner_id = %s AND method = %s AND total_chunks = 1"
            " AND (%s = 0 OR file_size_bytes = %s) AND state = ANY(%s) AND expires_at > now()"
            f" RETURNING {_SESSION_COLUMNS}",
            (COMPLETING, str(uuid.uuid4()), upload_uuid, owner_id, PROXY, content_length,
             content_length, list(ACTIVE)),
        ))

    async def release_claim(self, upload_uuid: str, claim_token: str, to_state: str) -> bool:
        """Gives the claim back: to an active state (the client may fix things and retry), or
        stays `completing` with a lapsed lease (`to_state == completing`) so the next caller or
        the reaper takes over at once."""
        if to_state == COMPLETING:
            # the epoch, not '-infinity': a lapsed lease must stay readable as a timestamp
            sql = ("UPDATE upload_sessions SET claimed_at = 'epoch', updated_at = now()"
                   " WHERE upload_uuid = %s AND state = %s AND claim_token = %s RETURNING 1")
            params: tuple[Any, ...] = (upload_uuid, COMPLETING, claim_token)
        else:
            sql = ("UPDATE upload_sessions SET state = %s, claim_token = NULL, claimed_at = NULL,"
                   " updated_at = now()"
                   " WHERE upload_uuid = %s AND state = %s AND claim_token = %s RETURNING 1")
            params = (to_state, upload_uuid, COMPLETING, claim_token)
        return await self._one(sql, params) is not None

    async def renew_claim(self, upload_uuid: str, claim_token: str) -> bool:
        """Restarts the lease of a claim still held; False: it lapsed and was taken over."""
        return await self._one(
            "UPDATE upload_sessions SET claimed_at = now(), updated_at = now()"
            " WHERE upload_uuid = %s AND state = %s AND claim_token = %s RETURNING 1",
            (upload_uuid, COMPLETING, claim_token)) is not None

    async def mark_completed(
        self,
        upload_uuid: str,
        claim_token: str,
        *,
        size_bytes: int,
        checksum: str,
        mime_type: str,
    ) -> Session | None:
        return _session(await self._one(
            "UPDATE upload_sessions SET state = %s, result_size_bytes = %s, result_checksum = %s,"
            " mime_type = %s, completed_at = now(), updated_at = now()"
            " WHERE upload_uuid = %s AND state = %s AND claim_token = %s"
            f" RETURNING {_SESSION_COLUMNS}",
            (COMPLETED, size_bytes, checksum, mime_type, upload_uuid, COMPLETING, claim_token),
        ))

    async def mark_failed(self, upload_uuid: str, claim_token: str, reason: str) -> bool:
        row = await self._one(
            "UPDATE upload_sessions SET state = %s, failure_reason = %s, updated_at = now()"
            " WHERE upload_uuid = %s AND state = %s AND claim_token = %s RETURNING 1",
            (FAILED, reason, upload_uuid, COMPLETING, claim_token),
        )
        return row is not None

    async def finish_inactive(self, upload_uuid: str, to_state: str) -> Session | None:
        """pending/uploading → aborted/expired/failed (never from completing or completed)."""
        assert to_state in (ABORTED, EXPIRED, FAILED)
        return _session(await self._one(
            "UPDATE upload_sessions SET state = %s, updated_at = now()"
            f" WHERE upload_uuid = %s AND state = ANY(%s) RETURNING {_SESSION_COLUMNS}",
            (to_state, upload_uuid, list(ACTIVE)),
        ))

    # reaper -----------------------------------------------------------------------------------

    # Only ids: the reaper reads each session on its own, so one row it cannot read stops
    # nothing but its own settlement.

    async def expired_uploads(self, limit: int, skip: list[str]) -> list[str]:
        rows = await self._all(
            "SELECT upload_uuid::text AS id FROM upload_sessions"
            " WHERE state = ANY(%s) AND expires_at <= now() AND NOT upload_uuid::text = ANY(%s)"
            " ORDER BY expires_at LIMIT %s",
            (list(ACTIVE), skip, limit),
        )
        return [row["id"] for row in rows]

    async def stuck_uploads(self, lease_s: float, limit: int) -> list[str]:
        rows = await self._all(
            "SELECT upload_uuid::text AS id FROM upload_sessions"
            " WHERE state = %s AND claimed_at < now() - make_interval(secs => %s)"
            " ORDER BY claimed_at LIMIT %s",
            (COMPLETING, lease_s, limit),
        )
        return [row["id"] for row in rows]

    async def now(self) -> datetime:
        row = await self._one("SELECT now() AS now", ())
        assert row is not None
        return row["now"]  # type: ignore[no-any-return]

