"""After a run: does what the clients were told match what the system holds?

    python -m loadtest.audit --stack <launcher data dir | stack.json> --results <run>/<strategy>

The seed found 13,425 "finished" iterations but data for only 624 users, and could not say why.
This audit makes that comparison for every run, per test user:

1. runs the upload reaper once (`python -m svc_upload reap`, the stack's upload env), so expired
   sessions are aborted and sessions stuck in completing are settled before counting;
2. client side: every upload recorded as successful (record.py, `uploads-*.jsonl`);
3. file rows: each test user (tokens from the run's sessions-*.json, refreshed) pages through
   GET /api/files/me/owned (the public API: what a user would see); a recorded file missing from
   the listing is looked up with GET /api/files/f/{id} before it is called a ghost. Rows of this
   run are told apart by their file names (`lt-<run tag>-<uuid>.bin`), so accounts can serve
   several runs;
4. objects: the bucket listed under `users/<id>/` for each test user (key = users/<owner>/<file>);
5. S3 multipart uploads still open under those prefixes (ListMultipartUploads), each matched
   to its session in the upload ledger by storage key (svc_upload.rules.orphaned): one that no
   live session may still use is an **orphan upload** (it holds the store's space for nothing;
   the reaper pass of step 1 should have aborted it). MinIO lists open uploads only per object
   name, so there this count sees none (it aborts them after a day itself);
6. the files service's own audit (`python -m svc_files audit`), stack-wide, for cross-checking.

Findings: **ghosts** (client success, no file), **duplicates** (more than one file row for one
upload: rows share the upload's unique file name), **orphans** (objects without a row),
**missing objects** (rows without an object), **size mismatches**, and, for information,
**unrecorded rows** (files the server stored for iterations the client did not count: the client
timed out or was stopped after the server had committed) and open multipart uploads of live
sessions. Verdict `clean` only when the first six are all zero; the exit status is 1 otherwise
(so a ghost fails the bench loudly).

STRATEGY=baseline: successes are object keys; each must exist in the bucket (ghosts otherwise);
the baseline objects are then deleted so they never look like GoVault orphans.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.record import load_uploads
from loadtest.target import Target, TargetError
from loadtest.users import load as load_users
from loadtest.users import load_sessions, refresh_all

BASELINE_PREFIX = "loadtest-baseline/"
SESSIONS_AFTER_AUDIT = "sessions-zz-audit.json"  # sorts last: load_sessions() keeps the newest
VIOLATIONS = ("ghosts", "duplicates", "orphans", "missing_objects", "size_mismatches",
              "orphan_multipart_uploads")


# ------------------------------------------------------------------------------ server side
def run_reaper(target: Target) -> dict[str, Any]:
    """One on-demand reaper pass; its JSON summary when it prints one."""
    try:
        proc = target.run_cli("upload", "reap")
    except TargetError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **_json_or_text(proc.stdout)}


def run_files_audit(target: Target) -> dict[str, Any]:
    try:
        proc = target.run_cli("files", "audit")
    except TargetError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **_json_or_text(proc.stdout)}


def _json_or_text(out: str) -> dict[str, Any]:
    out = out.strip()
    start = out.find("{")
    if start >= 0:
        try:
            data = json.loads(out[start:])
            return data if isinstance(data, dict) else {"result": data}
        except ValueError:
            pass
    return {"output": out[-2000:]}


def list_keys(client: Any, bucket: str, prefix: str) -> set[str]:
    return {o.object_name for o in client.list_objects(bucket, prefix=prefix, recursive=True)}


def open_uploads(client: Any, bucket: str, prefix: str = "users/") -> list[tuple[str, str]]:
    """(key, upload id) of the S3 multipart uploads neither completed nor aborted under
    `prefix`."""
    from common.s3 import list_open_uploads

    return list_open_uploads(client, bucket, prefix)


def open_multipart_uploads(client: Any, bucket: str, prefix: str = "users/") -> list[str]:
    """Keys of S3 multipart uploads not completed nor aborted, under `prefix`."""
    return [key for key, _ in open_uploads(client, bucket, prefix)]


def orphan_uploads(upload_database_url: str, uploads: list[tuple[str, str]]) -> list[str]:
    """The keys of `uploads` that no live session may still use (svc_upload.rules.orphaned),
    the sessions read from the upload ledger by storage key."""
    import psycopg

    from svc_upload.rules import orphaned

    if not uploads:
        return []
    with psycopg.connect(upload_database_url) as conn:
        rows = conn.execute("SELECT storage_key, state, storage_upload_id FROM upload_sessions"
                            " WHERE storage_key = ANY(%s)", ([k for k, _ in uploads],)).fetchall()
    sessions = {key: (state, recorded) for key, state, recorded in rows}
    return sorted(key for key, upload_id in uploads
                  if orphaned(upload_id, *sessions.get(key, (None, None))))


# ------------------------------------------------------------------------------ API side
async def _owned(session: aiohttp.ClientSession, edge: str, token: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    auth = {"Authorization": f"Bearer {token}"}
    for page in range(1, 100_000):
        async with session.get(f"{edge}/api/files/me/owned",
                               params={"page": page, "limit": 100}, headers=auth) as resp:
            if resp.status != 200:
                raise TargetError(f"GET /api/files/me/owned page {page} → {resp.status}: "
                                  f"{await resp.text()}")
            body = await resp.json()
        rows += body.get("files") or []
        if not body.get("has_more"):
            return rows
    return rows


async def _visible(session: aiohttp.ClientSession, edge: str, token: str, file_id: str) -> int:
    async with session.get(f"{edge}/api/files/f/{file_id}",
                           headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def collect_rows(edge: str, accounts: list[dict[str, Any]],
                       recorded: dict[str, list[dict[str, Any]]], concurrency: int = 16
                       ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """(rows per user id, status of GET /api/files/f/{id} for recorded ids not listed)."""
    sem = asyncio.Semaphore(concurrency)
    rows: dict[str, list[dict[str, Any]]] = {}
    lookups: dict[str, int] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def one(account: dict[str, Any]) -> None:
            async with sem:
                token = account["token"]
                mine = await _owned(session, edge, token)
                rows[account["user_id"]] = mine
                listed = {r["file_id"] for r in mine}
                for up in recorded.get(account["user_id"], []):
                    if up["file_id"] not in listed:
                        lookups[up["file_id"]] = await _visible(session, edge, token,
                                                                up["file_id"])
        await asyncio.gather(*(one(a) for a in accounts))
    return rows, lookups


# ------------------------------------------------------------------------------ the comparison
def compare(uploads: list[dict[str, Any]], rows: dict[str, list[dict[str, Any]]],
            objects: dict[str, set[str]], lookups: dict[str, int],
            run_prefix: str = "lt-") -> dict[str, Any]:
    """Pure: recorded successes vs file rows vs object keys, per user. See the module docstring.

    `rows` and `objects` are everything the test users own; `run_prefix` (file names of this
    run: `lt-<run tag>-`) picks this run's rows when accounts served several runs."""
    recorded_ids = {u["file_id"] for u in uploads}
    all_rows = [r for user_rows in rows.values() for r in user_rows]
    run_rows = [r for r in all_rows if str(r.get("name", "")).startswith(run_prefix)]
    row_ids = {r["file_id"] for r in all_rows}
    rows_by_id = {r["file_id"]: r for r in all_rows}

    ghosts = sorted(fid for fid in recorded_ids - row_ids if lookups.get(fid) != 200)
    names = Counter(r.get("name") for r in run_rows)
    duplicates = sum(n - 1 for n in names.values() if n > 1)
    size_mismatches = sorted(
        u["file_id"] for u in uploads
        if u["file_id"] in rows_by_id and u.get("size") is not None
        and int(rows_by_id[u["file_id"]].get("size_bytes", -1)) != int(u["size"]))

    object_ids: dict[str, set[str]] = {
        uid: {k.rsplit("/", 1)[-1] for k in keys} for uid, keys in objects.items()}
    run_row_ids = {r["file_id"] for r in run_rows}
    orphans: list[str] = []
    missing: list[str] = []
    for uid in set(object_ids) | set(rows):
        have_rows = {r["file_id"] for r in rows.get(uid, [])}
        have_objects = object_ids.get(uid, set())
        orphans += [f"users/{uid}/{fid}" for fid in sorted(have_objects - have_rows)]
        missing += [f"users/{uid}/{fid}" for fid in sorted(have_rows - have_objects)]

    return {
        "client_successes": len(uploads),
        "distinct_recorded_files": len(recorded_ids),
        "file_rows": len(run_rows),
        "file_rows_all_runs": len(all_rows),
        "objects": sum(1 for ids in object_ids.values() for fid in ids if fid in run_row_ids),
        "objects_all_runs": sum(len(v) for v in objects.values()),
        "users_with_rows": sum(1 for v in rows.values() if v),
        "users_with_objects": sum(1 for v in objects.values() if v),
        "ghosts": len(ghosts),
        "ghost_ids": ghosts[:50],
        "duplicates": duplicates,
        "orphans": len(orphans),
        "orphan_keys": orphans[:50],
        "missing_objects": len(missing),
        "missing_keys": missing[:50],
        "size_mismatches": len(size_mismatches),
        "unrecorded_rows": len(run_row_ids - recorded_ids),
        "listing_lag": sum(1 for fid in recorded_ids - row_ids if lookups.get(fid) == 200),
    }


