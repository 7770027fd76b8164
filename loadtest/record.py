"""Truthful counting on the client side, written per worker process to the results folder.

k6 counted an iteration as complete when the script reached its end, even after failed steps;
that is how the seed saw 13,425 "iterations" for 624 users with data. Here:

- a **check** is one named expectation (`login 200`, `proxy chunk 0 200`, ...), counted pass/fail
  like k6's checks;
- an **iteration** is successful only if every one of its steps succeeded;
- every successful upload is appended at once to `uploads-<pid>.jsonl` (user id, file id, name,
  size), which the audit compares with file rows and S3 objects afterwards;
- requests and iterations are also bucketed per load stage (a response-time histogram per stage),
  so the report can give exact per-stage percentiles, not the 10-second rolling window of
  Locust's history CSV.

`worker-<pid>.json` is written at the end of the run (and rewritten every flush).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def bucket_ms(ms: float) -> int:
    """Round a response time the way Locust does (exact < 100 ms, then 2 significant digits)."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def percentile(hist: Mapping[Any, int], q: float) -> float:
    """The q-quantile (0..1) of a {bucket_ms: count} histogram (0 when empty; bucket keys are
    strings once read back from JSON)."""
    items = sorted((float(k), v) for k, v in hist.items() if v)
    total = sum(v for _, v in items)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for value, count in items:
        seen += count
        if seen >= rank:
            return value
    return items[-1][0]


def merge_hist(*hists: Mapping[Any, int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for h in hists:
        for k, v in h.items():
            out[int(float(k))] += v
    return dict(out)


# The name suffix of a request answered 503/429 with Retry-After, which the client honoured
# (waited, then sent it again): not a completed request, not an error.
DEFERRED = " [deferred]"


@dataclass
class StageStats:
    requests: int = 0
    failures: int = 0
    deferred: int = 0
    response_ms: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    iterations_ok: int = 0
    iterations_failed: int = 0
    iteration_ms: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "failures": self.failures, "deferred": self.deferred,
                "response_ms": dict(self.response_ms), "iterations_ok": self.iterations_ok,
                "iterations_failed": self.iterations_failed,
                "iteration_ms": dict(self.iteration_ms)}


class Recorder:
    """One per process. Thread/greenlet-safe enough: every update is a few dict operations."""

    def __init__(self, results_dir: str | os.PathLike[str], strategy: str,
                 stage_of: Any = None) -> None:
        self.dir = Path(results_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.strategy = strategy
        self.pid = os.getpid()
        self.stage_of = stage_of or (lambda _t: 0)  # seconds since start -> stage index
        self.t0 = time.time()
        self.checks: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # name -> [pass, fail]
        self.iterations_ok = 0
        self.iterations_failed = 0
        self.failed_steps: dict[str, int] = defaultdict(int)
        self.stages: dict[int, StageStats] = defaultdict(StageStats)
        self.uploads = 0
        self._lock = threading.Lock()
        self._uploads_path = self.dir / f"uploads-{self.pid}.jsonl"
        self._uploads_file = self._uploads_path.open("a", buffering=1)

    # ------------------------------------------------------------------ events
    def start(self) -> None:
        self.t0 = time.time()

    def _stage(self) -> StageStats:
        return self.stages[self.stage_of(time.time() - self.t0)]

    def check(self, name: str, ok: bool) -> bool:
        with self._lock:
            self.checks[name][0 if ok else 1] += 1
        return ok

    def request(self, response_ms: float, failed: bool) -> None:
        with self._lock:
            stage = self._stage()
            stage.requests += 1
            stage.failures += int(failed)
            stage.response_ms[bucket_ms(response_ms)] += 1

    def deferred(self) -> None:
        with self._lock:
            self._stage().deferred += 1

    def iteration(self, ok: bool, duration_ms: float, failed_step: str | None = None) -> None:
        with self._lock:
            stage = self._stage()
            if ok:
                self.iterations_ok += 1
                stage.iterations_ok += 1
            else:
                self.iterations_failed += 1
                stage.iterations_failed += 1
                if failed_step:
                    self.failed_steps[failed_step] += 1
            stage.iteration_ms[bucket_ms(duration_ms)] += 1

    def upload(self, record: Mapping[str, Any]) -> None:
        """A successful upload: written (and flushed) before the iteration is counted."""
        line = json.dumps({**record, "t": round(time.time() - self.t0, 3)})
        with self._lock:
            self._uploads_file.write(line + "\n")
            self.uploads += 1

    # ------------------------------------------------------------------ output
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": self.pid,
                "strategy": self.strategy,
                "started_at": self.t0,
                "written_at": time.time(),
                "iterations_ok": self.iterations_ok,
                "iterations_failed": self.iterations_failed,
                "failed_steps": dict(self.failed_steps),
                "uploads_recorded": self.uploads,
                "checks": {name: {"pass": p, "fail": f} for name, (p, f) in self.checks.items()},
                "stages": {str(i): s.to_dict() for i, s in sorted(self.stages.items())},
            }

    def flush(self) -> Path:
        path = self.dir / f"worker-{self.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=1) + "\n")
        tmp.replace(path)
        return path

    def close(self) -> Path:
        path = self.flush()
        self._uploads_file.close()
        return path


def load_workers(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Merge every worker-*.json in `folder` (one per Locust process) into one summary."""
    merged: dict[str, Any] = {"iterations_ok": 0, "iterations_failed": 0, "uploads_recorded": 0,
                              "checks": {}, "failed_steps": defaultdict(int), "stages": {},
                              "workers": 0}
    for path in sorted(Path(folder).glob("worker-*.json")):
        w = json.loads(path.read_text())
        merged["workers"] += 1
        for key in ("iterations_ok", "iterations_failed", "uploads_recorded"):
            merged[key] += w.get(key, 0)
        for name, c in w.get("checks", {}).items():
            m = merged["checks"].setdefault(name, {"pass": 0, "fail": 0})
            m["pass"] += c["pass"]
            m["fail"] += c["fail"]
        for step, n in w.get("failed_steps", {}).items():
            merged["failed_steps"][step] += n
        for idx, s in w.get("stages", {}).items():
            m = merged["stages"].setdefault(idx, {"requests": 0, "failures": 0, "deferred": 0,
                                                  "response_ms": {}, "iterations_ok": 0,
                                                  "iterations_failed": 0, "iteration_ms": {}})
            for key in ("requests", "failures", "deferred", "iterations_ok", "iterations_failed"):
                m[key] += s.get(key, 0)
            m["response_ms"] = merge_hist(m["response_ms"], s.get("response_ms", {}))
            m["iteration_ms"] = merge_hist(m["iteration_ms"], s.get("iteration_ms", {}))
    merged["failed_steps"] = dict(merged["failed_steps"])
    return merged


def load_uploads(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every successful upload recorded by any worker in `folder`."""
    out: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob("uploads-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out
