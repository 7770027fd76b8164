"""Two builds side by side, measured in alternating windows (a benchmark, not a test): the CPU
per upload of each process, for a change's before and after, robust on a busy machine.

    python -m loadtest.ab --before /tmp/base --after . [--modes seed-multipart,seed-proxy]
        [--rounds 6] [--seconds 10] [--store minio] [--offsets 2170,2350] [--json FILE]

Each tree (a git worktree of the build to measure; `git worktree add --detach /tmp/base <rev>`)
runs its own stack (`python -m compose.local up` from that tree, with that tree first on
PYTHONPATH, no Prometheus, no storage quota). Then, round after round, every mode runs for
--seconds against one stack and then the other (the order alternating every round), with
`loadtest.bench_uploads`' 8 concurrent clients (this process). Whatever the machine does
meanwhile falls on both builds alike, window by window; the CPU per upload (loadtest/cpu.py:
edge, auth, upload, files, postgres with its backends, the store, and these clients) is summed
over every window of a build, and the spread of the per-window figures is shown too.

Environment for one side only: --before-env / --after-env `NAME=VALUE;NAME=VALUE` (a setting
measured against its absence on the same tree: `--before . --after . --after-env GRPC_X=1`);
an interpreter for one side only: --before-python / --after-python (a venv with the server
extras installed under another Python version).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from loadtest import cpu
from loadtest.bench_uploads import MIB, Bench
from loadtest.treestack import TreeStack


def _tree_name(tree: Path) -> str:
    return "." if tree.resolve() == Path(__file__).resolve().parent.parent else tree.name


@dataclass
class Side:
    label: str
    stack: TreeStack
    state: dict[str, Any] = field(default_factory=dict)
    bench: Bench | None = None
    meter: cpu.Meter | None = None
    windows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def ready(self) -> None:
        self.state = self.stack.wait_ready()
        self.meter = cpu.Meter.from_state(self.state, loadgen=True)

    def make_bench(self, args: argparse.Namespace) -> Bench:
        pids = self.state["pids"]
        return Bench(argparse.Namespace(
            edge_url=self.state["edge_url"], store_pid=0, concurrency=args.concurrency,
            part_size=args.part_size,
            pids=",".join(f"{n}={pids[n]}" for n in ("edge", "upload", "files"))),
            s3_env=self.state["env"])


def parse_env(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(";") if item)


async def window(side: Side, http: aiohttp.ClientSession, mode: str, size: int,
                 seconds: float) -> dict[str, Any]:
    assert side.bench is not None and side.meter is not None
    before = side.meter.snapshot()
    result = await side.bench.run_mode(http, mode, size, seconds)
    used = cpu.difference(before, side.meter.snapshot())
    return {"uploads": result.uploads, "errors": result.errors, "seconds": result.seconds,
            "cpu_s": used["cpu_s"], "restarted": used["restarted"]}


def summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    uploads = sum(w["uploads"] for w in windows)
    groups = windows[0]["cpu_s"].keys()
    total = {g: sum(w["cpu_s"][g] for w in windows) for g in groups}
    per = cpu.per_iteration_ms(total, uploads)
    spread = [cpu.per_iteration_ms(w["cpu_s"], w["uploads"])["ours"] for w in windows
              if w["uploads"]]
    return {"uploads": uploads, "errors": sum(w["errors"] for w in windows),
            "uploads_per_s": round(uploads / sum(w["seconds"] for w in windows), 1),
            "cpu_ms_per_upload": per,
            "ours_per_window": {"min": min(spread), "median": statistics.median(spread),
                                "max": max(spread)} if spread else {},
            "restarted": sorted({n for w in windows for n in w["restarted"]})}


async def run(args: argparse.Namespace, sides: list[Side]) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=600)) as http:
        for side in sides:
            side.bench = side.make_bench(args)
            await side.bench.users(http, max(8, args.concurrency))
        for r in range(args.rounds):
            for mode in args.modes:
                for side in (sides if r % 2 == 0 else sides[::-1]):
                    w = await window(side, http, mode, args.size, args.seconds)
                    side.windows.setdefault(mode, []).append(w)
                    ours = cpu.per_iteration_ms(w["cpu_s"], w["uploads"])["ours"]
                    print(f"round {r + 1} {mode:15s} {side.label:6s} {w['uploads']:4d} uploads "
                          f"ours {ours:6.2f} ms/upload  load {os.getloadavg()[0]:.1f}",
                          flush=True)
    return {mode: {side.label: summary(side.windows[mode]) for side in sides}
            for mode in args.modes}


def table(results: dict[str, Any]) -> str:
    groups = [*cpu.GROUPS, "ours", "total"]
    lines = ["| mode | build | uploads/s | " + " | ".join(groups)
             + " | ours per window (min / median / max) | errors |",
             "|---|---|---|" + "---|" * len(groups) + "---|---|"]
    for mode, by_side in results.items():
        for label, s in by_side.items():
            per = s["cpu_ms_per_upload"]
            spread = s["ours_per_window"]
            lines.append(f"| {mode} | {label} | {s['uploads_per_s']} | "
                         + " | ".join(f"{per.get(g, 0):.2f}" for g in groups)
                         + f" | {spread.get('min', 0):.2f} / {spread.get('median', 0):.2f} / "
                         f"{spread.get('max', 0):.2f} | {s['errors']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, type=Path, help="the tree of the old build")
    parser.add_argument("--after", required=True, type=Path, help="the tree of the new build")
    parser.add_argument("--before-env", default="", help="NAME=VALUE;… for the old build only")
    parser.add_argument("--after-env", default="", help="NAME=VALUE;… for the new build only")
    parser.add_argument("--before-python", default="",
                        help="the old build's interpreter (default: this one)")
    parser.add_argument("--after-python", default="",
                        help="the new build's interpreter (a venv of another Python version)")
    parser.add_argument("--modes", default="seed-multipart,seed-proxy")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0, help="per window")
    parser.add_argument("--size", type=int, default=MIB)
    parser.add_argument("--part-size", type=int, default=100 * MIB)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--store", choices=("seaweedfs", "minio"), default="minio")
    parser.add_argument("--offsets", default="2170,2350",
                        help="the two stacks' port offsets (moved on while taken)")
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    first, second = (int(o) for o in args.offsets.split(","))
    sides = [Side("before", TreeStack(args.before, first, args.store, parse_env(args.before_env),
                                      args.before_python)),
             Side("after", TreeStack(args.after, second, args.store, parse_env(args.after_env),
                                     args.after_python))]
    try:
        for side in sides:
            side.stack.launch()  # both start at once, then each is waited for
        for side in sides:
            side.ready()
        results = asyncio.run(run(args, sides))
    finally:
        for side in sides:
            side.stack.stop()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({
            # trees by name only (a path is this machine's; "." is this tree)
            "args": {k: (_tree_name(v) if isinstance(v, Path)
                         else Path(v).name if k == "json" else str(v))
                     for k, v in vars(args).items() if not k.endswith("_python")},
            # interpreters by version only (their paths are this machine's too)
            "python": {side.label: side.stack.python_version() for side in sides},
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
