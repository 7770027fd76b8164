"""Where GoVault's CPU goes per upload: the upload benchmark with a sampling profiler attached.

    python -m loadtest.profile --out loadtest/results/profile-<label>   (`make profile`)
        [--size 1048576] [--modes raw,proxy,multipart] [--seconds 20] [--port-offset 3500]
        [--format raw --gil]   (collapsed stacks of the GIL holder, and whose code ran:
                                loadtest/attribute.py)

It starts a stack of its own (the launcher, in a temporary directory, no Prometheus, port offset
3500 by default so it meets neither `make up` nor the tests) and stops it afterwards. For each
mode it runs `loadtest.bench_uploads`' clients (8 concurrent by default) for --seconds while
py-spy (from PyPI) samples every GoVault process, and writes:

- `<mode>/<process>.svg`: a flame graph of on-CPU samples (edge, auth, upload, files);
- `profile.md` / `profile.json`: uploads/s, the ratio to raw presigned PUTs, and CPU ms per upload
  for each process, PostgreSQL's backends included (the postmaster and its children, with the CPU
  of backends that exited meanwhile) and the S3 store — all measured in the same run.

Figures from a shared or busy machine are not comparable with each other: compare ratios and
per-upload CPU from one run on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from loadtest import attribute
from loadtest.bench_uploads import MIB, Bench, Result
from loadtest.cpu import GROUPS, OURS, Meter
from loadtest.settings import BENCH_ENVIRON

PROFILED = ("edge", "auth", "upload", "files")


def find_py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: `make venv` (it is a dev dependency)")
    return found


SUFFIX = {"flamegraph": "svg", "raw": "txt"}  # raw: collapsed stacks, one line per stack


def start_profilers(out: Path, pids: dict[str, int], seconds: float, rate: int,
                    form: str = "flamegraph", native: bool = False, gil: bool = False
                    ) -> list[subprocess.Popen[bytes]]:
    out.mkdir(parents=True, exist_ok=True)
    spy = find_py_spy()
    return [subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
         str(max(1, int(seconds))), "--format", form,
         # native frames need the process paused while its stack is read
         *(["--native"] if native else ["--nonblocking"]),
         *(["--gil"] if gil else []),  # only the thread holding the GIL: on-CPU Python
         *(["--nolineno"] if form == "raw" else []),  # per function: fewer, merged stacks
         "--output", str(out / f"{name}.{SUFFIX[form]}")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for name, pid in pids.items()]


def _relative_paths(svg: Path) -> None:
    """py-spy writes its command line, absolute paths included, into the graph's title: keep
    them relative to the repository, so saved results hold no machine-specific path."""
    root = str(Path(__file__).resolve().parent.parent) + "/"
    svg.write_text(svg.read_text().replace(root, ""))


async def profile_mode(bench: Bench, http: aiohttp.ClientSession, procs: Meter,
                       mode: str, size: int, seconds: float, out: Path, rate: int,
                       profiled: dict[str, int], form: str = "flamegraph",
                       native: bool = False, gil: bool = False) -> dict[str, Any]:
    spies = (start_profilers(out / mode, profiled, seconds, rate, form, native, gil)
             if mode != "raw" and rate > 0 else [])
    before = procs.snapshot()["cpu_s"]
    result: Result = await bench.run_mode(http, mode, size, seconds)
    after = procs.snapshot()["cpu_s"]
    for spy, name in zip(spies, profiled, strict=False):
        _, err = await asyncio.to_thread(spy.communicate)
        if spy.returncode == 0:
            _relative_paths(out / mode / f"{name}.{SUFFIX[form]}")
        if spy.returncode != 0:
            print(f"py-spy failed ({spy.args!r}): {err.decode(errors='replace')[-300:]}",
                  file=sys.stderr)
    per = max(1, result.uploads)
    cpu_ms = {name: round(1000 * (after[name] - before[name]) / per, 2) for name in after}
    return {"mode": mode, "size_bytes": size, "uploads": result.uploads,
            "errors": result.errors, "uploads_per_s": round(result.rate, 1),
            "cpu_ms_per_upload": cpu_ms,
            "ours_ms_per_upload": round(sum(v for k, v in cpu_ms.items() if k in OURS), 2)}


def write_report(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    raw = next((r for r in rows if r["mode"] == "raw"), None)
    names = list(GROUPS)
    lines = [f"# GoVault CPU per upload — {meta['when']}", "",
             f"`python -m loadtest.profile {meta['argv']}`; {meta['concurrency']} concurrent "
             f"clients, {meta['seconds']:.0f} s per mode, {meta['size_bytes'] / MIB:g} MiB "
             "objects, one stack, one run. CPU in ms per completed upload; *ours* = edge + "
             "auth + upload + files + PostgreSQL backends; loadgen = the clients (this "
             "process).", "",
             "| mode | uploads/s | ÷ raw | ours | " + " | ".join(names) + " | errors |",
             "|---|---|---|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        ratio = (row["uploads_per_s"] / raw["uploads_per_s"]
                 if raw and raw["uploads_per_s"] else float("nan"))
        cpu = row["cpu_ms_per_upload"]
        lines.append(f"| {row['mode']} | {row['uploads_per_s']} | {ratio:.2f} | "
                     f"{row['ours_ms_per_upload'] if row['mode'] != 'raw' else '–'} | "
                     + " | ".join(str(cpu.get(n, "–")) for n in names)
                     + f" | {row['errors']} |")
    suffix = SUFFIX[meta.get("format", "flamegraph")]
    if suffix == "txt" and meta.get("rate", 1):
        lines += ["", "Whose code ran (loadtest/attribute.py: share of the samples"
                  + (", the GIL holder only" if meta.get("gil") else "") + "):", "",
                  attribute.table(out)]
    lines += ["", ("Flame graphs (on-CPU samples, py-spy): " if suffix == "svg"
                   else "Collapsed stacks (py-spy raw, one line per stack): ")
              + ", ".join(f"[{r['mode']}/{n}]({r['mode']}/{n}.{suffix})"
                          for r in rows if r["mode"] != "raw" for n in PROFILED)
              if meta.get("rate", 1) else "No profiler attached (--rate 0): CPU only.", ""]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)  # with --rate 0 no profiler has made it
    (out / "profile.md").write_text(text)
    (out / "profile.json").write_text(json.dumps({"rows": rows, **meta}, indent=2) + "\n")
    return text


async def run(args: argparse.Namespace, out: Path, edge_url: str, env: dict[str, str],
              procs: Meter, profiled: dict[str, int]) -> str:
    bench = Bench(argparse.Namespace(
        edge_url=edge_url, pids=",".join(f"{k}={v}" for k, v in profiled.items()),
        store_pid=0, concurrency=args.concurrency, part_size=args.part_size), s3_env=env)
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=600)) as http:
        await bench.users(http, max(8, args.concurrency))
        for mode in args.modes.split(","):
            row = await profile_mode(bench, http, procs, mode, args.size, args.seconds, out,
                                     args.rate, profiled, args.format, args.native,
                                     args.gil)
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "argv": " ".join(sys.argv[1:]), "concurrency": args.concurrency,
            "seconds": args.seconds, "size_bytes": args.size, "load_average": os.getloadavg(),
            "format": args.format, "rate": args.rate, "store": args.store, "gil": args.gil}
    return write_report(out, rows, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the report and flame graphs")
    parser.add_argument("--port-offset", type=int, default=3500)
    parser.add_argument("--store", choices=("seaweedfs", "minio"), default="seaweedfs",
                        help="the S3 server of the stack (docs/stores.md)")
    parser.add_argument("--size", type=int, default=MIB)
    parser.add_argument("--part-size", type=int, default=100 * MIB)
    parser.add_argument("--modes", default="raw,proxy,multipart")
    parser.add_argument("--seconds", type=float, default=20.0, help="per mode")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=int, default=200,
                        help="py-spy samples per second (0: no profiler, CPU figures only)")
    parser.add_argument("--format", choices=sorted(SUFFIX), default="flamegraph",
                        help="flame graphs (SVG) or raw collapsed stacks (text, to grep)")
    parser.add_argument("--gil", action="store_true",
                        help="sample only the thread holding the GIL (Python on a CPU; "
                             "without it a runnable thread waiting for a core is counted)")
    parser.add_argument("--native", action="store_true",
                        help="sample native frames too (C extensions: grpc, uvloop, psycopg)")
    args = parser.parse_args(argv)
    if args.rate > 0:
        find_py_spy()
    from compose import Stack

    data_dir = Path(tempfile.mkdtemp(prefix="govault-profile-"))
    data_dir.chmod(0o755)  # PostgreSQL's own user must reach its data directory
    stack = Stack(data_dir, args.port_offset, prometheus=False, environ=BENCH_ENVIRON,
                  store=args.store)
    try:
        stack.start()
        pids = {name: stack.pid(name) for name in (*PROFILED, "postgres", args.store)}
        if any(pid is None for pid in pids.values()):
            raise SystemExit(f"missing processes: {pids}")
        profiled = {name: int(pids[name] or 0) for name in PROFILED}
        redis = stack.pid("redis")  # the edge's rate-limit store, when installed
        procs = Meter({**{name: int(pid or 0) for name, pid in pids.items()},
                       **({"redis": redis} if redis else {})}, loadgen=True)
        out = Path(args.out).resolve()
        print(asyncio.run(run(args, out, stack.edge_url, stack.env, procs, profiled)))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
