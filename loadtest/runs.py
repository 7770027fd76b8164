"""The staged runs a comparison needs, one command per run set, each strategy on a fresh stack
(a benchmark, not a test; they need a quiet machine: docs/performance.md).

    python -m loadtest.runs shape [--tree DIR] [--out DIR]
        the issue's shape: SCALE 0.3, TIME_FACTOR 0.25 (peak 300 users, 90 s), MinIO;
        baseline, proxy, multipart (default out: loadtest/results/shape-minio)
    python -m loadtest.runs seed-full [--out DIR]
        the seed's full staged test: SCALE 1, TIME_FACTOR 1 (peak 1000 users, 6 min), SeaweedFS
        (default out: loadtest/results/seed-full)
    python -m loadtest.runs seed-full-minio [--out DIR]
        SCALE 1, TIME_FACTOR 0.5 on MinIO (default out: loadtest/results/seed-full-minio)

Options: --tree DIR runs the stacks from that source tree (a git worktree of another build, e.g.
the "before" of a comparison: `git worktree add --detach /tmp/before f468d97`) while this
tree's load generator, CPU meter and report measure it; --strategies to run fewer;
--port-offset (default 2170; moved on while taken).

For each strategy: a stack from the tree (`loadtest.treestack`, no storage quota), its accounts
set up (measured apart), Locust with the shape, the audit; then the stack is stopped and its data
deleted. The folder gets what `loadtest.bench` writes (report.md with the CPU per iteration per
process and the server-side waits per stage) and runs.json (the run set, the tree's commit, the
load average before each strategy: a figure above ~0.5 says the machine was not quiet).
Exit status 1 when an audit found ghosts (or any other violation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtest import audit, bench, shapes
from loadtest.settings import STRATEGIES, LoadSettings
from loadtest.target import REPO_ROOT, Target
from loadtest.treestack import TreeStack

RUN_SETS: dict[str, dict[str, Any]] = {
    "shape": {"scale": 0.3, "time_factor": 0.25, "store": "minio", "out": "shape-minio"},
    "seed-full": {"scale": 1.0, "time_factor": 1.0, "store": "seaweedfs", "out": "seed-full"},
    "seed-full-minio": {"scale": 1.0, "time_factor": 0.5, "store": "minio",
                        "out": "seed-full-minio"},
}


def say(msg: str) -> None:
    print(f"runs: {msg}", flush=True)


def commit_of(tree: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True,
                          text=True, check=False).stdout.strip()


def run_set(name: str, tree: Path, out: Path, strategies: list[str], offset: int,
            overrides: dict[str, float] | None = None,
            stack_env: dict[str, str] | None = None) -> int:
    spec = {**RUN_SETS[name], **(overrides or {})}
    settings = LoadSettings.from_env({**os.environ, "SCALE": str(spec["scale"]),
                                      "TIME_FACTOR": str(spec["time_factor"]),
                                      "SHAPE": "stress"})
    plan = shapes.stages(settings.shape, settings.scale, settings.time_factor)
    env_extra = {k: os.environ[k] for k in bench.PASS_THROUGH if os.environ.get(k)}
    env_extra.update({"SCALE": str(settings.scale), "TIME_FACTOR": str(settings.time_factor),
                      "SHAPE": settings.shape})
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    meta: dict[str, Any] = {
        "run_set": name, "started_at": stamp, "strategies": strategies,
        "scale": settings.scale, "time_factor": settings.time_factor, "shape": settings.shape,
        "store": spec["store"], "stages": [s.to_dict() for s in plan],
        # the tree by name only (its commit says which build it is; a path is this machine's)
        "tree": "." if tree == REPO_ROOT else tree.name, "git_commit": commit_of(tree),
        "tool_commit": commit_of(REPO_ROOT),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "env": env_extra, "fresh_stack_per_strategy": True, "load_average_before": {},
        "overrides": overrides or {}, "stack_env": stack_env or {},
    }
    say(f"{name}: {' → '.join(str(s.to_users) for s in plan)} users over "
        f"{shapes.total_duration_s(plan):.0f} s per strategy, store {spec['store']}, "
        f"tree {tree} ({meta['git_commit'][:10]}) → {out}")
    failures: list[str] = []
    try:
        for strategy in strategies:
            load = os.getloadavg()
            meta["load_average_before"][strategy] = [round(x, 2) for x in load]
            if load[0] > 0.5:
                say(f"warning: load average {load[0]:.2f} before {strategy}: not a quiet machine")
            stack = TreeStack(tree, offset, spec["store"], stack_env)
            try:
                state = stack.start()
                stack_file = stack.data_dir / "stack.json"
                say(f"[{strategy}] fresh stack at {state['edge_url']}")
                summary = bench.run_strategy(
                    Target.from_state(state, source_root=tree), stack_file, strategy,
                    out / strategy, env_extra, settings.user_count,
                    prefix=f"lt{stamp[2:8]}{stamp[9:15]}{strategy[:2]}")
            finally:
                stack.stop()
            if summary.get("error") or any(summary.get(k) for k in audit.VIOLATIONS):
                failures.append(f"{strategy}: {summary.get('error') or summary['verdict']}")
    finally:
        meta["ended_at"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        meta["failures"] = failures
        (out / "runs.json").write_text(json.dumps(meta, indent=1) + "\n")
        (out / "bench.json").write_text(json.dumps(meta, indent=1) + "\n")  # the report's header
        bench.scrub_credentials(out)
    return bench.report_and_status(out, failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.runs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_set", choices=sorted(RUN_SETS))
    parser.add_argument("--tree", type=Path, default=REPO_ROOT,
                        help="the source tree whose build runs (default: this one)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--port-offset", type=int, default=2170)
    parser.add_argument("--scale", type=float, help="instead of the run set's (smoke runs)")
    parser.add_argument("--time-factor", type=float, help="instead of the run set's")
    parser.add_argument("--stack-env", default="",
                        help="NAME=VALUE;… for the stacks' processes (a setting under test)")
    args = parser.parse_args(argv)
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}")
    out = (args.out or REPO_ROOT / "loadtest" / "results" / RUN_SETS[args.run_set]["out"])
    overrides = {k: v for k, v in (("scale", args.scale), ("time_factor", args.time_factor))
                 if v is not None}
    stack_env = dict(item.split("=", 1) for item in args.stack_env.split(";") if item)
    return run_set(args.run_set, args.tree.resolve(), out.resolve(), strategies,
                   args.port_offset, overrides, stack_env)


if __name__ == "__main__":
    sys.exit(main())
