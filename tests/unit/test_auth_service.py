"""AuthService rules with in-memory fakes: sign-up, login (throttle, unknown email costs a hash),
refresh rotation, reuse revoking the family, concurrent refresh, logout, account lookups."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.errors import AlreadyExists, InvalidArgument, ResourceExhausted, Unauthenticated
from svc_auth.models import Credentials, RefreshTokenRecord, User
from svc_auth.service import AuthService
from svc_auth.throttle import LoginThrottle
from svc_auth.tokens import TokenIssuer, hash_refresh_token

PASSWORD = "Test@1234"


@dataclass
class _Token:
    family_id: str
    user_id: str
    expires_at: datetime
    rotated: bool = False


class FakeStore:
    """The Store protocol in memory, with the same conditional-rotation semantics."""

    def __init__(self) -> None:
        self.users: dict[str, Credentials] = {}
        self.tokens: dict[bytes, _Token] = {}
        self.revoked: set[str] = set()
        self.before_rotate: asyncio.Event | None = None

    async def create_user(self, username: str, email: str, password_hash: str) -> User:
        for creds in self.users.values():
            if creds.user.email == email:
                raise AlreadyExists("taken", "EMAIL_TAKEN")
            if creds.user.username.lower() == username.lower():
                raise AlreadyExists("taken", "USERNAME_TAKEN")
        user = User(str(uuid.uuid4()), username, email, datetime.now(UTC))
        self.users[user.user_id] = Credentials(user, password_hash)
        return user

    async def credentials_by_email(self, email: str) -> Credentials | None:
        return next((c for c in self.users.values() if c.user.email == email), None)

    async def user_by_id(self, user_id: str) -> User | None:
        creds = self.users.get(user_id)
        return creds.user if creds else None

    async def users_by_emails(self, emails: Sequence[str]) -> list[User]:
        return [c.user for c in self.users.values() if c.user.email in emails]

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        self.users[user_id] = replace(self.users[user_id], password_hash=password_hash)

    async def create_family(self, user_id: str, token_hash: bytes, expires_at: datetime) -> str:
        family_id = str(uuid.uuid4())
        self.tokens[token_hash] = _Token(family_id, user_id, expires_at)
        return family_id

    async def find_refresh_token(self, token_hash: bytes) -> RefreshTokenRecord | None:
        token = self.tokens.get(token_hash)
        if token is None:
            return None
        return RefreshTokenRecord(token.family_id, self.users[token.user_id].user,
                                  token.expires_at, token.rotated,
                                  token.family_id in self.revoked)

    async def rotate_refresh_token(self, old_hash: bytes, new_hash: bytes,
                                   expires_at: datetime) -> bool:
        if self.before_rotate is not None:
            await self.before_rotate.wait()
        token = self.tokens[old_hash]
        if token.rotated or token.family_id in self.revoked:
            return False
        token.rotated = True
        self.tokens[new_hash] = _Token(token.family_id, token.user_id, expires_at)
        return True

    async def revoke_family(self, family_id: str) -> None:
        self.revoked.add(family_id)


class FakeHasher:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.overloaded = False
        self.stale = False

    async def hash(self, password: str) -> str:
        self._spend("hash")
        return f"h:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self._spend("verify")
        return password_hash == f"h:{password}"

    async def verify_dummy(self, password: str) -> None:
        self._spend("dummy")

    def needs_rehash(self, password_hash: str) -> bool:
        return self.stale

    def _spend(self, kind: str) -> None:
        if self.overloaded:
            raise ResourceExhausted("busy", "OVERLOADED")
        self.calls.append(kind)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.wall = datetime(2026, 1, 1, tzinfo=UTC)

    def mono(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=self.t)


@dataclass
class World:
    service: AuthService
    store: FakeStore
    hasher: FakeHasher
    clock: Clock


@pytest.fixture
def world() -> World:
    store, hasher, clock = FakeStore(), FakeHasher(), Clock()
    issuer = TokenIssuer(Ed25519PrivateKey.generate(), 900)
    throttle = LoginThrottle(300, 10, 50, clock=clock.mono)
    service = AuthService(store, hasher, issuer, throttle, refresh_ttl_s=3600, now=clock.now)
    return World(service, store, hasher, clock)


async def _signed_up(w: World, email: str = "Alice@Example.com") -> User:
    return await w.service.sign_up("alice", email, PASSWORD)


async def test_sign_up_normalises_email_and_hashes_password(world: World) -> None:
    user = await _signed_up(world, "  Alice@Example.COM ")
    assert user.email == "alice@example.com"
    assert world.store.users[user.user_id].password_hash == f"h:{PASSWORD}"


async def test_sign_up_validates_before_hashing(world: World) -> None:
    for username, email, password in [("al", "a@example.com", PASSWORD),
                                      ("alice", "not-an-email", PASSWORD),
                                      ("alice", "a@example.com", "short")]:
        with pytest.raises(InvalidArgument):
            await world.service.sign_up(username, email, password)
    assert world.hasher.calls == []


async def test_duplicate_email_in_another_case_is_taken(world: World) -> None:
    await _signed_up(world, "alice@example.com")
    with pytest.raises(AlreadyExists) as caught:
        await world.service.sign_up("alice2", "ALICE@example.com", PASSWORD)
    assert caught.value.code == "EMAIL_TAKEN"


async def test_login_returns_tokens_and_user(world: World) -> None:
    user = await _signed_up(world)
    session = await world.service.login("ALICE@example.com ", PASSWORD, "10.0.0.1")
    assert session.user == user
    assert session.access.expires_in_s == 900
    assert hash_refresh_token(session.refresh_token) in world.store.tokens


async def test_wrong_password_and_unknown_email_look_the_same(world: World) -> None:
    await _signed_up(world)
    world.hasher.calls.clear()
    with pytest.raises(InvalidArgument) as wrong:
        await world.service.login("alice@example.com", "Wrong@1234")
    with pytest.raises(InvalidArgument) as unknown:
        await world.service.login("nobody@example.com", PASSWORD)
    assert (wrong.value.code, wrong.value.message) == (unknown.value.code, unknown.value.message)
    assert wrong.value.code == "INVALID_CREDENTIALS"
    assert world.hasher.calls == ["verify", "dummy"]  # both spent one hash


async def test_failed_logins_per_email_are_throttled(world: World) -> None:
    await _signed_up(world)
    for i in range(10):
        with pytest.raises(InvalidArgument):
            await world.service.login("alice@example.com", "Wrong@1234", f"10.0.0.{i}")
    calls = len(world.hasher.calls)
    with pytest.raises(ResourceExhausted) as caught:
        await world.service.login("alice@example.com", PASSWORD, "10.0.1.1")
    assert caught.value.code == "TOO_MANY_ATTEMPTS"
    assert 1 <= caught.value.retry_after_s <= 300
    assert len(world.hasher.calls) == calls  # refused before hashing
    world.clock.t += 301
    assert (await world.service.login("alice@example.com", PASSWORD)).user.email


async def test_failed_logins_per_address_are_throttled(world: World) -> None:
    for i in range(50):
        with pytest.raises(InvalidArgument):
            await world.service.login(f"user{i}@example.com", PASSWORD, "10.9.9.9")
    with pytest.raises(ResourceExhausted):
        await world.service.login("other@example.com", PASSWORD, "10.9.9.9")
    with pytest.raises(InvalidArgument):  # another address is not affected
        await world.service.login("other@example.com", PASSWORD, "10.9.9.10")


async def test_many_successful_logins_from_one_address_never_throttle(world: World) -> None:
    for i in range(200):
        await world.service.sign_up(f"user{i}", f"user{i}@example.com", PASSWORD)
    for i in range(200):
        await world.service.login(f"user{i}@example.com", PASSWORD, "10.0.0.1")


async def test_login_when_hashing_is_saturated_is_overloaded(world: World) -> None:
    await _signed_up(world)
    world.hasher.overloaded = True
    with pytest.raises(ResourceExhausted) as caught:
        await world.service.login("alice@example.com", PASSWORD)
    assert caught.value.code == "OVERLOADED"


async def test_stale_hash_is_upgraded_after_login(world: World) -> None:
    user = await _signed_up(world)
    world.store.users[user.user_id] = replace(world.store.users[user.user_id],
                                              password_hash=f"h:{PASSWORD}")
    world.hasher.stale = True
    world.hasher.calls.clear()
    await world.service.login("alice@example.com", PASSWORD)
    assert world.hasher.calls == ["verify", "hash"]


async def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    await _signed_up(world)
    first = await world.service.login("alice@example.com", PASSWORD)
    second = await world.service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    third = await world.service.refresh(second.refresh_token)

    with pytest.raises(Unauthenticated) as reused:
        await world.service.refresh(first.refresh_token)
    assert reused.value.code == "REFRESH_TOKEN_REUSED"
    with pytest.raises(Unauthenticated) as newest:  # the whole family is gone
        await world.service.refresh(third.refresh_token)
    assert newest.value.code == "INVALID_REFRESH_TOKEN"


async def test_reuse_does_not_touch_other_families(world: World) -> None:
    await _signed_up(world)
    laptop = await world.service.login("alice@example.com", PASSWORD)
    phone = await world.service.login("alice@example.com", PASSWORD)
    await world.service.refresh(laptop.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.service.refresh(laptop.refresh_token)
    assert await world.service.refresh(phone.refresh_token)


async def test_concurrent_refresh_has_exactly_one_winner(world: World) -> None:
    await _signed_up(world)
    session = await world.service.login("alice@example.com", PASSWORD)
    world.store.before_rotate = asyncio.Event()
    tasks = [asyncio.create_task(world.service.refresh(session.refresh_token)) for _ in range(2)]
    await asyncio.sleep(0)
    world.store.before_rotate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Unauthenticated)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].code == "REFRESH_TOKEN_REUSED"


async def test_expired_and_unknown_refresh_tokens_are_invalid(world: World) -> None:
    await _signed_up(world)
    session = await world.service.login("alice@example.com", PASSWORD)
    for token in ("", "not-a-token"):
        with pytest.raises(Unauthenticated) as caught:
            await world.service.refresh(token)
        assert caught.value.code == "INVALID_REFRESH_TOKEN"
    world.clock.t += 3601
    with pytest.raises(Unauthenticated) as caught:
        await world.service.refresh(session.refresh_token)
    assert caught.value.code == "INVALID_REFRESH_TOKEN"


async def test_logout_revokes_the_family_and_accepts_unknown_tokens(world: World) -> None:
    await _signed_up(world)
    session = await world.service.login("alice@example.com", PASSWORD)
    rotated = await world.service.refresh(session.refresh_token)
    await world.service.logout(rotated.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.service.refresh(rotated.refresh_token)
    await world.service.logout("never-issued")
    await world.service.logout("")


async def test_get_user_and_resolve_users(world: World) -> None:
    user = await _signed_up(world)
    assert await world.service.get_user(user.user_id) == user
    with pytest.raises(Unauthenticated):
        await world.service.get_user(str(uuid.uuid4()))
    known, unknown = await world.service.resolve_users(
        [" ALICE@example.com", "bob@example.com"])
    assert known == [(" ALICE@example.com", user)]
    assert unknown == ["bob@example.com"]
    with pytest.raises(InvalidArgument):
        await world.service.resolve_users([f"u{i}@example.com" for i in range(1001)])


async def test_user_cache_serves_repeat_lookups_until_ttl(world: World) -> None:
    from svc_auth.service import UserCache

    clock = Clock()
    cache = UserCache(ttl_s=10, max_entries=2, clock=clock.mono)
    user = await _signed_up(world)
    service = AuthService(world.store, world.hasher, TokenIssuer(Ed25519PrivateKey.generate(),
                                                                 900),
                          LoginThrottle(300, 10, 50), 3600, user_cache=cache)
    assert await service.get_user(user.user_id) == user
    del world.store.users[user.user_id]
    assert await service.get_user(user.user_id) == user  # from the cache
    clock.t += 11
    with pytest.raises(Unauthenticated):
        await service.get_user(user.user_id)
    for i in range(5):
        cache.put(User(str(i), f"u{i}", f"u{i}@example.com", datetime.now(UTC)))
    assert cache.get("0") is None and cache.get("4") is not None  # bounded, LRU
