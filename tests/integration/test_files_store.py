"""The files store, S3 adapter, janitor and audit against real PostgreSQL (the `stack_deps`
fixture) and real S3: SQL ordering and visibility, transactions, object copy/delete. The tests
that touch objects run against both S3 servers (`s3_store`: SeaweedFS and MinIO)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from minio import Minio
from psycopg_pool import AsyncConnectionPool

from common.db import DatabaseSettings, open_pool
from common.errors import AlreadyExists, Unavailable
from common.files import NewFile
from common.migrations import apply_migrations
from svc_files.config import Rules, S3Settings
from svc_files.janitor import Janitor
from svc_files.models import ResolvedUser, ShareGrant
from svc_files.s3 import S3Objects
from svc_files.service import FilesService
from svc_files.store import PgCatalog
from tests.support.databases import fresh_database, small_pool

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "svc_files" / "migrations"


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def files_db_url(stack_deps) -> str:  # type: ignore[no-untyped-def]
    return fresh_database(stack_deps, "files_store")


@pytest.fixture(scope="module")
async def migrated(files_db_url: str) -> list[int]:
    return await apply_migrations(files_db_url, MIGRATIONS)


@pytest.fixture
async def pool(files_db_url: str, migrated: list[int]) -> AsyncIterator[AsyncConnectionPool]:
    async with small_pool(files_db_url, "files-it") as pool:
        yield pool


@pytest.fixture
def store(pool: AsyncConnectionPool) -> PgCatalog:
    return PgCatalog(pool)


@pytest.fixture(scope="module")
def s3_settings(s3_stack) -> S3Settings:  # type: ignore[no-untyped-def]
    return S3Settings(
        endpoint=s3_stack.s3_endpoint, public_endpoint=s3_stack.s3_endpoint,
        access_key=s3_stack.s3_access_key, secret_key=s3_stack.s3_secret_key,
        bucket=s3_stack.s3_bucket, region=s3_stack.s3_region, timeout_s=10.0,
    )


@pytest.fixture(scope="module")
def minio(s3_settings: S3Settings) -> Minio:
    host = s3_settings.endpoint.split("://", 1)[1]
    client = Minio(host, s3_settings.access_key, s3_settings.secret_key, secure=False,
                   region=s3_settings.region)
    if not client.bucket_exists(s3_settings.bucket):
        client.make_bucket(s3_settings.bucket)
    return client


@pytest.fixture
async def objects(s3_settings: S3Settings, minio: Minio) -> AsyncIterator[S3Objects]:
    objects = S3Objects(s3_settings)
    yield objects
    await objects.close()


class Directory:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        return {e: ResolvedUser(self.users[e], e) for e in emails if e in self.users}


def put(minio: Minio, bucket: str, key: str, data: bytes) -> None:
    minio.put_object(bucket, key, io.BytesIO(data), len(data))


def exists(minio: Minio, bucket: str, key: str) -> bool:
    try:
        minio.stat_object(bucket, key)
    except Exception:
        return False
    return True


async def register(store: PgCatalog, owner: str, name: str = "a.txt",
                   key: str | None = None) -> NewFile:
    file_id = uid()
    new = NewFile(uid(), file_id, owner, name, "text/plain", 3, "c",
                  key or f"users/{owner}/{file_id}")
    await store.register_file(new)
    return new


async def test_migrations_are_idempotent(files_db_url: str, migrated: list[int]) -> None:
    assert migrated == [1, 2]
    assert await apply_migrations(files_db_url, MIGRATIONS) == []


async def test_the_quota_migration_counts_files_stored_before_it(stack_deps, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                 ) -> None:
    url = fresh_database(stack_deps, "files_backfill")
    (tmp_path / "001_init.sql").write_text((MIGRATIONS / "001_init.sql").read_text())
    assert await apply_migrations(url, tmp_path) == [1]
    pool = await open_pool(DatabaseSettings(url=url, pool_min=1, pool_max=2), "files-backfill")
    try:
        owner = uid()
        async with pool.connection() as conn:
            for size in (3, 4):
                file_id = uid()
                await conn.execute(
                    "INSERT INTO files (file_id, upload_id, owner_id, name, mime_type,"
                    " size_bytes, storage_key) VALUES (%s, %s, %s, 'a', 'x/y', %s, %s)",
                    (file_id, uid(), owner, size, f"users/{owner}/{file_id}"))
        assert await apply_migrations(url, MIGRATIONS) == [2]
        usage = await PgCatalog(pool, 100).usage(owner)
        assert (usage.used_bytes, usage.files, usage.reserved_bytes) == (7, 2, 0)
    finally:
        await pool.close()


async def test_register_is_idempotent_and_unique(store: PgCatalog) -> None:
    owner = uid()
    new = await register(store, owner)
    again, created = await store.register_file(NewFile(new.upload_id, uid(), owner, "b", "x/y", 1,
                                                       "", "users/other"))
    assert not created and again.file_id == new.file_id and again.name == "a.txt"
    with pytest.raises(AlreadyExists):  # same file id, different upload
        await store.register_file(NewFile(uid(), new.file_id, owner, "b", "x/y", 1, "", "k2"))
    with pytest.raises(AlreadyExists):  # same storage key, different upload
        await store.register_file(NewFile(uid(), uid(), owner, "b", "x/y", 1, "", new.storage_key))


async def test_lists_order_visibility_and_pages(store: PgCatalog) -> None:
    owner, friend = uid(), uid()
    made = [await register(store, owner, f"f{i}") for i in range(5)]
    page1 = await store.list_owned(owner, 3, 0)
    page2 = await store.list_owned(owner, 3, 3)
    ids = [f.file_id for f in page1 + page2]
    assert ids == [m.file_id for m in made][::-1]
    await store.upsert_shares(made[0].file_id, [ShareGrant(friend, "f@x.com", "viewer")])
    await store.upsert_shares(made[1].file_id, [ShareGrant(friend, "f@x.com", "editor")])
    shared = await store.list_shared(friend, 10, 0)
    assert [(g.file.file_id, g.share_permission) for g in shared] == [
        (made[1].file_id, "editor"), (made[0].file_id, "viewer")]
    await store.add_shortcut(made[0].file_id, friend, uid())
    assert len(await store.list_shortcuts(friend, 10, 0)) == 1
    assert await store.remove_share(made[0].file_id, friend)
    assert await store.list_shortcuts(friend, 10, 0) == []  # revoked: gone from shortcuts
    await store.set_public(made[0].file_id, True)
    visible = await store.list_shortcuts(friend, 10, 0)  # public again: visible
    assert visible and visible[0].file.is_public
    pending = await store.soft_delete(made[1].file_id)
    assert pending is not None
    assert await store.soft_delete(made[1].file_id) is None
    assert made[1].file_id not in [f.file_id for f in await store.list_owned(owner, 10, 0)]
    assert [g.file.file_id for g in await store.list_shared(friend, 10, 0)] == []
    assert await store.get_grant(made[1].file_id, owner) is None


async def test_pool_exhaustion_is_unavailable(files_db_url: str, migrated: list[int]) -> None:
    async with small_pool(files_db_url, "files-it-tiny", size=1, timeout_s=0.2) as pool:
        async with pool.connection():
            with pytest.raises(Unavailable):
                await PgCatalog(pool).list_owned(uid(), 1, 0)


async def test_service_against_real_store_and_s3(store: PgCatalog, objects: S3Objects,
                                                 minio: Minio, s3_settings: S3Settings) -> None:
    bucket = s3_settings.bucket
    owner, friend = uid(), uid()
    service = FilesService(store, objects, Directory({"friend@example.com": friend}), Rules())
    new = await register(store, owner, "ünïcode name.txt")
    put(minio, bucket, new.storage_key, b"abc")

    # presigned download works over plain HTTP with the right disposition
    link = await service.download_link(owner, new.file_id)
    async with aiohttp.ClientSession() as http, http.get(link.url) as r:
        assert r.status == 200 and await r.read() == b"abc"
        assert "filename*=UTF-8''%C3%BCn%C3%AFcode%20name.txt" in r.headers["Content-Disposition"]

    # copy: independent bytes, owned by the copier
    await service.add_shares(owner, new.file_id, [("Friend@Example.com", "viewer")])
    copied = await service.copy(friend, new.file_id)
    assert copied.file.storage_key == f"users/{friend}/{copied.file.file_id}"
    await service.delete(owner, new.file_id)
    assert not exists(minio, bucket, new.storage_key)  # delete removed the object
    data = minio.get_object(bucket, copied.file.storage_key)
    try:
        assert data.read() == b"abc"
    finally:
        data.close()
        data.release_conn()


async def test_janitor_retries_and_audit(store: PgCatalog, objects: S3Objects, minio: Minio,
                                         s3_settings: S3Settings) -> None:
    bucket = s3_settings.bucket
    owner = uid()
    live = await register(store, owner)
    put(minio, bucket, live.storage_key, b"x")
    gone = await register(store, owner)
    put(minio, bucket, gone.storage_key, b"y")
    orphan_key = f"users/{owner}/{uid()}"
    put(minio, bucket, orphan_key, b"z")
    missing = await register(store, owner)  # a row whose object never arrived

    # an unreachable S3 leaves the delete owed; a working one settles it
    broken = S3Objects(S3Settings(endpoint="http://127.0.0.1:9", access_key="k", secret_key="s",
                                  bucket=bucket, timeout_s=0.5))
    pending_id = await store.soft_delete(gone.file_id)
    assert pending_id is not None
    assert await Janitor(store, broken).run_once() == 0
    await broken.close()
    assert await store.count_pending() >= 1
    assert exists(minio, bucket, gone.storage_key)
    async with store._pool.connection() as conn:  # make the retry due now
        await conn.execute("UPDATE pending_deletes SET next_attempt_at = now()")
    assert await Janitor(store, objects).run_once() >= 1
    assert not exists(minio, bucket, gone.storage_key)
    assert await store.count_pending() == 0

    report = await Janitor(store, objects).audit()
    assert orphan_key in report.orphan_keys
    assert missing.storage_key in report.missing_keys
    assert live.storage_key not in report.orphan_keys + report.missing_keys


async def test_audit_command_prints_json(files_db_url: str, migrated: list[int],
                                         s3_settings: S3Settings, minio: Minio) -> None:
    env = {**os.environ, "GOVAULT_DATABASE_URL": files_db_url,
           "GOVAULT_S3_ENDPOINT": s3_settings.endpoint,
           "GOVAULT_S3_ACCESS_KEY": s3_settings.access_key,
           "GOVAULT_S3_SECRET_KEY": s3_settings.secret_key,
           "GOVAULT_S3_BUCKET": s3_settings.bucket, "GOVAULT_S3_REGION": s3_settings.region}
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "svc_files", "audit"], env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in ("rows", "objects", "orphan_objects", "missing_objects", "pending_deletes"):
        assert isinstance(report[key], int)


async def test_presign_makes_no_network_call() -> None:
    nowhere = S3Objects(S3Settings(endpoint="http://127.0.0.1:9",
                                   public_endpoint="https://cdn.example", access_key="k",
                                   secret_key="s", bucket="bucket", timeout_s=0.5))
    url = nowhere.presign_get("users/a/b", timedelta(minutes=5), "a.txt", "text/plain")
    assert url.startswith("https://cdn.example/bucket/users/a/b?")
