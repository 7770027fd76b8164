"""AuthService rules with in-memory fakes: sign-up, login (throttle, unknown email costs a hash),
refresh rotation, reuse revoking the family, concurrent refresh, logout, account lookups."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.errors import AlreadyExists, InvalidArgument, ResourceExhausted, Unauthenticated
from svc_auth.models import User
from svc_auth.service import AuthService
from svc_auth.throttle import LoginThrottle
from svc_auth.tokens import TokenIssuer, hash_refresh_token
from tests.fakes.auth import Clock, FakeAccounts, FakeHasher

PASSWORD = "Test@1234"


@dataclass
class World:
    service: AuthService
    store: FakeAccounts
    hasher: FakeHasher
    clock: Clock


@pytest.fixture
def world() -> World:
    clock = Clock()
    store, hasher = FakeAccounts(clock.now), FakeHasher()
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


async def test_failed_logins_from_one_client_get_growing_delays(world: World) -> None:
    await _signed_up(world)
    for _ in range(10):
        with pytest.raises(InvalidArgument):
            await world.service.login("alice@example.com", "Wrong@1234", "10.0.0.1")
    calls = len(world.hasher.calls)
    with pytest.raises(ResourceExhausted) as caught:
        await world.service.login("alice@example.com", PASSWORD, "10.0.0.1")
    assert caught.value.code == "TOO_MANY_ATTEMPTS"
    assert caught.value.retry_after_s == 5
    assert len(world.hasher.calls) == calls  # refused before hashing
    world.clock.t += 5  # a wait, not a lockout
    with pytest.raises(InvalidArgument):
        await world.service.login("alice@example.com", "Wrong@1234", "10.0.0.1")
    with pytest.raises(ResourceExhausted) as caught:
        await world.service.login("alice@example.com", PASSWORD, "10.0.0.1")
    assert caught.value.retry_after_s == 10  # doubled
    world.clock.t += 10
    assert (await world.service.login("alice@example.com", PASSWORD, "10.0.0.1")).user.email


async def test_failures_elsewhere_never_lock_out_the_correct_password(world: World) -> None:
    await _signed_up(world)
    for i in range(100):  # attackers at many addresses
        with pytest.raises(InvalidArgument):
            await world.service.login("alice@example.com", "Wrong@1234", f"10.0.{i}.1")
    assert (await world.service.login("alice@example.com", PASSWORD, "10.1.1.1")).user.email


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
