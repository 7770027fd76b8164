"""Whose code a process's CPU runs: py-spy's collapsed stacks sorted into four kinds.

    python -m loadtest.attribute DIR [DIR …]    (a `loadtest.profile --format raw --gil` folder)

Each sample's innermost frame (the code on the CPU) and the frames above it decide:

- **our code**: the innermost frame is GoVault's (edge, common, svc_*), `__main__` aside;
- **logging + metrics**: structlog, prometheus_client or logging, called from our code;
- **libraries called by us**: any other library or standard module called from our code (gRPC
  client calls, psycopg, aiohttp's client, PyJWT, XML, hashing …);
- **machinery**: no frame of ours above it: the event loop and the servers' own handling of a
  request or a call before and after our handler (aiohttp's HTTP server, gRPC's C core and
  Cython layer, completion callbacks).

What our code could save at most is its own share plus the logging and metrics it calls; the
machinery and the library calls are the price of the calls themselves (fewer calls is the
only way to pay less of it). Shares are of the samples; with `--gil` only the thread holding
the GIL is sampled (a process's other threads and its system time are not in them).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

OURS = ("edge", "common", "svc_auth", "svc_upload", "svc_files")
OBSERVATION = ("structlog", "prometheus_client", "logging")
KINDS = ("our code", "logging + metrics", "libraries called by us", "machinery")

_FRAME = re.compile(r"\((?P<path>[^():]+)(:\d+)?\)$")  # py-spy: `function (path[:line])`


def _package(frame: str) -> str:
    """The first component of a frame's file path (`edge/app.py` → `edge`), or ''."""
    found = _FRAME.search(frame)
    return found.group("path").split("/", 1)[0] if found else ""


def _ours(frame: str) -> bool:
    return _package(frame) in OURS and "/__main__.py" not in frame


def kind(stack: str) -> str:
    """The kind of one collapsed stack (`outer;…;inner`)."""
    frames = stack.split(";")
    if _ours(frames[-1]):
        return "our code"
    if not any(_ours(frame) for frame in frames):
        return "machinery"
    if _package(frames[-1]) in OBSERVATION:
        return "logging + metrics"
    return "libraries called by us"


def shares(collapsed: str) -> dict[str, float]:
    """Each kind's share of the samples in py-spy's raw output (`stack count` per line)."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[kind(stack)] += int(count)
    total = sum(counts.values())
    return {name: (counts[name] / total if total else 0.0) for name in KINDS}


def table(folder: Path) -> str:
    """A markdown table of every `<mode>/<process>.txt` under `folder`."""
    lines = ["| mode | process | samples | " + " | ".join(KINDS) + " |",
             "|---|---|---|" + "---|" * len(KINDS)]
    for raw in sorted(folder.glob("*/*.txt")):
        text = raw.read_text()
        samples = sum(int(line.rpartition(" ")[2]) for line in text.splitlines()
                      if line.rpartition(" ")[2].isdigit())
        share = shares(text)
        lines.append(f"| {raw.parent.name} | {raw.stem} | {samples} | "
                     + " | ".join(f"{100 * share[name]:.0f} %" for name in KINDS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.attribute", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path,
                        help="loadtest.profile --format raw output folders")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not any(folder.glob("*/*.txt")):
            print(f"{folder}: no <mode>/<process>.txt (run loadtest.profile --format raw)",
                  file=sys.stderr)
            return 2
        print(f"{folder}\n\n{table(folder)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