def verdict(summary: dict[str, Any]) -> str:
    bad = [f"{k}={summary[k]}" for k in VIOLATIONS if summary.get(k)]
    if bad:
        return "FAIL: " + ", ".join(bad)
    warnings = [f"the {name} pass failed" for name in ("reaper", "files_audit")
                if summary.get(name, {}).get("ok") is False
                and summary[name].get("error") != "skipped"]
    if summary.get("open_multipart_uploads"):
        warnings.append(f"{summary['open_multipart_uploads']} multipart uploads of live "
                        "sessions still open")
    return f"clean (warning: {'; '.join(warnings)})" if warnings else "clean"


# ------------------------------------------------------------------------------ entry points
def audit_baseline(target: Target, uploads: list[dict[str, Any]], cleanup: bool = True
                   ) -> dict[str, Any]:
    client = target.minio()
    keys = list_keys(client, target.s3_bucket, BASELINE_PREFIX)
    recorded = {u["key"] for u in uploads}
    ghosts = sorted(recorded - keys)
    summary: dict[str, Any] = {
        "strategy": "baseline", "client_successes": len(uploads), "objects": len(keys),
        "ghosts": len(ghosts), "ghost_ids": ghosts[:50], "duplicates": 0, "orphans": 0,
        "missing_objects": 0, "size_mismatches": 0, "unrecorded_objects": len(keys - recorded),
    }
    if cleanup and keys:
        from minio.deleteobjects import DeleteObject

        errors = list(client.remove_objects(target.s3_bucket,
                                            (DeleteObject(k) for k in sorted(keys))))
        summary["cleanup_errors"] = len(errors)
    return summary


