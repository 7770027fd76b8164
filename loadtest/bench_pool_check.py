"""What checking a pooled connection as it is handed out costs (common.db, issue 22 item 8).

    python -m loadtest.bench_pool_check --stack <launcher data dir | stack.json> [--calls 20000]

One process, one pool of the upload database, one connection at a time (the cost per checkout,
not the database's throughput), `SELECT 1` per checkout, the variants interleaved in rounds so
they share the machine's state:
- `unchecked`: `pool.connection()`, what GoVault did (a stale connection costs a caller a 503);
- `poll`: `common.db.checked_connection`, one poll of the socket (what GoVault does);
- `round trip`: psycopg_pool's `check=AsyncConnectionPool.check_connection`, an empty query.
Prints µs per checkout and each variant's time ÷ unchecked.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from common.db import checked_connection
from loadtest.target import Target

Connection = AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]
Checkout = Callable[[AsyncConnectionPool], Connection]


def _plain(pool: AsyncConnectionPool) -> Connection:
    return pool.connection()


async def _pool(url: str, check: Any = None) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(url, min_size=1, max_size=1, open=False, check=check,
                               kwargs={"autocommit": True})
    await pool.open(wait=True)
    return pool


async def _run(pool: AsyncConnectionPool, checkout: Checkout, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        async with checkout(pool) as conn:
            await conn.execute("SELECT 1")
    return time.perf_counter() - started


async def bench(url: str, calls: int, rounds: int) -> dict[str, float]:
    pools = {"unchecked": await _pool(url), "poll": await _pool(url),
             "round trip": await _pool(url, AsyncConnectionPool.check_connection)}
    checkouts: dict[str, Checkout] = {"unchecked": _plain, "poll": checked_connection,
                                      "round trip": _plain}
    totals = dict.fromkeys(pools, 0.0)
    try:
        for name in pools:  # warm up
            await _run(pools[name], checkouts[name], 200)
        for _ in range(rounds):
            for name, pool in pools.items():
                totals[name] += await _run(pool, checkouts[name], calls // rounds)
    finally:
        for pool in pools.values():
            await pool.close()
    return {name: total / calls * 1e6 for name, total in totals.items()}


async def _main(url: str, calls: int, rounds: int) -> None:
    per_call = await bench(url, calls, rounds)
    base = per_call["unchecked"]
    print(f"{calls} checkouts + SELECT 1 each, {rounds} interleaved rounds")
    for name, us in per_call.items():
        print(f"  {name:<11} {us:8.1f} µs per checkout   ÷ unchecked {us / base:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_pool_check",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="launcher data dir or its stack.json")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    target = Target.from_stack_file(args.stack)
    asyncio.run(_main(target.database_urls["upload"], args.calls, args.rounds))

if __name__ == "__main__":
    main()
