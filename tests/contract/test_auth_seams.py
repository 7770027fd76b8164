"""The auth Accounts seam: FakeAccounts vs PgAccounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from common.errors import AlreadyExists
from svc_auth.seams import Accounts
from svc_auth.store import PgAccounts
from svc_auth.tokens import hash_refresh_token, new_refresh_token
from tests.contract.conftest import fake_or_pg
from tests.fakes.auth import FakeAccounts

LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
async def accounts(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Accounts]:
    async with fake_or_pg(kind, request, "auth", FakeAccounts, PgAccounts) as adapter:
        yield cast(Accounts, adapter)  # the fake and the real adapter both satisfy it


async def test_emails_and_usernames_are_taken_once(accounts: Accounts) -> None:
    user = await accounts.create_user("alice", "alice@example.com", "h1")
    with pytest.raises(AlreadyExists) as email:
        await accounts.create_user("alice2", "alice@example.com", "h2")
    with pytest.raises(AlreadyExists) as username:
        await accounts.create_user("alice", "other@example.com", "h3")
    assert (email.value.code, username.value.code) == ("EMAIL_TAKEN", "USERNAME_TAKEN")
    creds = await accounts.credentials_by_email("alice@example.com")
    assert creds is not None and creds.user == user and creds.password_hash == "h1"
    assert await accounts.credentials_by_email("nobody@example.com") is None
    assert await accounts.user_by_id(user.user_id) == user
    assert [u.user_id for u in await accounts.users_by_emails(["alice@example.com", "x@y.z"])
            ] == [user.user_id]
    await accounts.update_password_hash(user.user_id, "h4")
    creds = await accounts.credentials_by_email("alice@example.com")
    assert creds is not None and creds.password_hash == "h4"


async def test_a_refresh_token_rotates_exactly_once(accounts: Accounts) -> None:
    user = await accounts.create_user("bob", "bob@example.com", "h")
    first = hash_refresh_token(new_refresh_token())
    family = await accounts.create_family(user.user_id, first, LATER)
    record = await accounts.find_refresh_token(first)
    assert record is not None and record.family_id == family and not record.rotated
    wins = await asyncio.gather(*(accounts.rotate_refresh_token(
        first, hash_refresh_token(new_refresh_token()), LATER) for _ in range(4)))
    assert [w for w in wins if w is not None] == [user]  # the winner learns whose token it was
    record = await accounts.find_refresh_token(first)
    assert record is not None and record.rotated and not record.family_revoked
    assert await accounts.rotate_refresh_token(
        hash_refresh_token("never issued"), hash_refresh_token("n2"), LATER) is None


async def test_a_revoked_family_cannot_rotate(accounts: Accounts) -> None:
    user = await accounts.create_user("carol", "carol@example.com", "h")
    token = hash_refresh_token(new_refresh_token())
    family = await accounts.create_family(user.user_id, token, LATER)
    await accounts.revoke_family(family)
    record = await accounts.find_refresh_token(token)
    assert record is not None and record.family_revoked
    assert await accounts.rotate_refresh_token(token, hash_refresh_token("n"), LATER) is None
    assert await accounts.find_refresh_token(hash_refresh_token("unknown")) is None
