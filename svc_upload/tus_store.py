"""SQL for tus uploads (`PgTusLedger`): the `tus_uploads` row beside each tus session.

The writer lease: one request at a time writes an upload's bytes. It takes the lease with the
offset it was given (a stale offset takes nothing), keeps it alive while its bytes stream, and
gives it back when it records what it stored; a lease whose writer stopped saying it is alive
(a killed process) lapses and may be taken. Every recording is conditional on the lease and on
the session still taking bytes, in one statement with the session row locked first, so an abort
or an expiry and a recording cannot both win.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.db import pooled
from common.errors import AlreadyExists
from svc_upload.models import ACTIVE, COMPLETING, TUS, UPLOADING, Part, Session, TusState
from svc_upload.store import _SESSION_COLUMNS as SESSION_COLUMNS

_TUS_COLUMNS = ("t.received_bytes, t.length_deferred, t.metadata, t.tail_key, t.tail_bytes,"
                " t.tail_sha256, t.next_part, t.writer_token::text AS writer_token")
_SESSION = ", ".join(f"s.{c.strip()}" for c in SESSION_COLUMNS.split(","))
_TUS_FIELDS = ("received_bytes", "length_deferred", "metadata", "tail_key", "tail_bytes",
               "tail_sha256", "next_part", "writer_token")


def _split(row: dict[str, Any] | None) -> tuple[Session, TusState] | None:
    if row is None:
        return None
    tus = TusState(**{k: row.pop(k) for k in _TUS_FIELDS})
    return Session(**row), tus


def _parts(parts: list[Part]) -> tuple[list[int], list[str], list[int], list[str | None]]:
    return ([p.part_number for p in parts], [p.etag for p in parts],
            [p.size_bytes for p in parts], [p.sha256 for p in parts])


# Inserts the parts of `ins_from` (a CTE naming upload_uuid) from four parallel arrays.
_INSERT_PARTS = (
    " INSERT INTO upload_parts (upload_uuid, part_number, etag, size_bytes, sha256)"
    " SELECT x.upload_uuid::uuid, p.n, p.e, p.b, p.h FROM {src} x,"
    "  unnest(%(numbers)s::int[], %(etags)s::text[], %(sizes)s::bigint[], %(shas)s::text[])"
    "  AS p(n, e, b, h)"
    " ON CONFLICT (upload_uuid, part_number) DO UPDATE SET etag = EXCLUDED.etag,"
    " size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, updated_at = now()")


class PgTusLedger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with pooled(self._pool, "upload",
                          lambda _: AlreadyExists("duplicate upload session")) as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchone() if cur.description else None

    async def create(self, *, upload_uuid: str, owner_id: str, file_name: str,
                     length: int | None, part_size_bytes: int, file_id: str, storage_key: str,
                     ttl_s: float, mime_type: str | None, metadata: str) -> Session:
        """A tus session and its tus row, in one statement."""
        row = await self._one(
            "WITH s AS (INSERT INTO upload_sessions (upload_uuid, owner_id, method, file_name,"
            "  file_size_bytes, part_size_bytes, total_chunks, file_id, storage_key, expires_at,"
            "  mime_type)"
            "  VALUES (%(id)s, %(owner)s, %(method)s, %(name)s, %(size)s, %(part)s, 1, %(file)s,"
            "  %(key)s, now() + make_interval(secs => %(ttl)s), %(mime)s)"
            f"  RETURNING {SESSION_COLUMNS}),"
            " t AS (INSERT INTO tus_uploads (upload_uuid, length_deferred, metadata)"
            "  SELECT upload_uuid::uuid, %(deferred)s, %(meta)s FROM s)"
            " SELECT * FROM s",
            {"id": upload_uuid, "owner": owner_id, "method": TUS, "name": file_name,
             "size": length or 0, "part": part_size_bytes, "file": file_id, "key": storage_key,
             "ttl": ttl_s, "mime": mime_type, "deferred": length is None, "meta": metadata})
        assert row is not None
        return Session(**row)

    async def get(self, upload_uuid: str) -> tuple[Session, TusState] | None:
        return _split(await self._one(
            f"SELECT {_SESSION}, {_TUS_COLUMNS} FROM upload_sessions s"
            " JOIN tus_uploads t USING (upload_uuid) WHERE s.upload_uuid = %(id)s",
            {"id": upload_uuid}))

    async def claim_whole(self, upload_uuid: str, owner_id: str, length: int,
                          lease_s: float) -> Session | None:
        """The common case in one statement: a body that is the owner's whole upload, sent to
        an active tus session that holds no bytes yet and no writer, claims it for completion
        (`completing`: no other writer can start). None: anything else."""
        return _split_session(await self._one(
            "UPDATE upload_sessions s SET state = %(completing)s, claim_token = %(token)s,"
            " claimed_at = now(), updated_at = now() FROM tus_uploads t"
            " WHERE s.upload_uuid = %(id)s AND t.upload_uuid = s.upload_uuid"
            " AND s.owner_id = %(owner)s AND s.method = %(method)s AND s.state = ANY(%(active)s)"
            " AND s.expires_at > now() AND NOT t.length_deferred AND s.file_size_bytes = %(n)s"
            " AND s.file_size_bytes < 2 * s.part_size_bytes AND s.storage_upload_id IS NULL"
            " AND t.received_bytes = 0 AND t.tail_key IS NULL"
            " AND (t.writer_token IS NULL"
            "  OR t.writer_at < now() - make_interval(secs => %(lease)s))"
            f" RETURNING {_SESSION}",
            {"completing": COMPLETING, "token": str(uuid.uuid4()), "id": upload_uuid,
             "owner": owner_id, "method": TUS, "active": list(ACTIVE), "n": length,
             "lease": lease_s}))

    async def take_lease(self, upload_uuid: str, offset: int,
                         lease_s: float) -> tuple[Session, TusState] | None:
        """The writer lease of an active, unexpired session whose offset is `offset`, when no
        writer holds it (or its writer's lease lapsed). None: any of that is not so."""
        return _split(await self._one(
            "WITH t AS (UPDATE tus_uploads t SET writer_token = %(token)s, writer_at = now(),"
            "  release_requested = false"
            "  FROM upload_sessions s WHERE t.upload_uuid = %(id)s"
            "  AND s.upload_uuid = t.upload_uuid"
            "  AND s.state = ANY(%(active)s) AND s.expires_at > now()"
            "  AND t.received_bytes = %(offset)s AND (t.writer_token IS NULL"
            "   OR t.writer_at < now() - make_interval(secs => %(lease)s))"
            "  RETURNING t.*)"
            f" SELECT {_SESSION}, {_TUS_COLUMNS} FROM upload_sessions s JOIN t USING (upload_uuid)",
            {"token": str(uuid.uuid4()), "id": upload_uuid, "active": list(ACTIVE),
             "offset": offset, "lease": lease_s}))

    async def renew_lease(self, upload_uuid: str, token: str) -> bool | None:
        """Restarts the lease; whether a newer request asked its holder to stop (None: the
        lease is lost)."""
        row = await self._one(
            "UPDATE tus_uploads SET writer_at = now() WHERE upload_uuid = %(id)s"
            " AND writer_token = %(token)s RETURNING release_requested",
            {"id": upload_uuid, "token": token})
        return None if row is None else bool(row["release_requested"])

    async def request_release(self, upload_uuid: str) -> None:
        """Asks the lease's holder to stop (a newer request for the upload is waiting)."""
        await self._one(
            "UPDATE tus_uploads SET release_requested = true WHERE upload_uuid = %(id)s"
            " AND writer_token IS NOT NULL", {"id": upload_uuid})

    async def release_lease(self, upload_uuid: str, token: str) -> None:
        await self._one(
            "UPDATE tus_uploads SET writer_token = NULL, writer_at = NULL,"
            " release_requested = false WHERE upload_uuid = %(id)s AND writer_token = %(token)s",
            {"id": upload_uuid, "token": token})

    async def next_part_numbers(self, upload_uuid: str, token: str, count: int) -> int | None:
        """The first of `count` part numbers nobody used, for the lease holder (renews the
        lease); None: the lease is lost, or S3's 10,000 numbers would be spent."""
        row = await self._one(
            "UPDATE tus_uploads SET next_part = next_part + %(n)s, writer_at = now()"
            " WHERE upload_uuid = %(id)s AND writer_token = %(token)s"
            " AND next_part + %(n)s - 1 <= 10000 RETURNING next_part - %(n)s AS first",
            {"id": upload_uuid, "token": token, "n": count})
        return None if row is None else int(row["first"])

    async def declare_length(self, upload_uuid: str, token: str, length: int) -> bool:
        """Fixes a deferred length (the lease holder's, never below the offset)."""
        return await self._one(
            "WITH t AS (UPDATE tus_uploads SET length_deferred = false"
            "  WHERE upload_uuid = %(id)s AND writer_token = %(token)s AND length_deferred"
            "  AND received_bytes <= %(n)s RETURNING upload_uuid)"
            " UPDATE upload_sessions SET file_size_bytes = %(n)s, updated_at = now()"
            " WHERE upload_uuid IN (SELECT upload_uuid FROM t) RETURNING 1",
            {"id": upload_uuid, "token": token, "n": length}) is not None

    async def set_multipart(self, upload_uuid: str, token: str, storage_upload_id: str) -> bool:
        return await self._one(
            "UPDATE upload_sessions s SET storage_upload_id = %(up)s, updated_at = now()"
            " FROM tus_uploads t WHERE s.upload_uuid = %(id)s AND t.upload_uuid = s.upload_uuid"
            " AND t.writer_token = %(token)s AND s.storage_upload_id IS NULL"
            " AND s.state = ANY(%(active)s) RETURNING 1",
            {"up": storage_upload_id, "id": upload_uuid, "token": token,
             "active": list(ACTIVE)}) is not None

    async def record(self, upload_uuid: str, token: str, *, parts: list[Part], received: int,
                     tail: tuple[str, int, str] | None, release: bool) -> bool:
        """Records stored bytes for the lease holder while the session takes bytes: `parts`
        (stored S3 parts), the offset `received`, the tail now holding the bytes after the last
        part (key, size, SHA-256), and gives the lease back when `release`. False: the lease was
        lost or the session stopped taking bytes (nothing recorded)."""
        numbers, etags, sizes, shas = _parts(parts)
        key, size, sha = tail if tail is not None else (None, 0, None)
        row = await self._one(
            "WITH w AS (SELECT upload_uuid FROM tus_uploads WHERE upload_uuid = %(id)s"
            "  AND writer_token = %(token)s FOR UPDATE),"
            " s AS (UPDATE upload_sessions SET state = %(uploading)s, updated_at = now()"
            "  WHERE upload_uuid IN (SELECT upload_uuid FROM w) AND state = ANY(%(active)s)"
            "  AND expires_at > now() RETURNING upload_uuid),"
            " t AS (UPDATE tus_uploads SET received_bytes = %(received)s, tail_key = %(key)s,"
            "  tail_bytes = %(size)s, tail_sha256 = %(sha)s, writer_at = now(),"
            "  writer_token = CASE WHEN %(release)s THEN NULL ELSE writer_token END"
            "  WHERE upload_uuid IN (SELECT upload_uuid FROM s) RETURNING upload_uuid),"
            " ins AS (" + _INSERT_PARTS.format(src="t") + ")"
            " SELECT count(*) AS n FROM t",
            {"uploading": UPLOADING, "id": upload_uuid, "active": list(ACTIVE), "token": token,
             "received": received, "key": key, "size": size, "sha": sha, "release": release,
             "numbers": numbers, "etags": etags, "sizes": sizes, "shas": shas})
        return row is not None and int(row["n"]) == 1

    async def record_final(self, upload_uuid: str, token: str, *, parts: list[Part],
                           received: int) -> Session | None:
        """Records the last bytes (the upload's length is in) and claims the session for
        completion in the same statement: a crash after it leaves a `completing` session whose
        claim lapses and is finished by the next caller or the reaper. None: lease lost or the
        session stopped taking bytes."""
        numbers, etags, sizes, shas = _parts(parts)
        return _split_session(await self._one(
            "WITH w AS (SELECT upload_uuid FROM tus_uploads WHERE upload_uuid = %(id)s"
            "  AND writer_token = %(token)s FOR UPDATE),"
            " s AS (UPDATE upload_sessions SET state = %(completing)s,"
            "  claim_token = %(claim)s, claimed_at = now(), updated_at = now()"
            "  WHERE upload_uuid IN (SELECT upload_uuid FROM w) AND state = ANY(%(active)s)"
            f"  AND expires_at > now() RETURNING {SESSION_COLUMNS}),"
            " t AS (UPDATE tus_uploads SET received_bytes = %(received)s, tail_key = NULL,"
            "  tail_bytes = 0, tail_sha256 = NULL, writer_token = NULL, writer_at = NULL"
            "  WHERE upload_uuid IN (SELECT upload_uuid::uuid FROM s)),"
            " ins AS (" + _INSERT_PARTS.format(src="s") + ")"
            " SELECT * FROM s",
            {"completing": COMPLETING, "claim": str(uuid.uuid4()), "id": upload_uuid,
             "active": list(ACTIVE), "token": token, "received": received,
             "numbers": numbers, "etags": etags, "sizes": sizes, "shas": shas}))

    async def record_whole(self, upload_uuid: str, claim_token: str, part: Part) -> bool:
        """The one object of an upload written whole under its completion claim: its part row
        (size and SHA-256 for the completion) and the offset, the tail forgotten."""
        row = await self._one(
            "WITH s AS (SELECT upload_uuid FROM upload_sessions WHERE upload_uuid = %(id)s"
            "  AND state = %(completing)s AND claim_token = %(claim)s FOR UPDATE),"
            " t AS (UPDATE tus_uploads SET received_bytes = %(size)s, tail_key = NULL,"
            "  tail_bytes = 0, tail_sha256 = NULL, writer_token = NULL, writer_at = NULL"
            "  WHERE upload_uuid IN (SELECT upload_uuid FROM s) RETURNING upload_uuid),"
            " ins AS (" + _INSERT_PARTS.format(src="t") + ")"
            " SELECT count(*) AS n FROM t",
            {"id": upload_uuid, "completing": COMPLETING, "claim": claim_token,
             "size": part.size_bytes, "numbers": [part.part_number], "etags": [part.etag],
             "sizes": [part.size_bytes], "shas": [part.sha256]})
        return row is not None and int(row["n"]) == 1

    async def tails(self, upload_uuids: list[str]) -> dict[str, str | None]:
        """For the temporary-object sweep: each of these uploads that still takes bytes or is
        being completed → its current tail key (None: no tail). Uploads not listed hold nothing
        worth keeping."""
        async with pooled(self._pool, "upload") as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT s.upload_uuid::text AS id, t.tail_key FROM upload_sessions s"
                " JOIN tus_uploads t USING (upload_uuid)"
                " WHERE s.upload_uuid = ANY(%(ids)s::uuid[]) AND s.state = ANY(%(live)s)",
                {"ids": upload_uuids, "live": [*ACTIVE, COMPLETING]})
            return {row["id"]: row["tail_key"] for row in await cur.fetchall()}


def _split_session(row: dict[str, Any] | None) -> Session | None:
    return Session(**row) if row is not None else None
