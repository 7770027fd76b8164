"""Replica safety against one real PostgreSQL and SeaweedFS (`stack_deps`): what N replicas of a
service do at the same time to the same database.

- Migrations: several processes starting together on a fresh database apply each migration
  exactly once (the transaction-scoped advisory lock of common.migrations).
- Background jobs (common.background.led): two replicas running passes of the upload reaper, the
  files janitor and the auth token purge at the same time, each with its own pool and S3 client,
  settle every item exactly once (each S3 deletion made once, the summaries add up), and a
  replica that dies mid-pass hands the job over with its connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from common import background
from common.db import DatabaseSettings, open_pool
from common.files import NewFile
from common.migrations import _LOCK_KEY, apply_migrations, pending_files
from common.s3 import S3Settings
from svc_auth.__main__ import PURGE_JOB
from svc_auth.housekeeping import purge_once
from svc_auth.store import PgAccounts
from svc_auth.tokens import hash_refresh_token, new_refresh_token
from svc_files.__main__ import JANITOR_JOB
from svc_files.janitor import Janitor
from svc_files.s3 import S3Objects as FilesObjects
from svc_files.store import PgCatalog
from svc_upload.__main__ import REAPER_JOB
from svc_upload.config import UploadRules
from svc_upload.models import EXPIRED
from svc_upload.reaper import Reaper, ReapSummary
from svc_upload.s3 import S3Objects as UploadObjects
from svc_upload.seams import Deps
from svc_upload.service import UploadService
from svc_upload.store import PgLedger

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MIGRATION_FOLDERS = {svc: REPO / f"svc_{svc}" / "migrations" for svc in ("auth", "files", "upload")}
MIB = 1024 * 1024
OWNER = str(uuid.uuid4())
T = TypeVar("T")


def _fresh_db(stack_deps: Any, label: str) -> str:
    return str(stack_deps.create_database(f"{label}_{uuid.uuid4().hex[:8]}"))


def _s3_settings(stack_deps: Any) -> S3Settings:
    return S3Settings(endpoint=stack_deps.s3_endpoint, public_endpoint=stack_deps.s3_endpoint,
                      access_key=stack_deps.s3_access_key, secret_key=stack_deps.s3_secret_key,
                      bucket=stack_deps.s3_bucket, region=stack_deps.s3_region, timeout_s=30,
                      transfer_timeout_s=60, max_connections=16, create_bucket=True)


async def _pool(url: str, name: str) -> AsyncConnectionPool:
    return await open_pool(DatabaseSettings(url=url, pool_min=1, pool_max=6,
                                            pool_timeout_s=10), name)


# migrations ---------------------------------------------------------------------------------

_MIGRATE = ("import asyncio, json, sys; from pathlib import Path;"
            " from common.migrations import apply_migrations;"
            " print(json.dumps(asyncio.run(apply_migrations(sys.argv[1], Path(sys.argv[2])))))")


@pytest.mark.parametrize("service", sorted(MIGRATION_FOLDERS))
async def test_processes_migrating_one_fresh_database_at_once_apply_each_migration_once(
        stack_deps: Any, service: str) -> None:
    """Four processes are started while the test holds the migration lock, and all of them are
    seen waiting for it before it is released: they really run at the same time."""
    url = _fresh_db(stack_deps, f"mig_{service}")
    folder = MIGRATION_FOLDERS[service]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", _MIGRATE, url, str(folder), cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(4)]
        deadline = time.monotonic() + 120  # four Pythons start, import, connect
        while time.monotonic() < deadline:
            cur = await holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            row = await cur.fetchone()
            if row and row[0] == 4:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the four migrating processes never all waited for the lock")
        await holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    outputs = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    applied = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    versions = [version for version, _ in pending_files(folder)]
    assert sorted(v for each in applied for v in each) == versions  # each exactly once
    assert sorted(map(len, applied)) == [0, 0, 0, len(versions)]  # by one of them
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in await cur.fetchall()] == versions


# the leader lock ----------------------------------------------------------------------------


async def test_a_job_runs_on_one_replica_at_a_time_and_a_dead_leader_hands_it_over(
        stack_deps: Any) -> None:
    url = _fresh_db(stack_deps, "leader")
    ran: list[str] = []

    def job(name: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            ran.append(name)
            return name
        return run

    first, second = await _pool(url, "replica-1"), await _pool(url, "replica-2")
    try:
        async with background.leading(first, "test.job") as leader:
            assert leader
            assert await background.led(second, "test.job", job("second"))() is None
            assert await background.led(second, "other.job", job("other"))() == "other"
        assert await background.led(second, "test.job", job("second"))() == "second"
        assert ran == ["other", "second"]

        # A leader whose process dies mid-pass: its connection ends, and with it the lock.
        dying = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await dying.execute("SELECT pg_advisory_lock(%s)", (background.lock_key("test.job"),))
        assert await background.led(second, "test.job", job("second"))() is None
        await dying.close()
        deadline = time.monotonic() + 30  # the server notices the closed socket at once
        while time.monotonic() < deadline:
            if await background.led(second, "test.job", job("second"))() == "second":
                break
            await asyncio.sleep(0.05)
        assert ran == ["other", "second", "second"]
        # no pooled connection was returned holding a lock
        async with first.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                     " AND granted")
            assert await cur.fetchone() == (0,)
    finally:
        await first.close()
        await second.close()


async def _two_replicas_racing(passes: list[Callable[[], Awaitable[T | None]]], rounds: int = 3
                               ) -> list[T]:
    """Every replica runs `rounds` passes back to back, all replicas at once; the results of the
    passes that ran (a skipped pass is None)."""
    async def replica(run: Callable[[], Awaitable[T | None]]) -> list[T | None]:
        return [await run() for _ in range(rounds)]
    results = await asyncio.gather(*(replica(run) for run in passes))
    return [result for each in results for result in each if result is not None]


# the upload reaper --------------------------------------------------------------------------


class CountingUploadObjects(UploadObjects):
    """The real S3 adapter, counting the deletions and aborts it makes per key."""

    deleted: Counter[str] = Counter()
    aborted: Counter[str] = Counter()

    async def delete(self, key: str) -> None:
        type(self).deleted[key] += 1
        await super().delete(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        type(self).aborted[key] += 1
        await super().abort_multipart(key, upload_id)


@dataclass
class UploadReplica:
    pool: AsyncConnectionPool
    objects: UploadObjects
    service: UploadService
    reaper: Reaper


RULES = UploadRules(chunk_size_bytes=5 * MIB, max_file_size_bytes=100 * MIB, session_ttl_s=3600,
                    presign_expiry_s=900, completing_lease_s=30, completion_wait_s=10)


class _NoFiles:
    """The files service as expiry sees it: nothing is registered, reservations are released
    (counted, to show each expired session releases once)."""

    def __init__(self) -> None:
        self.released: list[str] = []

    async def register_file(self, registration: NewFile) -> str:
        raise AssertionError("expiry registers nothing")

    async def reserve_quota(self, user_id: str, upload_uuid: str, size_bytes: int) -> None:
        pass  # the sessions this test expires are opened through the service

    async def release_quota(self, upload_uuid: str) -> int:
        self.released.append(upload_uuid)
        return 0


@pytest.fixture
async def upload_replicas(stack_deps: Any) -> AsyncIterator[list[UploadReplica]]:
    url = _fresh_db(stack_deps, "reaper")
    await apply_migrations(url, MIGRATION_FOLDERS["upload"])
    made = []
    for n in (1, 2):
        pool = await _pool(url, f"upload-{n}")
        objects = await CountingUploadObjects.open(_s3_settings(stack_deps))
        ledger = PgLedger(pool)
        service = UploadService(Deps(ledger, objects, _NoFiles(), RULES))
        made.append(UploadReplica(pool, objects, service, Reaper(service, ledger, 30, 10)))
    yield made
    for replica in made:
        await replica.objects.close()
        await replica.pool.close()


async def test_two_reapers_settle_every_expired_session_once(
        upload_replicas: list[UploadReplica]) -> None:
    one = upload_replicas[0]
    sessions = []
    for n in range(24):  # batches of 10: each pass pages through them
        if n % 3 == 0:  # a multipart upload open in S3
            sessions.append((await one.service.create_multipart_session(
                OWNER, f"m{n}.bin", 11 * MIB, 5 * MIB)).session)
            continue
        session = (await one.service.create_proxy_session(OWNER, f"p{n}.bin", MIB)).session
        if n % 3 == 1:  # a one-chunk writer that crashed after its PUT
            await one.objects.put_object_stream(session.storage_key, 3, _bytes(b"abc"))
        sessions.append(session)
    async with one.pool.connection() as conn:
        await conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'")

    summaries: list[ReapSummary] = await _two_replicas_racing(
        [background.led(r.pool, REAPER_JOB, r.reaper.run_once) for r in upload_replicas])

    expired = Counter(u for summary in summaries for u in summary.expired_uploads)
    assert expired == Counter({s.upload_uuid: 1 for s in sessions})
    assert sum(summary.expired for summary in summaries) == len(sessions)
    assert sum(summary.multipart_aborted for summary in summaries) == 8
    assert sum(summary.errors for summary in summaries) == 0
    assert CountingUploadObjects.deleted == Counter({s.storage_key: 1 for s in sessions})
    assert CountingUploadObjects.aborted == Counter(
        {s.storage_key: 1 for s in sessions if s.storage_upload_id})
    for session in sessions:
        current = await one.service._deps.ledger.get_session(session.upload_uuid)
        assert current is not None and current.state == EXPIRED
        assert await one.objects.stat(session.storage_key) is None
        if session.storage_upload_id:
            assert not await one.objects.multipart_exists(session.storage_key,
                                                          session.storage_upload_id)


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


# the files janitor --------------------------------------------------------------------------


class CountingFilesObjects(FilesObjects):
    removed: Counter[str] = Counter()

    async def remove(self, key: str) -> None:
        type(self).removed[key] += 1
        await super().remove(key)


async def test_two_janitors_remove_every_owed_object_once(stack_deps: Any) -> None:
    url = _fresh_db(stack_deps, "janitor")
    await apply_migrations(url, MIGRATION_FOLDERS["files"])
    s3 = _s3_settings(stack_deps)
    replicas = []
    for n in (1, 2):
        pool = await _pool(url, f"files-{n}")
        replicas.append((pool, CountingFilesObjects(s3), n))
    writer = await UploadObjects.open(s3)
    try:
        first_pool, first_objects, _ = replicas[0]
        catalog = PgCatalog(first_pool)
        keys = []
        for n in range(20):
            key = f"users/{OWNER}/{uuid.uuid4()}"
            await writer.put_object_stream(key, 4, _bytes(b"owed"))
            record, _ = await catalog.register_file(NewFile(
                upload_id=str(uuid.uuid4()), file_id=str(uuid.uuid4()), owner_id=OWNER,
                name=f"f{n}.bin", mime_type="application/octet-stream", size_bytes=4,
                checksum="", storage_key=key))
            # deleted while S3 was down: the row is gone from every list, the object is owed
            assert await catalog.soft_delete(record.file_id) is not None
            keys.append(key)

        settled = await _two_replicas_racing([
            background.led(pool, JANITOR_JOB, Janitor(PgCatalog(pool), objects, batch=8).run_once)
            for pool, objects, _ in replicas])

        assert sum(settled) == len(keys)
        assert CountingFilesObjects.removed == Counter({key: 1 for key in keys})
        assert await catalog.count_pending() == 0
        for key in keys:
            assert not await first_objects.exists(key)
    finally:
        await writer.close()
        for pool, objects, _ in replicas:
            await objects.close()
            await pool.close()


# the auth token purge -----------------------------------------------------------------------


async def test_two_token_purges_delete_every_expired_token_once(stack_deps: Any) -> None:
    url = _fresh_db(stack_deps, "purge")
    await apply_migrations(url, MIGRATION_FOLDERS["auth"])
    pools = [await _pool(url, f"auth-{n}") for n in (1, 2)]
    try:
        store = PgAccounts(pools[0])
        user = await store.create_user(f"u_{uuid.uuid4().hex[:8]}",
                                       f"{uuid.uuid4().hex[:8]}@example.com", "h")
        past = datetime.now(UTC) - timedelta(hours=1)
        for _ in range(30):
            await store.create_family(user.user_id, hash_refresh_token(new_refresh_token()), past)
        live = hash_refresh_token(new_refresh_token())
        await store.create_family(user.user_id, live, datetime.now(UTC) + timedelta(days=1))

        def purge(pool: AsyncConnectionPool) -> Callable[[], Awaitable[int]]:
            return lambda: purge_once(PgAccounts(pool), batch=7)

        purged = await _two_replicas_racing([background.led(pool, PURGE_JOB, purge(pool))
                                             for pool in pools])

        assert sum(purged) == 30
        assert await store.find_refresh_token(live) is not None
        async with pools[0].connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM refresh_tokens")
            assert await cur.fetchone() == (1,)
    finally:
        for pool in pools:
            await pool.close()
