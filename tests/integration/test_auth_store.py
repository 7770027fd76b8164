"""The auth store and migrations against a real PostgreSQL (the `stack_deps` fixture)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from common.errors import AlreadyExists, Unauthenticated, Unavailable
from common.migrations import apply_migrations
from svc_auth.__main__ import MIGRATIONS
from svc_auth.config import HashSettings
from svc_auth.passwords import Argon2Hasher
from svc_auth.service import AuthService
from svc_auth.store import PgAccounts
from svc_auth.throttle import LoginThrottle
from svc_auth.tokens import TokenIssuer, hash_refresh_token, new_refresh_token
from tests.support.databases import fresh_database, small_pool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def auth_db_url(stack_deps: Any) -> str:
    return fresh_database(stack_deps, "auth_store")


@pytest.fixture(scope="module")
async def migrated(auth_db_url: str) -> list[int]:
    return await apply_migrations(auth_db_url, MIGRATIONS)


@pytest.fixture
async def pool(auth_db_url: str, migrated: list[int]) -> AsyncIterator[AsyncConnectionPool]:
    async with small_pool(auth_db_url, "auth-it") as pool:
        yield pool


@pytest.fixture
def store(pool: AsyncConnectionPool) -> PgAccounts:
    return PgAccounts(pool)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _later(days: int = 1) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def test_migrations_apply_once_then_are_a_no_op(auth_db_url: str,
                                                      migrated: list[int]) -> None:
    assert migrated == [1]
    assert await apply_migrations(auth_db_url, MIGRATIONS) == []
    async with await psycopg.AsyncConnection.connect(auth_db_url) as conn:
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in await cur.fetchall()] == [1]
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " ORDER BY table_name")
        assert {row[0] for row in await cur.fetchall()} >= {
            "users", "refresh_families", "refresh_tokens", "schema_migrations"}


async def test_concurrent_migrations_are_safe(stack_deps: Any) -> None:
    url = fresh_database(stack_deps, "auth_mig")
    results = await asyncio.gather(*(apply_migrations(url, MIGRATIONS) for _ in range(3)))
    assert sorted(results) == [[], [], [1]]


async def test_users_round_trip(store: PgAccounts) -> None:
    tag = _tag()
    user = await store.create_user(f"u_{tag}", f"{tag}@example.com", "$argon2id$fake")
    assert user.created_at.tzinfo is not None
    creds = await store.credentials_by_email(f"{tag}@example.com")
    assert creds is not None and creds.user == user and creds.password_hash == "$argon2id$fake"
    assert await store.user_by_id(user.user_id) == user
    assert await store.user_by_id(str(uuid.uuid4())) is None
    assert await store.user_by_id("not-a-uuid") is None
    assert await store.credentials_by_email(f"other-{tag}@example.com") is None
    found = await store.users_by_emails([f"{tag}@example.com", "nobody@example.com"])
    assert found == [user]
    await store.update_password_hash(user.user_id, "$argon2id$new")
    creds = await store.credentials_by_email(f"{tag}@example.com")
    assert creds is not None and creds.password_hash == "$argon2id$new"


async def test_unique_email_and_case_insensitive_username(store: PgAccounts) -> None:
    tag = _tag()
    await store.create_user(f"u_{tag}", f"{tag}@example.com", "h")
    with pytest.raises(AlreadyExists) as email:
        await store.create_user(f"v_{tag}", f"{tag}@example.com", "h")
    assert email.value.code == "EMAIL_TAKEN"
    with pytest.raises(AlreadyExists) as name:
        await store.create_user(f"U_{tag.upper()}", f"x{tag}@example.com", "h")
    assert name.value.code == "USERNAME_TAKEN"


async def test_refresh_family_rotation_and_revocation(store: PgAccounts) -> None:
    tag = _tag()
    user = await store.create_user(f"u_{tag}", f"{tag}@example.com", "h")
    first = hash_refresh_token(new_refresh_token())
    family = await store.create_family(user.user_id, first, _later())
    record = await store.find_refresh_token(first)
    assert record is not None
    assert (record.family_id, record.user, record.rotated, record.family_revoked) == (
        family, user, False, False)

    second = hash_refresh_token(new_refresh_token())
    assert await store.rotate_refresh_token(first, second, _later()) == user
    assert await store.rotate_refresh_token(first, hash_refresh_token("x"), _later()) is None
    rotated = await store.find_refresh_token(first)
    assert rotated is not None and rotated.rotated
    current = await store.find_refresh_token(second)
    assert current is not None and current.family_id == family and not current.rotated

    await store.revoke_family(family)
    revoked = await store.find_refresh_token(second)
    assert revoked is not None and revoked.family_revoked
    assert await store.rotate_refresh_token(second, hash_refresh_token("y"), _later()) is None
    assert await store.find_refresh_token(hash_refresh_token("never issued")) is None


async def test_concurrent_rotations_have_exactly_one_winner(store: PgAccounts) -> None:
    tag = _tag()
    user = await store.create_user(f"u_{tag}", f"{tag}@example.com", "h")
    token = hash_refresh_token(new_refresh_token())
    await store.create_family(user.user_id, token, _later())
    results = await asyncio.gather(*(
        store.rotate_refresh_token(token, hash_refresh_token(new_refresh_token()), _later())
        for _ in range(8)))
    assert [r for r in results if r is not None] == [user]


async def test_expired_token_cannot_rotate_and_is_cleaned_up(store: PgAccounts) -> None:
    tag = _tag()
    user = await store.create_user(f"u_{tag}", f"{tag}@example.com", "h")
    token = hash_refresh_token(new_refresh_token())
    await store.create_family(user.user_id, token, datetime.now(UTC) - timedelta(seconds=1))
    assert await store.rotate_refresh_token(token, hash_refresh_token("z"), _later()) is None
    assert await store.delete_expired_tokens() >= 1
    assert await store.find_refresh_token(token) is None


async def test_exhausted_pool_is_unavailable(auth_db_url: str, migrated: list[int]) -> None:
    async with small_pool(auth_db_url, "auth-it-small", size=1, timeout_s=0.2) as pool:
        async with pool.connection():
            with pytest.raises(Unavailable):
                await PgAccounts(pool).user_by_id(str(uuid.uuid4()))


async def test_service_refresh_reuse_against_postgres(store: PgAccounts) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    hasher = Argon2Hasher(HashSettings(time_cost=1, memory_kib=1024,
                                       parallelism=1, workers=1, queue_max=8))
    try:
        service = AuthService(store, hasher, TokenIssuer(Ed25519PrivateKey.generate(), 900),
                              LoginThrottle(300, 10, 50), refresh_ttl_s=3600)
        tag = _tag()
        await service.sign_up(f"u_{tag}", f"{tag.upper()}@Example.com", "Test@1234")
        session = await service.login(f"{tag}@example.com", "Test@1234", "127.0.0.1")
        results = await asyncio.gather(*(service.refresh(session.refresh_token)
                                         for _ in range(4)), return_exceptions=True)
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, Unauthenticated) for r in results if r not in winners)
        with pytest.raises(Unauthenticated):  # the family was revoked by the losers
            await service.refresh(winners[0].refresh_token)
    finally:
        hasher.close()
