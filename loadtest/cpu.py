"""CPU time of every process of a stack, read from /proc: what an iteration costs, per process.

A `Meter` is built from a launcher's stack.json (its `pids`, rewritten after every restart) and
takes snapshots: CPU seconds (user + system) per process group —

- edge, auth, upload, files: each GoVault process (replicas summed under their service name);
- postgres: the postmaster and every child, with the CPU of backends that already exited (the
  postmaster's reaped children), so a connection opened and closed during the run still counts;
- redis: the edge's rate-limit store, when the stack runs one (not in *ours*, which is the
  issue's edge + auth + upload + files + PostgreSQL; in *total*);
- store: the S3 server (SeaweedFS or MinIO) and its children;
- loadgen: the measuring process itself (`resource.getrusage`, every thread), when asked.

The difference of two snapshots divided by the iterations between them is the CPU per
iteration. A process that was restarted in between is named in `restarted` (its figure would
be wrong), never silently mixed in.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVICES = ("edge", "auth", "upload", "files")
STORES = ("seaweedfs", "minio")
# Columns in reports, in this order; "ours" = GoVault's own processes with its database.
GROUPS = (*SERVICES, "postgres", "redis", "store", "loadgen")
OURS = (*SERVICES, "postgres")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (every thread)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(leader: int) -> float:
    """CPU of a process and its children: the leader (utime+stime and its reaped children's
    cutime+cstime, so PostgreSQL backends that exited still count) plus every live child.
    (Backends leave the postmaster's process group with setsid(), so the group would miss them.)"""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if int(entry) == leader:
            total += sum(int(f) for f in fields[11:15]) / CLK_TCK
        elif int(fields[1]) == leader:  # ppid
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def group_of(name: str) -> str | None:
    """The report column a stack process belongs to: `auth-2` → auth, `minio` → store."""
    base = name.split("-", 1)[0]
    if base in SERVICES or base in ("postgres", "redis"):
        return base
    if base in STORES:
        return "store"
    return None  # prometheus: not part of an upload's path


MODULES = {"edge": "edge", "svc_auth": "auth", "svc_upload": "upload", "svc_files": "files"}
BINARIES = {"postgres": "postgres", "weed": "seaweedfs", "minio": "minio",
            "redis-server": "redis"}


def pids_from_launcher(launcher: int) -> dict[str, int]:
    """The stack processes a launcher started (its children, named by their command line), for
    a launcher whose stack.json predates `pids`. Replicas of a service are named `auth-2`, …"""
    found: dict[str, int] = {}
    for entry in sorted(os.listdir("/proc"), key=lambda e: int(e) if e.isdigit() else 0):
        if not entry.isdigit():
            continue
        try:
            if int(_stat(int(entry))[1]) != launcher:
                continue
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        name = None
        if "-m" in args[:-1]:
            name = MODULES.get(args[args.index("-m") + 1])
        elif args:
            name = BINARIES.get(Path(args[0]).name)
        if name is None:
            continue
        unique, n = name, 1
        while unique in found:
            n += 1
            unique = f"{name}-{n}"
        found[unique] = int(entry)
    return found


@dataclass(frozen=True)
class Meter:
    """name → pid of the processes measured (from stack.json's `pids`)."""

    pids: Mapping[str, int]
    loadgen: bool = False  # also this process (the load generator)

    @classmethod
    def from_state(cls, state: Mapping[str, Any], loadgen: bool = False) -> Meter:
        named = state.get("pids") or (pids_from_launcher(int(state["pid"]))
                                      if state.get("pid") else {})
        pids = {name: int(pid) for name, pid in named.items() if group_of(name) is not None}
        if not pids:
            raise ValueError("stack.json names no processes (neither pids nor a live launcher)")
        return cls(pids, loadgen)

    @classmethod
    def from_stack_file(cls, path: str | os.PathLike[str], loadgen: bool = False) -> Meter:
        p = Path(path)
        return cls.from_state(json.loads((p / "stack.json" if p.is_dir() else p).read_text()),
                              loadgen)

    def snapshot(self) -> dict[str, Any]:
        """{"cpu_s": {group: seconds}, "pids": {name: pid}}; a process that is gone counts 0
        and is left out of "pids" (so a comparison names it as restarted)."""
        seconds = {g: 0.0 for g in GROUPS if g != "loadgen" or self.loadgen}
        alive: dict[str, int] = {}
        for name, pid in self.pids.items():
            group = group_of(name)
            assert group is not None
            try:
                value = (tree_cpu_seconds(pid) if group in ("postgres", "store")
                         else process_cpu_seconds(pid))
            except (FileNotFoundError, ProcessLookupError):
                continue
            seconds[group] += value
            alive[name] = pid
        if self.loadgen:
            seconds["loadgen"] = self_cpu_seconds()
        return {"cpu_s": {g: round(v, 3) for g, v in seconds.items()}, "pids": alive}


def difference(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """CPU seconds per group between two snapshots, and the processes restarted in between."""
    cpu = {g: round(after["cpu_s"].get(g, 0.0) - before["cpu_s"].get(g, 0.0), 3)
           for g in after["cpu_s"]}
    restarted = sorted(name for name, pid in before.get("pids", {}).items()
                       if after.get("pids", {}).get(name) != pid)
    return {"cpu_s": cpu, "restarted": restarted}


def per_iteration_ms(cpu_s: Mapping[str, float], iterations: int) -> dict[str, float]:
    """ms per iteration for each group, plus "ours" (GoVault's processes with PostgreSQL) and
    "total" (everything measured, the load generator included)."""
    n = max(1, iterations)
    out = {g: round(1000 * cpu_s[g] / n, 2) for g in GROUPS if g in cpu_s}
    out["ours"] = round(sum(1000 * cpu_s.get(g, 0.0) for g in OURS) / n, 2)
    out["total"] = round(sum(1000 * v for v in cpu_s.values()) / n, 2)
    return out


# ------------------------------------------------------------------------------ samples
def load_samples(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """cpu.jsonl of a strategy's folder (the load generator's samples), oldest first."""
    path = Path(folder) / "cpu.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["t"])


def cumulative_at(samples: list[dict[str, Any]], t: float) -> dict[str, float]:
    """CPU seconds per group at `t` s into the run, interpolated between the samples around it
    (clamped to the first and last)."""
    if not samples:
        return {}
    if t <= samples[0]["t"]:
        return dict(samples[0]["cpu_s"])
    for a, b in itertools.pairwise(samples):
        if a["t"] <= t <= b["t"]:
            span = b["t"] - a["t"]
            frac = (t - a["t"]) / span if span > 0 else 1.0
            return {g: a["cpu_s"][g] + frac * (b["cpu_s"].get(g, 0.0) - a["cpu_s"][g])
                    for g in a["cpu_s"]}
    return dict(samples[-1]["cpu_s"])


def over_run(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """CPU seconds per group from the first sample to the last (the shape, ramp-down included),
    with the processes restarted meanwhile."""
    if len(samples) < 2:
        return {}
    return {**difference(samples[0], samples[-1]), "seconds": samples[-1]["t"] - samples[0]["t"]}
