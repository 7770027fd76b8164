"""PostgreSQL connection pools (psycopg 3 + psycopg-pool) and their metrics.

Connections are autocommit: single statements need no transaction (wrapping single reads in one
cost ~20 % of throughput); multi-statement work opens `conn.transaction()` explicitly.
Pool size is bounded; with three services at the default maximum of 10 each, a PostgreSQL with the
default `max_connections = 100` keeps ample headroom for migrations, audits and admin sessions.

Every wait on the database is bounded in seconds, so a frozen or unreachable PostgreSQL is an
honest, quick `Unavailable` (503) instead of a caller waiting for TCP to give up: connecting
(`connect_timeout`), waiting for a pooled connection (`pool_timeout_s`) and the work done on one
(`call_timeout_s`, per `pooled` block). A block past its deadline has its connection's socket shut
down: psycopg sees the connection lost at once (asyncio cancellation would first try a server-side
cancel, which a frozen server never answers), the block fails, and the pool drops the connection.
Like any timeout, the outcome of a write in flight is then unknown: every state transition is a
conditional statement, so the caller's retry is safe.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from common.config import Settings, var
from common.errors import GoVaultError, Unavailable
from common.logging import get_logger
from common.metrics import LATENCY_BUCKETS

log = get_logger(__name__)


class DatabaseSettings(Settings):
    """The service's own database (`GOVAULT_DATABASE_URL`, libpq URL) and its pool bounds."""

    url: str = var("DATABASE_URL", repr=False, description=(
        "the service's own PostgreSQL database (libpq URL); no service reads another's"))
    pool_min: int = var("DB_POOL_MIN", 2, ge=0, description="connections the pool keeps open")
    pool_max: int = var("DB_POOL_MAX", 10, ge=1, description=(
        "most connections the pool opens (size it against PostgreSQL's max_connections)"))
    pool_timeout_s: float = var("DB_POOL_TIMEOUT_S", 4.0, gt=0, description=(
        "longest wait for a pooled connection before the call is answered 503"))
    connect_timeout_s: int = var("DB_CONNECT_TIMEOUT_S", 5, ge=2, description=(
        "longest wait to connect to PostgreSQL"))
    call_timeout_s: float = var("DB_CALL_TIMEOUT_S", 4.0, ge=0, description=(
        "longest the work on one connection may take before it is cut and the call is 503 "
        "(0: unbounded, for operator commands)"))


_DEADLINES: WeakKeyDictionary[AsyncConnectionPool, float] = WeakKeyDictionary()
# The wait for a pooled connection (all taken: statements queue here before the database).
POOL_WAIT = Histogram("govault_db_pool_wait_seconds", "Wait for a pooled connection",
                      ["service"], buckets=LATENCY_BUCKETS)


async def open_pool(settings: DatabaseSettings, service: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        settings.url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=settings.pool_timeout_s,
        kwargs={"autocommit": True, "connect_timeout": settings.connect_timeout_s},
        name=service,
        configure=_configure,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    _DEADLINES[pool] = settings.call_timeout_s
    _PoolCollector.track(service, pool)
    return pool


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    """The server checks every 2 s that the client is still there while a statement runs, so a
    statement abandoned at its deadline stops soon instead of running to its end."""
    try:
        await conn.execute("SET client_connection_check_interval = 2000")
    except psycopg.Error:  # a server without the setting (before PostgreSQL 14)
        log.warning("client_connection_check_interval_unsupported")


def _shut_down(conn: psycopg.AsyncConnection[Any]) -> None:
    """Ends the connection's TCP (or Unix) stream without closing its descriptor (psycopg still
    owns it): reads see end-of-file at once, so the statement waiting on it fails now."""
    try:
        with socket.socket(fileno=conn.pgconn.socket) as sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.detach()
    except OSError:
        pass  # already closed


@asynccontextmanager
async def pooled(
    pool: AsyncConnectionPool,
    what: str,
    on_unique: Callable[[pg_errors.UniqueViolation], GoVaultError] | None = None,
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection whose failures are domain errors: pool timeout → Unavailable("the
    <what> database is busy"), a lost or refused connection or a block past the pool's call
    deadline → Unavailable. With `on_unique`, a unique violation raised inside the block becomes
    the error it returns (each store says what was taken); without it, UniqueViolation
    propagates for the caller to map."""
    deadline = _DEADLINES.get(pool, 0.0)
    expired = False
    asked = time.perf_counter()
    try:
        async with pool.connection() as conn:
            POOL_WAIT.labels(what).observe(time.perf_counter() - asked)
            def expire() -> None:
                nonlocal expired
                expired = True
                _shut_down(conn)

            timer = (asyncio.get_running_loop().call_later(deadline, expire) if deadline
                     else None)
            try:
                yield conn
            finally:
                if timer is not None:
                    timer.cancel()
    except PoolTimeout:
        raise Unavailable(f"the {what} database is busy, retry shortly") from None
    except pg_errors.UniqueViolation as exc:
        if on_unique is None:
            raise
        raise on_unique(exc) from None
    except psycopg.OperationalError:
        if expired:
            raise Unavailable(f"the {what} database did not answer in time") from None
        raise Unavailable(f"the {what} database is unavailable") from None


class _PoolCollector(Collector):
    """Exports pool statistics at scrape time (no polling task)."""

    _pools: dict[str, AsyncConnectionPool] = {}
    _registered = False

    @classmethod
    def track(cls, service: str, pool: AsyncConnectionPool) -> None:
        cls._pools[service] = pool
        if not cls._registered:
            REGISTRY.register(cls())
            cls._registered = True

    def collect(self) -> Iterator[GaugeMetricFamily]:
        conns = GaugeMetricFamily(
            "govault_db_pool_connections", "Connection pool size", labels=["service", "state"]
        )
        waiting = GaugeMetricFamily(
            "govault_db_pool_requests_waiting",
            "Requests waiting for a pooled connection",
            labels=["service"],
        )
        for service, pool in self._pools.items():
            stats = pool.get_stats()
            conns.add_metric([service, "size"], stats.get("pool_size", 0))
            conns.add_metric([service, "available"], stats.get("pool_available", 0))
            conns.add_metric([service, "max"], pool.max_size)
            waiting.add_metric([service], stats.get("requests_waiting", 0))
        yield conns
        yield waiting


class DatabaseProbe:
    """Readiness probe of the database (common.grpc.readiness): `SELECT 1` on a connection of its
    own, so a pool busy with real work is not mistaken for a database that is down. A lost
    connection is opened again on the next probe; every wait is bounded by the caller's timeout
    and `connect_timeout`."""

    def __init__(self, settings: DatabaseSettings, deadline_s: float = 2.0) -> None:
        self._settings = settings
        self._deadline_s = deadline_s
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __call__(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._settings.url, autocommit=True,
                connect_timeout=self._settings.connect_timeout_s)
        conn = self._conn
        timer = asyncio.get_running_loop().call_later(self._deadline_s, _shut_down, conn)
        try:
            await conn.execute("SELECT 1")
        except BaseException:
            # abandoned mid-statement (a timeout) or failed: never reuse it half-read
            _shut_down(conn)
            self._conn = None
            await conn.close()
            raise
        finally:
            timer.cancel()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
