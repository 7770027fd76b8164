"""PostgreSQL connection pools (psycopg 3 + psycopg-pool) and their metrics.

Connections are autocommit: single statements need no transaction (wrapping single reads in one
cost ~20 % of throughput); multi-statement work opens `conn.transaction()` explicitly.
Pool size is bounded; with three services at the default maximum of 10 each, a PostgreSQL with the
default `max_connections = 100` keeps ample headroom for migrations, audits and admin sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from common.config import Settings, var
from common.errors import GoVaultError, Unavailable


class DatabaseSettings(Settings):
    """The service's own database (`GOVAULT_DATABASE_URL`, libpq URL) and its pool bounds."""

    url: str = var("DATABASE_URL", repr=False)
    pool_min: int = var("DB_POOL_MIN", 2, ge=0)
    pool_max: int = var("DB_POOL_MAX", 10, ge=1)
    pool_timeout_s: float = var("DB_POOL_TIMEOUT_S", 5.0, gt=0)


async def open_pool(settings: DatabaseSettings, service: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        settings.url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        timeout=settings.pool_timeout_s,
        kwargs={"autocommit": True},
        name=service,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    _PoolCollector.track(service, pool)
    return pool


@asynccontextmanager
async def pooled(
    pool: AsyncConnectionPool,
    what: str,
    on_unique: Callable[[pg_errors.UniqueViolation], GoVaultError] | None = None,
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection whose failures are domain errors: pool timeout → Unavailable("the
    <what> database is busy"), a lost or refused connection → Unavailable. With `on_unique`, a
    unique violation raised inside the block becomes the error it returns (each store says what
    was taken); without it, UniqueViolation propagates for the caller to map."""
    try:
        async with pool.connection() as conn:
            yield conn
    except PoolTimeout:
        raise Unavailable(f"the {what} database is busy, retry shortly") from None
    except pg_errors.UniqueViolation as exc:
        if on_unique is None:
            raise
        raise on_unique(exc) from None
    except psycopg.OperationalError:
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
