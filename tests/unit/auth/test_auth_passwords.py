"""Argon2id hashing helper: round trip, wrong password, dummy verification, bounded admission."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from prometheus_client import REGISTRY

from common.errors import ResourceExhausted
from svc_auth.config import HashSettings
from svc_auth.passwords import Argon2Hasher

FAST = HashSettings(time_cost=1, memory_kib=1024, parallelism=1, workers=1, queue_max=2)


@pytest.fixture
def hasher() -> Iterator[Argon2Hasher]:
    h = Argon2Hasher(FAST)
    yield h
    h.close()


async def test_hash_and_verify(hasher: Argon2Hasher) -> None:
    encoded = await hasher.hash("Test@1234")
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert "Test@1234" not in encoded
    assert await hasher.verify(encoded, "Test@1234")
    assert not await hasher.verify(encoded, "Test@12345")
    assert not await hasher.verify("not a hash", "Test@1234")


async def test_same_password_gets_different_salts(hasher: Argon2Hasher) -> None:
    assert await hasher.hash("Test@1234") != await hasher.hash("Test@1234")


async def test_default_parameters_are_owasp() -> None:
    from common.config import load

    settings = load(HashSettings, {})
    assert (settings.time_cost, settings.memory_kib, settings.parallelism) == (2, 19456, 1)
    assert settings.workers >= 1


def _hashes_spent() -> float:
    return REGISTRY.get_sample_value("govault_auth_password_hash_seconds_count") or 0.0


async def test_dummy_verification_spends_a_hash(hasher: Argon2Hasher) -> None:
    """An unknown email costs what a wrong password costs: one real Argon2 verification."""
    await hasher.start()
    before = _hashes_spent()
    await hasher.verify_dummy("anything at all")  # no error, no result
    assert _hashes_spent() == before + 1
    encoded = await hasher.hash("Test@1234")
    before = _hashes_spent()
    assert not await hasher.verify(encoded, "wrong password")
    assert _hashes_spent() == before + 1  # the same price as the dummy


async def test_needs_rehash_when_parameters_change(hasher: Argon2Hasher) -> None:
    encoded = await hasher.hash("Test@1234")
    assert not hasher.needs_rehash(encoded)
    stronger = Argon2Hasher(HashSettings(time_cost=2, memory_kib=2048,
                                         parallelism=1, workers=1, queue_max=1))
    try:
        assert stronger.needs_rehash(encoded)
    finally:
        stronger.close()


async def test_admission_is_bounded_and_fails_fast() -> None:
    slow = Argon2Hasher(HashSettings(time_cost=3, memory_kib=16 * 1024, parallelism=1,
                                     workers=1, queue_max=1))
    try:
        results = await asyncio.gather(*(slow.hash(f"password-{i}") for i in range(6)),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, ResourceExhausted)]
        done = [r for r in results if isinstance(r, str)]
        assert len(done) == 2  # one running + one waiting
        assert len(refused) == 4
        assert all(r.code == "OVERLOADED" and r.retry_after_s >= 1 for r in refused)
        assert slow.outstanding == 0
        assert isinstance(await slow.hash("after the burst"), str)
    finally:
        slow.close()


async def test_admission_is_by_expected_wait_not_queue_length() -> None:
    """A burst that fits the wait budget is served whole; once the hashes ahead of a new one
    would take longer than the budget, it is refused at once, with a Retry-After saying when
    it would fit, and nothing stays outstanding."""
    settings = HashSettings(time_cost=1, memory_kib=8 * 1024, parallelism=1, workers=1)
    roomy = Argon2Hasher(settings.model_copy(update={"max_wait_s": 60.0}))
    tight = Argon2Hasher(settings.model_copy(update={"max_wait_s": 0.001}))
    try:
        await roomy.start()
        burst = await asyncio.gather(*(roomy.hash(f"p-{i}") for i in range(40)))
        assert len(burst) == 40 and all(isinstance(h, str) for h in burst)
        await tight.start()  # measures what a hash costs here
        results = await asyncio.gather(*(tight.hash(f"p-{i}") for i in range(10)),
                                       return_exceptions=True)
        refused = [r for r in results if isinstance(r, ResourceExhausted)]
        assert refused and all(r.code == "OVERLOADED" and r.retry_after_s >= 1
                               for r in refused)
        assert len(results) - len(refused) >= 1  # the first starts at once
        assert tight.outstanding == 0
    finally:
        roomy.close()
        tight.close()


async def test_cancelled_waiters_keep_their_slot_until_work_ends() -> None:
    slow = Argon2Hasher(HashSettings(time_cost=3, memory_kib=16 * 1024, parallelism=1,
                                     workers=1, queue_max=0))
    try:
        task = asyncio.create_task(slow.hash("password-1"))
        await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(ResourceExhausted):
            await slow.hash("password-2")  # the cancelled hash is still running
        # until the cancelled hash ends (a niced thread: slow on a busy machine)
        deadline = time.monotonic() + 60
        while slow.outstanding:
            assert time.monotonic() < deadline, "the cancelled hash never ended"
            await asyncio.sleep(0.01)
    finally:
        slow.close()


async def test_hashing_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hash runs on a hashing thread, never on the event loop's, which keeps running
    meanwhile. Told by where the hashes run, not by timing the loop's steps: with the cores
    busy, a step of microseconds can take 100 ms of wall clock (it did, in a loaded CI run)."""
    hashed_on: list[str] = []
    real_hash = PasswordHasher.hash

    def observed(self: PasswordHasher, password: str | bytes, **kwargs: object) -> str:
        hashed_on.append(threading.current_thread().name)
        return real_hash(self, password)

    monkeypatch.setattr(PasswordHasher, "hash", observed)
    slow = Argon2Hasher(HashSettings(time_cost=3, memory_kib=16 * 1024, parallelism=1,
                                     workers=1, queue_max=4))
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.002)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.gather(*(slow.hash(f"p-{i}") for i in range(3)))
        task.cancel()
        assert ticks >= 3
        assert len(hashed_on) == 3 and all(name.startswith("argon2") for name in hashed_on), \
            (hashed_on, threading.current_thread().name)
    finally:
        slow.close()
