"""One command for the whole comparison: `python -m loadtest.bench` (`make bench`).

    SCALE=0.05 TIME_FACTOR=0.1 python -m loadtest.bench                 # a 36-second shape
    python -m loadtest.bench --strategies proxy,multipart --ghz
    python -m loadtest.bench --stack .data                               # use a running stack
    python -m loadtest.bench --store minio --strategies multipart         # a stack on MinIO

1. starts a fresh local stack (`compose.stack.Stack`, data under loadtest/results/_runs/, port
   offset 3000 so it never collides with `make up` or the test stacks), unless --stack is given;
2. for each strategy (baseline, proxy, multipart, tus by default; STRATEGIES or --strategies):
   setup (1000 × SCALE accounts signed up and logged in for the first strategy that needs
   them; later strategies reuse those accounts with fresh tokens, since Argon2 makes sign-ups
   the slowest step, and the audit tells runs apart by their file names), Locust headless with
   the shape (SHAPE, SCALE, TIME_FACTOR), a progress line every few seconds, then the audit
   (loadtest/audit.py);
3. optionally runs the ghz configurations against the gRPC services (--ghz);
4. writes loadtest/results/<UTC timestamp>/: per strategy Locust CSV/JSON, worker records,
   audit.json, locust.log, cpu.jsonl (every process's CPU, sampled by Locust over the shape),
   setup.json (the account set-up's time and CPU, apart); and report.md / report.csv /
   stages.csv / charts (loadtest/report.py), with the CPU per iteration per process;
5. stops the stack and (unless --keep-stack) deletes its data and the files holding its tokens
   (users.json, sessions-*.json, resolved ghz configs). Exit status 1 when an audit found
   ghosts (or any other violation).

Other knobs (FILE_SIZE, PART_SIZE, REFRESH_MODE, THINK_*_S, CONFIRM) pass through to Locust.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtest import audit, cpu, report, shapes, users
from loadtest.settings import BENCH_ENVIRON, STRATEGIES, LoadSettings, SettingsError
from loadtest.target import REPO_ROOT, Target, TargetError

STORES = ("seaweedfs", "minio")  # compose.stack.STORES (not imported: the launcher is optional)

RESULTS_ROOT = REPO_ROOT / "loadtest" / "results"
LOCUSTFILE = REPO_ROOT / "loadtest" / "locustfile.py"
PASS_THROUGH = ("SHAPE", "FILE_SIZE", "PART_SIZE", "REFRESH_MODE", "THINK_AUTH_S", "THINK_LIST_S",
                "THINK_COMPLETE_S", "CONFIRM", "PROGRESS_S")


def say(msg: str) -> None:
    print(f"bench: {msg}", flush=True)


def run_locust(strategy: str, folder: Path, target: Target, stack_file: Path, env_extra: dict[str,
               str], users_file: Path | None, stop_timeout_s: int) -> int:
    """Locust headless for one strategy; streams progress lines, logs everything else."""
    env = dict(os.environ)
    env.update(env_extra)
    env.update({"STRATEGY": strategy, "RESULTS_DIR": str(folder), "EDGE_URL": target.edge_url,
                "STACK_FILE": str(stack_file), "PYTHONUNBUFFERED": "1"})
    if users_file is not None:
        env["USERS_FILE"] = str(users_file)
    else:
        env.pop("USERS_FILE", None)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "--host", target.edge_url, "--csv", str(folder / "locust"),
           "--json-file", str(folder / "locust"), "--stop-timeout", str(stop_timeout_s),
           "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    with (folder / "locust.log").open("w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if line.startswith(("[progress]", "[done]")) or "Traceback" in line:
                print("  " + line.rstrip(), flush=True)
        return proc.wait()


def run_strategy(target: Target, stack_file: Path, strategy: str, folder: Path,
                 env_extra: dict[str, str], user_count: int, stop_timeout_s: int = 30,
                 prefix: str | None = None, accounts: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """Setup, Locust, audit for one strategy into `folder`; returns the audit summary (with
    "error" when Locust itself failed). The e2e smoke test calls this too.

    `accounts` (from an earlier strategy) are reused with fresh tokens instead of signing up
    new ones: Argon2 makes 1000 sign-ups + logins the slowest part of a short run."""
    folder.mkdir(parents=True, exist_ok=True)
    # An earlier run's per-process records in the same folder would be merged into this one's
    # counts and audited against this stack (its successes would all look like ghosts).
    for pattern in ("worker-*.json", "uploads-*.jsonl", "sessions-*.json", "cpu.jsonl",
                    "setup.json", "run.json"):
        for stale in folder.glob(pattern):
            stale.unlink()
    users_file = None
    if strategy != "baseline":
        users_file = folder / "users.json"
        meter = _meter(stack_file)
        before, started = meter.snapshot() if meter else None, time.monotonic()
        if accounts:
            say(f"[{strategy}] setup: {len(accounts)} accounts (reused, fresh tokens) …")
            users.reuse(target.edge_url, accounts, users_file)
        else:
            say(f"[{strategy}] setup: {user_count} accounts …")
            users.prepare(target.edge_url, user_count, users_file, prefix=prefix)
        # The account set-up (Argon2id hashing above all) is reported apart, never in the
        # CPU per iteration, which Locust's own samples (cpu.jsonl) cover from the shape's start.
        setup: dict[str, Any] = {"accounts": len(accounts or []) or user_count,
                                 "reused": bool(accounts),
                                 "seconds": round(time.monotonic() - started, 2)}
        if meter and before:
            setup.update(cpu.difference(before, meter.snapshot()))
        (folder / "setup.json").write_text(json.dumps(setup, indent=1) + "\n")
    say(f"[{strategy}] load test …")
    code = run_locust(strategy, folder, target, stack_file, env_extra, users_file,
                      stop_timeout_s)
    if code != 0:
        say(f"[{strategy}] locust exited {code} (see {folder}/locust.log)")
        return {"strategy": strategy, "error": f"locust exited {code}",
                "verdict": "not audited"}
    say(f"[{strategy}] audit …")
    summary = audit.audit_run(target, folder, users_file)
    say(f"[{strategy}] audit: {summary['verdict']}")
    return summary


def bench(args: argparse.Namespace) -> int:
    settings = LoadSettings.from_env({**os.environ, "SCALE": str(args.scale),
                                      "TIME_FACTOR": str(args.time_factor), "SHAPE": args.shape})
    plan = shapes.stages(settings.shape, settings.scale, settings.time_factor)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    # Absolute: Locust runs with each strategy's folder as its working directory.
    out = (Path(args.out) if args.out else RESULTS_ROOT / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env_extra = {k: os.environ[k] for k in PASS_THROUGH if os.environ.get(k)}
    env_extra.update({"SCALE": str(settings.scale), "TIME_FACTOR": str(settings.time_factor),
                      "SHAPE": settings.shape})
    say(f"results → {out}")
    say(f"shape {settings.shape}: {' → '.join(str(s.to_users) for s in plan)} users over "
        f"{shapes.total_duration_s(plan):.0f} s per strategy; "
        f"strategies {', '.join(args.strategies)}")

    stack = None
    if args.stack:
        stack_file = Path(args.stack)
        stack_file = stack_file / "stack.json" if stack_file.is_dir() else stack_file
        target = Target.from_stack_file(stack_file)
        say(f"using the running stack at {target.edge_url}")
    else:
        from compose.stack import Stack  # only the bench needs the launcher

        data_dir = RESULTS_ROOT / "_runs" / stamp / "stack"
        say(f"starting a fresh stack in {data_dir} (port offset {args.port_offset}, "
            f"store {args.store}) …")
        stack = Stack(data_dir, args.port_offset, environ=BENCH_ENVIRON, store=args.store)
        try:
            stack.start()
        except Exception as exc:  # StackError, PortInUseError: their message names the fix
            if not args.keep_stack:
                shutil.rmtree(RESULTS_ROOT / "_runs" / stamp, ignore_errors=True)
            raise TargetError(f"the stack did not start: {exc}") from exc
        stack_file = data_dir / "stack.json"
        target = Target.from_stack(stack)
        say(f"stack ready at {target.edge_url}")

    failures: list[str] = []
    accounts: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = {
        "started_at": stamp, "strategies": args.strategies, "scale": settings.scale,
        "time_factor": settings.time_factor, "shape": settings.shape,
        "stages": [s.to_dict() for s in plan], "edge_url": target.edge_url,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "git_commit": _git_commit(), "env": env_extra,
        "store": json.loads(stack_file.read_text()).get("store", "unknown"),
    }
    try:
        for i, strategy in enumerate(args.strategies):
            if i:
                time.sleep(args.pause_s)
            summary = run_strategy(target, stack_file, strategy, out / strategy, env_extra,
                                   settings.user_count, args.stop_timeout_s,
                                   prefix=f"lt{stamp[2:8]}{stamp[9:15]}", accounts=accounts)
            if strategy != "baseline":
                accounts = _latest_accounts(out / strategy)
            if summary.get("error") or any(summary.get(k) for k in audit.VIOLATIONS):
                failures.append(f"{strategy}: {summary.get('error') or summary['verdict']}")
        if args.ghz:
            from loadtest import ghz

            say("ghz …")
            meta["ghz"] = ghz.run_all(target, out / "ghz")
    finally:
        meta["ended_at"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        meta["failures"] = failures
        (out / "bench.json").write_text(json.dumps(meta, indent=1) + "\n")
        if stack is not None:
            say("stopping the stack …")
            stack.stop()
            if not args.keep_stack:
                shutil.rmtree(RESULTS_ROOT / "_runs" / stamp, ignore_errors=True)
                scrub_credentials(out)

    return report_and_status(out, failures)


def report_and_status(out: Path, failures: list[str]) -> int:
    """Builds and prints the folder's report, names the failures; the exit status."""
    path = report.build(out)
    print(path.read_text())
    say(f"report: {path}")
    for failure in failures:
        say(f"FAILED {failure}")
    return 1 if failures else 0


