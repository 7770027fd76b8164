"""The seed's setup(): sign up and log in N test accounts, concurrently, before any load.

    python -m loadtest.users --edge http://127.0.0.1:9000 --count 1000 --out users.json

The seed did this one user at a time with a 0.1 s sleep; here 16 aiohttp requests are kept in
flight (well inside the auth service's hash wait budget, GOVAULT_HASH_MAX_WAIT_S = 5 s), so the
auth service's Argon2 workers are the only limit: on the 2-core VM ≈ 13 accounts/s (two hashes
each), ≈ 75 s for 1000. The file holds
one object per account: user_id, username, email, password, token, refresh_token. Accounts that
already exist (a re-run with the same prefix) are logged in, not re-created.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.target import ensure_local

PASSWORD = "Test@1234"  # the seed's password
RETRY_STATUSES = (429, 502, 503, 504)


class SetupError(RuntimeError):
    """An account could not be created or logged in."""


def account(prefix: str, i: int) -> dict[str, str]:
    return {"username": f"{prefix}_{i}", "email": f"{prefix}-{i}@loadtest.example.com",
            "password": PASSWORD}


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                ok: tuple[int, ...], attempts: int = 6) -> tuple[int, dict[str, Any]]:
    delay = 0.2
    for attempt in range(attempts):
        try:
            async with session.post(url, json=body) as resp:
                data = await resp.json(content_type=None) if resp.content_length != 0 else {}
                if resp.status in ok:
                    return resp.status, data or {}
                if resp.status not in RETRY_STATUSES or attempt == attempts - 1:
                    raise SetupError(f"POST {url} → {resp.status}: {data}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            if attempt == attempts - 1:
                raise SetupError(f"POST {url} failed: {exc!r}") from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 3.0)
    raise SetupError(f"POST {url}: no attempts left")


async def register_one(session: aiohttp.ClientSession, edge: str, creds: dict[str, str]
                       ) -> dict[str, Any]:
    await _post(session, f"{edge}/auth/signup", creds, ok=(200, 409))
    _, body = await _post(session, f"{edge}/auth/login",
                          {"email": creds["email"], "password": creds["password"]}, ok=(200,))
    return {**creds, "user_id": body["user_id"], "token": body["token"],
            "refresh_token": body["refresh_token"]}


async def register(edge: str, count: int, prefix: str, concurrency: int = 16,
                   timeout_s: float = 60) -> list[dict[str, Any]]:
    """Signs up and logs in `count` accounts; raises SetupError if any fails."""
    ensure_local(edge)
    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        async def one(i: int) -> dict[str, Any]:
            async with sem:
                return await register_one(session, edge, account(prefix, i))
        return list(await asyncio.gather(*(one(i) for i in range(1, count + 1))))


async def refresh_one(session: aiohttp.ClientSession, edge: str, account: dict[str, Any]
                      ) -> dict[str, Any]:
    """Fresh tokens for an account: POST /auth/refresh (no password hashing), else log in."""
    if account.get("refresh_token"):
        async with session.post(f"{edge}/auth/refresh",
                                json={"refresh_token": account["refresh_token"]}) as resp:
            if resp.status == 200:
                body = await resp.json()
                return {**account, "token": body["token"], "refresh_token": body["refresh_token"]}
    _, body = await _post(session, f"{edge}/auth/login",
                          {"email": account["email"], "password": account["password"]}, ok=(200,))
    return {**account, "token": body["token"], "refresh_token": body["refresh_token"]}


async def refresh_all(edge: str, accounts: list[dict[str, Any]], concurrency: int = 16,
                      timeout_s: float = 60) -> list[dict[str, Any]]:
    """Every account with fresh tokens (same order); refresh tokens rotate, so callers must
    keep the result, not the input."""
    ensure_local(edge)
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        async def one(account: dict[str, Any]) -> dict[str, Any]:
            async with sem:
                return await refresh_one(session, edge, account)
        return list(await asyncio.gather(*(one(a) for a in accounts)))


def load_sessions(folder: str | Path) -> list[dict[str, Any]]:
    """The newest tokens a Locust run left (sessions-*.json), one entry per account."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("sessions-*.json")):
        for account in json.loads(path.read_text()):
            latest[account["user_id"]] = account
    return list(latest.values())


def reuse(edge: str, accounts: list[dict[str, Any]], out: str | Path) -> list[dict[str, Any]]:
    """The seed's setup for accounts that already exist: fresh tokens, written to `out`."""
    started = time.monotonic()
    fresh = asyncio.run(refresh_all(edge, accounts))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(fresh, indent=1) + "\n")
    print(f"setup: {len(fresh)} existing accounts refreshed "
          f"in {time.monotonic() - started:.1f} s → {out}", file=sys.stderr)
    return fresh


def prepare(edge: str, count: int, out: str | Path, prefix: str | None = None,
            concurrency: int = 16) -> list[dict[str, Any]]:
    """Registers the accounts and writes them to `out`; returns them."""
    prefix = prefix or f"lt{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    users = asyncio.run(register(edge, count, prefix, concurrency))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(users, indent=1) + "\n")
    print(f"setup: {len(users)} accounts signed up and logged in "
          f"in {time.monotonic() - started:.1f} s → {out}", file=sys.stderr)
    return users


def load(path: str | Path) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = json.loads(Path(path).read_text())
    if not users:
        raise SetupError(f"{path} holds no accounts")
    return users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.users", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edge", default="http://127.0.0.1:9000")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prefix", default=None, help="username prefix (default: random)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        prepare(args.edge.rstrip("/"), args.count, args.out, args.prefix, args.concurrency)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
