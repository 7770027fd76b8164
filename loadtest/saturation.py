"""Where the time goes under load: the services' own histograms, read at every stage boundary of
a run, so the report can say per stage how long each kind of wait took on the server side.

The load generator scrapes each process's /metrics (the ports in the launcher's stack.json) at
the shape's start and at the end of every stage, into RESULTS_DIR/metrics.jsonl; the report takes
the difference between two boundaries of each histogram series and gives its p95 (interpolated
within the bucket, as Prometheus' histogram_quantile does) and its mean:

- `govault_event_loop_lag_seconds`: how late a timer fired in each process (callbacks waiting
  for the loop, or the process waiting for a CPU);
- `govault_db_pool_wait_seconds`: waiting for a pooled PostgreSQL connection;
- `govault_grpc_server_handling_seconds`: a gRPC method in its service, by method;
- `govault_s3_request_duration_seconds`: a call to the store, by operation (its queue included);
- `govault_http_request_duration_seconds`: the edge's whole answer, by route;
- `govault_auth_password_hash_seconds`: an Argon2id hash in auth's hashing thread.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

FAMILIES = {
    "govault_event_loop_lag_seconds": "event-loop lag",
    "govault_db_pool_wait_seconds": "DB pool wait",
    "govault_grpc_server_handling_seconds": "gRPC method",
    "govault_s3_request_duration_seconds": "store call",
    "govault_http_request_duration_seconds": "edge answer",
    "govault_auth_password_hash_seconds": "Argon2id hash",
}
# The label that names a series within its family (the others are dropped).
NAMING_LABEL = {"govault_event_loop_lag_seconds": "service",
                "govault_db_pool_wait_seconds": "service",
                "govault_grpc_server_handling_seconds": "method",
                "govault_s3_request_duration_seconds": "operation",
                "govault_http_request_duration_seconds": "route",
                "govault_auth_password_hash_seconds": ""}
SKIPPED_ROUTES = ("/metrics", "/health", "/ready", "unmatched")

Series = dict[str, Any]  # {"buckets": {le: cumulative count}, "sum": s, "count": n}


def parse(text: str, process: str) -> dict[str, Series]:
    """The histogram series of FAMILIES in one /metrics page, keyed "family|name" (name: the
    naming label's value, else the process)."""
    out: dict[str, Series] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in FAMILIES:
            continue
        naming = NAMING_LABEL[family.name]
        for sample in family.samples:
            name = sample.labels.get(naming, "") if naming else process
            if name in SKIPPED_ROUTES:
                continue
            series = out.setdefault(f"{family.name}|{name}", {"buckets": {}, "sum": 0.0,
                                                              "count": 0.0})
            if sample.name.endswith("_bucket"):
                le = sample.labels["le"]
                series["buckets"][le] = series["buckets"].get(le, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                series["sum"] += sample.value
            elif sample.name.endswith("_count"):
                series["count"] += sample.value
    return out


def merge(pages: Iterable[dict[str, Series]]) -> dict[str, Series]:
    """Series of several processes (replicas, or one family in several services) added up."""
    out: dict[str, Series] = {}
    for page in pages:
        for key, series in page.items():
            into = out.setdefault(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
            for le, n in series["buckets"].items():
                into["buckets"][le] = into["buckets"].get(le, 0.0) + n
            into["sum"] += series["sum"]
            into["count"] += series["count"]
    return out


class Scraper:
    """The /metrics pages of a stack's processes (stack.json's `metrics_ports`)."""

    def __init__(self, ports: Mapping[str, int], host: str = "127.0.0.1",
                 timeout_s: float = 5.0) -> None:
        self.ports = dict(ports)
        self.host = host
        self.timeout_s = timeout_s

    @classmethod
    def from_stack_file(cls, path: str | os.PathLike[str]) -> Scraper:
        p = Path(path)
        state = json.loads((p / "stack.json" if p.is_dir() else p).read_text())
        return cls({name: int(port) for name, port in (state.get("metrics_ports") or {}).items()
                    if int(port)})

    def scrape(self) -> dict[str, Series]:
        pages = []
        for process, port in self.ports.items():
            try:
                with urllib.request.urlopen(f"http://{self.host}:{port}/metrics",
                                            timeout=self.timeout_s) as response:
                    pages.append(parse(response.read().decode(), process.split("-", 1)[0]))
            except OSError:
                continue  # a process restarting: its series are missing from this sample
        return merge(pages)


# ------------------------------------------------------------------------------ the report
def load(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(folder) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["t"])


def difference(before: Series | None, after: Series) -> Series:
    if before is None:
        return after
    return {"buckets": {le: n - before["buckets"].get(le, 0.0)
                        for le, n in after["buckets"].items()},
            "sum": after["sum"] - before["sum"], "count": after["count"] - before["count"]}


def quantile(series: Series, q: float) -> float | None:
    """Prometheus' histogram_quantile over one series' cumulative buckets; None when empty."""
    buckets = sorted(((float(le), n) for le, n in series["buckets"].items()),
                     key=lambda b: b[0])
    total = series["count"] or (buckets[-1][1] if buckets else 0)
    if not buckets or total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # beyond the last finite bucket: its bound, at least
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / span
                                                          if span else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def per_stage(samples: list[dict[str, Any]], stages: list[dict[str, Any]]
              ) -> dict[str, list[dict[str, float] | None]]:
    """"family|name" → per stage {"p95", "mean", "count"} (None: no observation), from the
    samples taken nearest each stage's start and end."""
    def at(t: float) -> dict[str, Series] | None:
        best = min(samples, key=lambda s: abs(s["t"] - t), default=None)
        return best["series"] if best is not None and abs(best["t"] - t) < 5.0 else None

    out: dict[str, list[dict[str, float] | None]] = {}
    keys = sorted({k for s in samples for k in s["series"]})
    bounds = [(at(float(st["start_s"])), at(float(st["end_s"]))) for st in stages]
    if bounds and samples and samples[-1]["t"] >= float(stages[-1]["end_s"]) - 5.0:
        # the last stage ends with the run: its sample is taken once the users stopped
        bounds[-1] = (bounds[-1][0], samples[-1]["series"])
    for key in keys:
        row: list[dict[str, float] | None] = []
        for start, end in bounds:
            if end is None or key not in end:
                row.append(None)
                continue
            d = difference((start or {}).get(key), end[key])
            p95 = quantile(d, 0.95)
            row.append(None if not d["count"] or p95 is None else
                       {"p95": p95, "mean": d["sum"] / d["count"], "count": d["count"]})
        out[key] = row
    return out
