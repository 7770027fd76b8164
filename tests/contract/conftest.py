"""Each seam's cases run against the in-memory fake (tests/fakes/) AND the real adapter (real
PostgreSQL / SeaweedFS from the `stack_deps` fixture), so the fakes the unit tests trust cannot
drift from the SQL and the store. A test takes the `kind` fixture ("fake" or "real"); the store
seams take `store_kind` instead ("fake", "seaweedfs" or "minio": both real S3 servers,
docs/stores.md)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from psycopg_pool import AsyncConnectionPool

from common.db import DatabaseSettings, open_pool
from common.migrations import apply_migrations
from common.s3 import S3Settings

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(params=["fake", "real"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def migrated_pool(request: pytest.FixtureRequest, service: str) -> AsyncConnectionPool:
    stack = request.getfixturevalue("stack_deps")
    url = stack.create_database(f"contract_{service}_{uuid.uuid4().hex[:8]}")
    await apply_migrations(url, ROOT / f"svc_{service}" / "migrations")
    return await open_pool(DatabaseSettings(url=url, pool_min=1, pool_max=4), f"contract-{service}")


@pytest.fixture(params=["fake", "seaweedfs", "minio"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def s3_settings(request: pytest.FixtureRequest, store: str) -> S3Settings:
    """The bucket of the session's stack running `store` ("seaweedfs" or "minio")."""
    stack = request.getfixturevalue("stack_deps" if store == "seaweedfs" else "minio_deps")
    return S3Settings(endpoint=stack.s3_endpoint, access_key=stack.s3_access_key,
                      secret_key=stack.s3_secret_key, bucket=stack.s3_bucket,
                      region=stack.s3_region, timeout_s=10.0)


@asynccontextmanager
async def fake_or_pg(kind: str, request: pytest.FixtureRequest, service: str,
                     fake: Callable[[], T], real: Callable[[AsyncConnectionPool], T]
                     ) -> AsyncIterator[T]:
    """The fake, or the real PostgreSQL adapter on a fresh migrated database of `service`."""
    if kind == "fake":
        yield fake()
        return
    pool = await migrated_pool(request, service)
    try:
        yield real(pool)
    finally:
        await pool.close()