def scrub_credentials(out: Path) -> None:
    """Once the stack is gone its tokens are useless, and the results folder should be safe to
    commit: drop the files that hold tokens (accounts, sessions, resolved ghz configs)."""
    for pattern in ("*/users.json", "*/sessions-*.json", "ghz/*.config.json"):
        for path in out.glob(pattern):
            path.unlink(missing_ok=True)


def _meter(stack_file: Path) -> cpu.Meter | None:
    """This process (it signs the accounts up) and the stack's, if stack.json names them."""
    try:
        return cpu.Meter.from_stack_file(stack_file, loadgen=True)
    except (OSError, ValueError) as exc:
        say(f"CPU not measured: {exc}")
        return None


def _latest_accounts(folder: Path) -> list[dict[str, Any]]:
    """users.json of a finished strategy, with the newest tokens its run and audit left."""
    latest = {a["user_id"]: a for a in users.load_sessions(folder)}
    return [latest.get(a["user_id"], a) for a in users.load(folder / "users.json")]


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=False).stdout.strip()
    except OSError:
        return ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategies", default=os.environ.get("STRATEGIES", ",".join(STRATEGIES)),
                        help="comma-separated, from baseline, proxy, multipart, tus")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE") or 1))
    parser.add_argument("--time-factor", type=float,
                        default=float(os.environ.get("TIME_FACTOR") or 1))
    parser.add_argument("--shape", default=os.environ.get("SHAPE") or "stress")
    parser.add_argument("--out", default=None, help="results folder (default: timestamped)")
    parser.add_argument("--stack", default=None,
                        help="use a running stack (its data dir or stack.json)")
    parser.add_argument("--port-offset", type=int, default=3000)
    parser.add_argument("--store", choices=STORES, default="seaweedfs",
                        help="the S3 server of the stack the bench starts (docs/stores.md)")
    parser.add_argument("--keep-stack", action="store_true", help="keep the stack's data dir")
    parser.add_argument("--stop-timeout-s", type=int, default=30,
                        help="let users finish their iteration when ramping down (k6: 30 s)")
    parser.add_argument("--pause-s", type=float, default=5.0, help="rest between strategies")
    parser.add_argument("--ghz", action="store_true", help="also run the ghz gRPC benchmarks")
    args = parser.parse_args(argv)
    args.strategies = [s.strip().lower() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown or not args.strategies:
        parser.error(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return bench(args)
    except (SettingsError, users.SetupError, TargetError) as exc:
        say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
