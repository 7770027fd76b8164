"""Argon2id password hashing: the only module that calls argon2.

Hashing is CPU-bound and blocking (argon2-cffi releases the GIL), so it runs in a dedicated
bounded ThreadPoolExecutor (cores − 1 threads by default), never on the event loop. Admission is
bounded too: when `workers + queue_max` hashes are already outstanding, a new one fails at once
with ResourceExhausted(OVERLOADED) (→ 429 + Retry-After) instead of queueing behind a burst of
logins and stalling every other request.

`verify_dummy` spends one verification against a hash of a random secret made at start-up with
the same parameters, so a login for an unknown email costs what a wrong password costs.

The hashing threads run at a lower scheduling priority (`GOVAULT_HASH_NICE`, default 10) so that
on a busy machine they give way to latency-sensitive work instead of competing with it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.errors import ResourceExhausted
from svc_auth.config import HashSettings
from svc_auth.metrics import PASSWORD_HASH_SECONDS

T = TypeVar("T")


class Argon2Hasher:
    """Async Argon2id hashing with bounded concurrency and a bounded waiting queue."""

    def __init__(self, settings: HashSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=settings.workers,
                                            thread_name_prefix="argon2",
                                            initializer=_lower_priority, initargs=(settings.nice,))
        self._capacity = settings.workers + settings.queue_max
        self._outstanding = 0
        self._lock = threading.Lock()
        self._dummy_hash = ""

    @property
    def outstanding(self) -> int:
        return self._outstanding

    async def start(self) -> None:
        """Computes the dummy hash used for unknown accounts."""
        self._dummy_hash = await self._run(self._hasher.hash, secrets.token_urlsafe(24))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(_verify, self._hasher, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        if not self._dummy_hash:
            await self.start()
        await self._run(_verify, self._hasher, self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._outstanding >= self._capacity:
                raise ResourceExhausted(
                    "too many password checks in progress, retry shortly", "OVERLOADED",
                    retry_after_s=1,
                )
            self._outstanding += 1
        try:
            future: Future[T] = self._executor.submit(_timed, fn, *args)
        except BaseException:
            self._release(None)
            raise
        # Released when the work really ends (or is cancelled before it starts), not when the
        # awaiting coroutine gives up, so the bound holds even under client cancellations.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: object) -> None:
        with self._lock:
            self._outstanding -= 1


def _lower_priority(nice: int) -> None:
    """Hashing is throughput work; serving requests is latency work. A positive nice value on
    the hashing threads (Linux schedules threads individually) lets the event loop, PostgreSQL
    and the edge preempt them, so a burst of logins does not inflate everyone's latency."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:  # pragma: no cover - not permitted here: run at normal priority
        pass


def _timed(fn: Callable[..., T], *args: object) -> T:
    start = time.perf_counter()
    try:
        return fn(*args)
    finally:
        PASSWORD_HASH_SECONDS.observe(time.perf_counter() - start)


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
