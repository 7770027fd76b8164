"""Numbered SQL migrations per service, applied at start-up.

Files are `NNN_name.sql` in the service's `migrations/` folder, applied in order inside one
transaction each and recorded in `schema_migrations`. A transaction-scoped advisory lock makes
two processes starting at once safe: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from common.logging import get_logger

_NAME = re.compile(r"^(\d{3,})_[\w-]+\.sql$")
_LOCK_KEY = 0x6F7661756C74  # "ovault": one advisory lock id for every GoVault database

log = get_logger(__name__)


def pending_files(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {folder}")
    return found


async def apply_migrations(url: str, folder: Path) -> list[int]:
    """Applies what is not yet applied; returns the versions applied by this call."""
    applied_now: list[int] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, path in pending_files(folder):
                if version in done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, path.name),
                )
                applied_now.append(version)
                log.info("migration_applied", version=version, name=path.name)
    return applied_now
