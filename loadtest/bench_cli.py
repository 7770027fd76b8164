"""`govault` CLI transfer benchmark (a benchmark, not a test): one file (default 1 GiB) uploaded
with `govault put --method multipart` (with `--methods multipart,tus` also `--method tus`) and
downloaded with `govault get`, against the minio SDK's
`fput_object` / `fget_object` on the same store in the same run, alternating, `--rounds` times.
Reports MiB/s of each, the CLI ÷ SDK throughput ratios (aim ≥ 0.8) and the CLI's peak RSS
(its own rusage, via wait4, from a small parent; aim < 150 MiB). Every transfer is checked
byte-exact (SHA-256) outside the timed part.

    python -m loadtest.bench_cli --stack .data            # a running `make up` stack
    python -m loadtest.bench_cli --size 64MiB             # starts (and stops) its own stack
    python -m loadtest.bench_cli --size 1GiB --rounds 3 --out cli-bench.json

The SDK uses its defaults (fput_object: 3 parallel parts over one object); the CLI uses
`--parallel` and `--part-size` (defaults: the CLI's own, 4 and 16 MiB).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from minio import Minio

from cli.transfer_commands import parse_bytes
from loadtest.settings import BENCH_ENVIRON
from loadtest.target import Target

MIB = 1024 * 1024
PASSWORD = "Bench@12345"
GOVAULT = Path(sys.executable).parent / "govault"

# Runs argv[2:] and writes its peak RSS (bytes) to argv[1]: its rusage as its parent sees it
# (wait4). The parent is a bare interpreter, so the pages a forked child shares with it before
# exec count for little (a child forked from a big process would count that process's RSS).
MEASURE_RSS = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str], env: dict[str, str], cwd: Path, rss_file: Path,
                 timeout_s: float | None = None) -> tuple[subprocess.CompletedProcess[str], int]:
    """Runs `command` to the end; returns the completed process and its peak RSS in bytes."""
    done = subprocess.run([sys.executable, "-c", MEASURE_RSS, str(rss_file), *command],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL, check=False)
    return done, int(rss_file.read_text() or 0)


@dataclass
class Round:
    sdk_put_s: float
    sdk_get_s: float
    cli_put_s: float
    cli_get_s: float
    cli_put_rss: int
    cli_get_rss: int
    # `govault put --method tus` (--methods multipart,tus): seconds and peak RSS, 0 when not run
    tus_put_s: float = 0.0
    tus_put_rss: int = 0


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            f.write(block)
            left -= len(block)
    return path


class Bench:
    def __init__(self, target: Target, work: Path, args: argparse.Namespace) -> None:
        self.target = target
        self.work = work
        self.args = args
        endpoint = urlsplit(target.s3_endpoint)
        self.s3 = Minio(endpoint.netloc, access_key=target.s3_access_key,
                        secret_key=target.s3_secret_key, secure=endpoint.scheme == "https",
                        region=target.s3_region)
        home = work / "home"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("GOVAULT_")},
                    "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                    "XDG_STATE_HOME": str(home / "state"), "GOVAULT_SERVER": target.edge_url,
                    "GOVAULT_PASSWORD": PASSWORD}

    def govault(self, *args: str) -> tuple[dict[str, Any], int, float]:
        """(the JSON result, peak RSS, seconds) of one `govault … --json` run."""
        started = time.perf_counter()
        done, rss = run_measured([str(GOVAULT), *args, "--json", "--quiet"], self.env,
                                 self.work, self.work / "rss")
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"govault {' '.join(args)} failed ({done.returncode}): "
                             f"{done.stderr.strip()}")
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        return (json.loads(lines[-1]) if lines else {}), rss, elapsed

    def sign_up(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.govault("signup", "--username", f"bench_{tag}", "--email",
                     f"bench-{tag}@example.com")

    def round(self, source: Path, digest: str) -> Round:
        key = f"bench-cli/{uuid.uuid4().hex}"
        back = self.work / "sdk-back.bin"
        started = time.perf_counter()
        self.s3.fput_object(self.target.s3_bucket, key, str(source))
        sdk_put = time.perf_counter() - started
        started = time.perf_counter()
        self.s3.fget_object(self.target.s3_bucket, key, str(back))
        sdk_get = time.perf_counter() - started
        self.s3.remove_object(self.target.s3_bucket, key)
        if sha256(back) != digest:
            raise SystemExit("the SDK's download does not match the source")
        back.unlink()

        put_args = ["put", str(source), "--method", "multipart"]
        if self.args.parallel:
            put_args += ["--parallel", str(self.args.parallel)]
        if self.args.part_size:
            put_args += ["--part-size", self.args.part_size]
        uploaded, put_rss, cli_put = self.govault(*put_args)
        downloaded, get_rss, cli_get = self.govault("get", uploaded["file_id"], "-o",
                                                    str(self.work / "cli-back.bin"))
        written = Path(downloaded["path"])
        if sha256(written) != digest:
            raise SystemExit("the CLI's download does not match the source")
        written.unlink()
        self.govault("rm", uploaded["file_id"])
        tus_put, tus_rss = 0.0, 0
        if "tus" in self.args.methods.split(","):
            tus_args = ["put", str(source), "--method", "tus"]
            if self.args.tus_chunk_size:
                tus_args += ["--tus-chunk-size", self.args.tus_chunk_size]
            by_tus, tus_rss, tus_put = self.govault(*tus_args)
            self.govault("rm", by_tus["file_id"])
        return Round(sdk_put, sdk_get, cli_put, cli_get, put_rss, get_rss, tus_put, tus_rss)


def summarise(size: int, rounds: list[Round]) -> dict[str, Any]:
    def mib_s(seconds: list[float]) -> float:
        return size / MIB / statistics.median(seconds)

    sdk_put = mib_s([r.sdk_put_s for r in rounds])
    sdk_get = mib_s([r.sdk_get_s for r in rounds])
    cli_put = mib_s([r.cli_put_s for r in rounds])
    cli_get = mib_s([r.cli_get_s for r in rounds])
    return {
        "size_bytes": size, "rounds": len(rounds),
        "sdk_put_mib_s": round(sdk_put, 1), "cli_put_mib_s": round(cli_put, 1),
        "put_ratio": round(cli_put / sdk_put, 3),
        "sdk_get_mib_s": round(sdk_get, 1), "cli_get_mib_s": round(cli_get, 1),
        "get_ratio": round(cli_get / sdk_get, 3),
        "cli_put_peak_rss_mib": round(max(r.cli_put_rss for r in rounds) / MIB, 1),
        **({"tus_put_mib_s": round(mib_s([r.tus_put_s for r in rounds]), 1),
            "tus_put_ratio": round(mib_s([r.tus_put_s for r in rounds]) / sdk_put, 3),
            "tus_put_peak_rss_mib": round(max(r.tus_put_rss for r in rounds) / MIB, 1)}
           if all(r.tus_put_s for r in rounds) else {}),
        "cli_get_peak_rss_mib": round(max(r.cli_get_rss for r in rounds) / MIB, 1),
        "load_average": os.getloadavg(),
        "raw": [asdict(r) for r in rounds],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GiB", help="file size (1GiB, 64MiB, …)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stack", help="data dir (or stack.json) of a running stack; "
                                        "default: start a fresh one")
    parser.add_argument("--port-offset", type=int, default=3200,
                        help="for the fresh stack (default 3200)")
    parser.add_argument("--parallel", type=int, default=0, help="govault put --parallel")
    parser.add_argument("--part-size", default="", help="govault put --part-size")
    parser.add_argument("--methods", default="multipart",
                        help="multipart, or multipart,tus: also `govault put --method tus`")
    parser.add_argument("--tus-chunk-size", default="",
                        help="govault put --tus-chunk-size (default: the whole file at once)")
    parser.add_argument("--out", help="also write the JSON summary here")
    args = parser.parse_args(argv)
    size = parse_bytes(args.size)

    stack = None
    with tempfile.TemporaryDirectory(prefix="govault-bench-cli-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # PostgreSQL's own user must reach the fresh stack's data
        if args.stack:
            target = Target.from_stack_file(args.stack)
        else:
            from compose.stack import Stack  # only a self-started run needs the launcher

            print(f"starting a fresh stack (port offset {args.port_offset}) …", file=sys.stderr)
            stack = Stack(work / "stack", args.port_offset, environ=BENCH_ENVIRON)
            stack.start()
            target = Target.from_stack(stack)
        try:
            bench = Bench(target, work, args)
            source = work / "source.bin"
            print(f"writing a {size / MIB:.0f} MiB random file …", file=sys.stderr)
            random_file(source, size)
            digest = sha256(source)
            bench.sign_up()
            rounds = []
            for i in range(args.rounds):
                print(f"round {i + 1}/{args.rounds} …", file=sys.stderr)
                rounds.append(bench.round(source, digest))
            summary = summarise(size, rounds)
        finally:
            if stack is not None:
                stack.stop()
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(f"| {size / MIB:.0f} MiB | put multipart {summary['cli_put_mib_s']} vs SDK "
          f"{summary['sdk_put_mib_s']} MiB/s (ratio {summary['put_ratio']}) | get "
          f"{summary['cli_get_mib_s']} vs {summary['sdk_get_mib_s']} MiB/s (ratio "
          f"{summary['get_ratio']}) | CLI peak RSS put {summary['cli_put_peak_rss_mib']} / get "
          f"{summary['cli_get_peak_rss_mib']} MiB |", file=sys.stderr)
    if "tus_put_mib_s" in summary:
        print(f"| {size / MIB:.0f} MiB | put tus {summary['tus_put_mib_s']} vs SDK "
              f"{summary['sdk_put_mib_s']} MiB/s (ratio {summary['tus_put_ratio']}) | CLI peak "
              f"RSS {summary['tus_put_peak_rss_mib']} MiB |", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
