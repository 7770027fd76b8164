"""Argon2id password hashing: the only module that calls argon2.

Hashing is CPU-bound and blocking (argon2-cffi releases the GIL), so it runs in a dedicated
bounded ThreadPoolExecutor (cores − 1 threads by default), never on the event loop. Admission is
bounded by time: a hash that would wait longer than `max_wait_s` to start (the hashes ahead of it
× the recent time per hash ÷ workers) fails at once with ResourceExhausted(OVERLOADED) (→ 503 +
Retry-After: when it would fit) instead of queueing for tens of seconds; so a burst of logins is
absorbed when it can be served within the budget, and only a sustained overload is refused.
`workers + queue_max` outstanding hashes is a hard bound on memory besides.

`verify_dummy` spends one verification against a hash of a random secret made at start-up with
the same parameters, so a login for an unknown email costs what a wrong password costs.

The hashing threads run at a lower scheduling priority (`GOVAULT_HASH_NICE`, default 10) so that
on a busy machine they give way to latency-sensitive work instead of competing with it.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from svc_auth.config import HashSettings
from svc_auth.errors import overloaded
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
        self._workers = settings.workers
        self._max_wait_s = settings.max_wait_s
        self._seconds_per_hash = 0.05  # until measured (the dummy hash at start-up)
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

    def expected_wait_s(self) -> float:
        """How long a hash submitted now would wait for a worker."""
        ahead = max(0, self._outstanding - self._workers + 1)
        return ahead * self._seconds_per_hash / self._workers

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            wait = self.expected_wait_s()
            if self._outstanding >= self._capacity or wait > self._max_wait_s:
                raise overloaded(max(1, math.ceil(wait - self._max_wait_s)))
            self._outstanding += 1
        try:
            future: Future[T] = self._executor.submit(self._timed, fn, *args)
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

    def _timed(self, fn: Callable[..., T], *args: object) -> T:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - start
            PASSWORD_HASH_SECONDS.observe(took)
            with self._lock:  # a moving average: the machine's load changes what a hash costs
                self._seconds_per_hash += 0.2 * (took - self._seconds_per_hash)


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


def _verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