def audit_run(target: Target, results_dir: str | Path, users_file: str | Path | None = None,
              reap: bool = True) -> dict[str, Any]:
    """Audit one strategy's results folder; writes and returns `audit.json`."""
    results = Path(results_dir)
    started = time.monotonic()
    run_info = _read_json(results / "run.json")
    strategy = run_info.get("strategy", "unknown")
    uploads = load_uploads(results)

    if strategy == "baseline":
        summary = audit_baseline(target, uploads)
    else:
        summary = {"strategy": strategy}
        summary["reaper"] = run_reaper(target) if reap else {"ok": False, "error": "skipped"}
        # The newest tokens the run left, refreshed (no password hashing: 1000 logins would
        # cost minutes of Argon2), and written back for whoever uses these accounts next.
        latest = {a["user_id"]: a for a in load_sessions(results)}
        accounts = [latest.get(a["user_id"], a)
                    for a in load_users(users_file or results / "users.json")]
        accounts = asyncio.run(refresh_all(target.edge_url, accounts))
        (results / SESSIONS_AFTER_AUDIT).write_text(json.dumps(accounts, indent=1) + "\n")
        recorded: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for up in uploads:
            recorded[up["user_id"]].append(up)
        rows, lookups = asyncio.run(collect_rows(target.edge_url, accounts, recorded))
        client = target.minio()
        objects = {a["user_id"]: list_keys(client, target.s3_bucket, f"users/{a['user_id']}/")
                   for a in accounts}
        summary.update(compare(uploads, rows, objects, lookups,
                               f"lt-{run_info.get('run_tag', '')}"))
        test_prefixes = tuple(f"users/{a['user_id']}/" for a in accounts)
        still_open = [(k, u) for k, u in open_uploads(client, target.s3_bucket)
                      if k.startswith(test_prefixes)]
        orphans = (orphan_uploads(target.database_urls["upload"], still_open)
                   if "upload" in target.database_urls else [])
        summary["orphan_multipart_uploads"] = len(orphans)
        summary["orphan_multipart_keys"] = orphans[:50]
        summary["open_multipart_uploads"] = len(still_open) - len(orphans)
        summary["files_audit"] = run_files_audit(target)

    summary["verdict"] = verdict(summary)
    summary["audit_seconds"] = round(time.monotonic() - started, 2)
    (results / "audit.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="launcher data dir or its stack.json")
    parser.add_argument("--results", required=True, help="one strategy's results folder")
    parser.add_argument("--users", default=None, help="users.json (default: in --results)")
    parser.add_argument("--no-reap", action="store_true", help="do not run the upload reaper")
    args = parser.parse_args(argv)
    summary = audit_run(Target.from_stack_file(args.stack), args.results, args.users,
                        reap=not args.no_reap)
    print(json.dumps(summary, indent=1))
    print(f"audit {summary.get('strategy')}: {summary['verdict']}", file=sys.stderr)
    return 1 if any(summary.get(k) for k in VIOLATIONS) else 0


if __name__ == "__main__":
    sys.exit(main())
