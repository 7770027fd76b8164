"""Turn a results folder into the seed's comparative table, per-stage numbers and charts.

    python -m loadtest.report loadtest/results/<timestamp>

A results folder holds one subfolder per strategy (baseline/, proxy/, multipart/), each with
run.json, Locust's CSVs (locust_stats.csv, locust_stats_history.csv), worker-*.json (record.py)
and audit.json. Written next to them: report.md, report.csv (one row per strategy), stages.csv
(one row per strategy and stage) and PNG charts.

How the numbers are computed:
- **VU count**: the run's peak users (whole run, as the seed labelled its runs) or the stage's
  target (per stage; ramps go from the previous target to this one).
- **Throughput (RPS)**: HTTP requests / duration. Whole run: Locust's aggregated Requests/s.
  Per stage: the difference of Locust's cumulative request counter (stats history CSV) across
  the stage, divided by the stage's duration.
- **Median / p95**: whole run: Locust's aggregated percentiles. Per stage: from the per-stage
  response-time histograms the workers record (exact to Locust's rounding), falling back to the
  history CSV's rolling-window percentiles when absent.
- **Error rate**: failed requests / requests (k6's http_req_failed), same sources as RPS.
- **Deferred**: answers 503/429 with Retry-After, which the client honours (waits, then sends
  the same request again, within its 60 s request timeout). They are neither requests, errors
  nor latencies above (the request is counted once, when answered); the iteration's duration
  (iteration p95, in the checks section and the CSVs) includes the waits.
- **Iterations/s**: *successful* iterations (every step passed) / duration.
- **Ratio to baseline**: iterations/s ÷ the baseline's iterations/s for the same shape, SCALE
  and think times (per stage: the same stage of the baseline run). RPS is not compared across
  strategies: a 1-part multipart iteration makes 6 requests (refresh, list, session, S3 PUT,
  register, complete), a 1-chunk proxy one 4 (refresh, list, session, chunk), the baseline 1.
- **Audit**: audit.json's verdict (ghosts, duplicates, orphans, missing objects).
- **CPU per iteration**: CPU seconds (user + system, from /proc) each process group spent over
  the shape — from the load generator's first sample at the shape's start to its last after the
  ramp-down (cpu.jsonl, every 2 s; per stage, interpolated at the stage's bounds) — divided by
  the successful iterations in that window. Groups: edge, auth, upload, files, postgres (every
  backend, exited ones included), *ours* (those five), store (SeaweedFS or MinIO), loadgen
  (the Locust process), total; *cores busy* = total CPU seconds ÷ wall seconds. The account
  set-up (sign-ups, Argon2id) comes before the shape and is reported apart (setup.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest import cpu, saturation
from loadtest.record import load_workers, merge_hist, percentile

ORDER = ("baseline", "proxy", "multipart")
COLORS = {"baseline": "#7f7f7f", "proxy": "#d62728", "multipart": "#1f77b4"}


@dataclass
class Row:
    strategy: str
    vus: int
    rps: float
    median_ms: float
    p95_ms: float
    error_rate: float  # 0..1
    requests: int
    failures: int
    iterations_ok: int
    iterations_failed: int
    iterations_per_s: float
    ratio_to_baseline: float | None = None
    deferred: int = 0  # answered 503/429 + Retry-After, honoured: not in requests or latencies
    iteration_p95_ms: float = 0.0  # waits included
    stage: str = "whole run"
    mean_users: float | None = None
    duration_s: float = 0.0
    audit: str = ""
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per successful iteration
    cores_busy: float | None = None  # CPU seconds of everything measured ÷ wall seconds


@dataclass
class StrategyRun:
    strategy: str
    folder: Path
    info: dict[str, Any]
    whole: Row
    stages: list[Row] = field(default_factory=list)
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_steps: dict[str, int] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    cpu_restarted: list[str] = field(default_factory=list)
    # "family|name" → per stage {"p95", "mean", "count"} of the services' wait histograms
    waits: dict[str, list[dict[str, float] | None]] = field(default_factory=dict)


# ------------------------------------------------------------------------------ reading
def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _history(folder: Path) -> list[dict[str, str]]:
    rows = _read_csv(folder / "locust_stats_history.csv")
    return [r for r in rows if r.get("Name") == "Aggregated"]


def _counter_at(history: list[dict[str, str]], t_epoch: float) -> tuple[float, float]:
    """Cumulative (requests, failures) at the last history row not after t_epoch."""
    req = fail = 0.0
    for r in history:
        if _num(r["Timestamp"]) > t_epoch:
            break
        req, fail = _num(r["Total Request Count"]), _num(r["Total Failure Count"])
    return req, fail


def load_strategy(folder: Path) -> StrategyRun:
    info = json.loads((folder / "run.json").read_text())
    strategy = info.get("strategy", folder.name)
    workers = load_workers(folder)
    audit_path = folder / "audit.json"
    audit = json.loads(audit_path.read_text()) if audit_path.exists() else {}
    agg = next((r for r in _read_csv(folder / "locust_stats.csv") if r.get("Name") == "Aggregated"),
               {})
    duration = _num(info.get("duration_s")) or 1.0
    requests, failures = int(_num(agg.get("Request Count"))), int(_num(agg.get("Failure Count")))
    stages = workers["stages"].values()
    deferred = sum(s.get("deferred", 0) for s in stages)
    median_ms = _num(agg.get("50%") or agg.get("Median Response Time"))
    p95_ms = _num(agg.get("95%"))
    if deferred:  # Locust's aggregate counts the deferred answers: the workers' figures do not
        requests -= deferred
        answered = merge_hist(*(s["response_ms"] for s in stages))
        median_ms, p95_ms = percentile(answered, 0.5), percentile(answered, 0.95)
    whole = Row(
        strategy=strategy, vus=int(info.get("peak_users", 0)),
        rps=(requests / duration if deferred
             else _num(agg.get("Requests/s")) or requests / duration),
        median_ms=median_ms, p95_ms=p95_ms,
        error_rate=failures / requests if requests else 0.0,
        requests=requests, failures=failures, deferred=deferred,
        iteration_p95_ms=percentile(merge_hist(*(s["iteration_ms"] for s in stages)), 0.95),
        iterations_ok=workers["iterations_ok"], iterations_failed=workers["iterations_failed"],
        iterations_per_s=workers["iterations_ok"] / duration, duration_s=duration,
        audit=audit.get("verdict", "not audited"),
    )
    setup_path = folder / "setup.json"
    run = StrategyRun(strategy, folder, info, whole, checks=workers["checks"],
                      failed_steps=workers["failed_steps"], audit=audit,
                      setup=json.loads(setup_path.read_text()) if setup_path.exists() else {})
    run.stages = _stage_rows(run, workers)
    _add_cpu(run)
    run.waits = saturation.per_stage(saturation.load(folder), run.info.get("stages", []))
    return run


def _add_cpu(run: StrategyRun) -> None:
    """CPU per successful iteration over the whole run and per stage (cpu.jsonl)."""
    samples = cpu.load_samples(run.folder)
    whole = cpu.over_run(samples)
    if not whole:
        return
    run.cpu_restarted = whole["restarted"]
    run.whole.cpu_ms = cpu.per_iteration_ms(whole["cpu_s"], run.whole.iterations_ok)
    run.whole.cores_busy = sum(whole["cpu_s"].values()) / max(whole["seconds"], 1e-9)
    for row, stage in zip(run.stages, run.info.get("stages", []), strict=False):
        start, end = cpu.cumulative_at(samples, _num(stage["start_s"])), cpu.cumulative_at(
            samples, _num(stage["end_s"]))
        used = {g: end[g] - start.get(g, 0.0) for g in end}
        row.cpu_ms = cpu.per_iteration_ms(used, row.iterations_ok)
        row.cores_busy = sum(used.values()) / max(row.duration_s, 1e-9)


def _stage_rows(run: StrategyRun, workers: dict[str, Any]) -> list[Row]:
    history = _history(run.folder)
    t0 = _num(run.info.get("started_at"))
    rows: list[Row] = []
    for stage in run.info.get("stages", []):
        idx = int(stage["index"])
        start, end = t0 + _num(stage["start_s"]), t0 + _num(stage["end_s"])
        duration = max(end - start, 1e-9)
        req0, fail0 = _counter_at(history, start)
        req1, fail1 = _counter_at(history, end)
        in_stage = [r for r in history if start <= _num(r["Timestamp"]) < end]
        mean_users = (sum(_num(r["User Count"]) for r in in_stage) / len(in_stage)
                      if in_stage else None)
        w = workers["stages"].get(str(idx), {})
        if w.get("response_ms"):
            median, p95 = percentile(w["response_ms"], 0.5), percentile(w["response_ms"], 0.95)
        else:  # rolling-window percentiles from the history CSV, weighted by request rate
            weights = [_num(r["Requests/s"]) for r in in_stage]
            total_w = sum(weights) or 1.0
            median = sum(_num(r.get("50%")) * wt for r, wt in zip(in_stage, weights,
                                                                  strict=True)) / total_w
            p95 = sum(_num(r.get("95%")) * wt for r, wt in zip(in_stage, weights,
                                                               strict=True)) / total_w
        requests, failures = req1 - req0 - w.get("deferred", 0), fail1 - fail0
        if not history and w:  # no CSV: the workers' own counts
            requests, failures = w.get("requests", 0), w.get("failures", 0)
        rows.append(Row(
            strategy=run.strategy, vus=int(stage["to_users"]), rps=requests / duration,
            median_ms=median, p95_ms=p95,
            error_rate=failures / requests if requests else 0.0,
            requests=int(requests), failures=int(failures),
            iterations_ok=int(w.get("iterations_ok", 0)),
            iterations_failed=int(w.get("iterations_failed", 0)),
            iterations_per_s=w.get("iterations_ok", 0) / duration,
            deferred=int(w.get("deferred", 0)),
            iteration_p95_ms=percentile(w.get("iteration_ms", {}), 0.95),
            stage=f"{idx + 1}: {stage.get('label', '')}", mean_users=mean_users,
            duration_s=duration,
        ))
    return rows


def load_results(folder: str | Path) -> list[StrategyRun]:
    root = Path(folder)
    dirs = [root] if (root / "run.json").exists() else sorted(
        p for p in root.iterdir() if (p / "run.json").exists())
    runs = [load_strategy(d) for d in dirs]
    runs.sort(key=lambda r: (ORDER.index(r.strategy) if r.strategy in ORDER else 99, r.strategy))
    _add_ratios(runs)
    return runs


def _add_ratios(runs: list[StrategyRun]) -> None:
    base = next((r for r in runs if r.strategy == "baseline"), None)
    if base is None:
        return
    for run in runs:
        if base.whole.iterations_per_s:
            run.whole.ratio_to_baseline = run.whole.iterations_per_s / base.whole.iterations_per_s
        for row, brow in zip(run.stages, base.stages, strict=False):
            if brow.iterations_per_s:
                row.ratio_to_baseline = row.iterations_per_s / brow.iterations_per_s


# ------------------------------------------------------------------------------ formatting
def fmt_ms(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.2f}s"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}"


TABLE_HEAD = ("| VU Count | Strategy | Throughput (RPS) | Median Latency | p95 Latency "
              "| Error Rate | Iterations/s (ok / failed) | Ratio to baseline | Audit |")


def table_row(row: Row, first: str | None = None) -> str:
    return (f"| {first if first is not None else row.vus} | {row.strategy} | {row.rps:.1f} "
            f"| {fmt_ms(row.median_ms)} | {fmt_ms(row.p95_ms)} | {100 * row.error_rate:.2f}% "
            f"| {row.iterations_per_s:.2f} ({row.iterations_ok} / {row.iterations_failed}) "
            f"| {fmt_ratio(row.ratio_to_baseline)} | {row.audit or '—'} |")


def markdown(runs: list[StrategyRun], root: Path | None = None,
             title: str = "GoVault load test") -> str:
    if not runs:
        return f"# {title}\n\nNo strategy results found.\n"
    info = runs[0].info
    folder = root or runs[0].folder.parent
    bench_path = folder / "bench.json"
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else {}
    where = (f" Store **{bench['store']}**, commit {str(bench.get('git_commit', ''))[:10]}."
             if bench.get("store") else "")
    lines = [
        f"# {title}", "",
        f"Shape **{info.get('shape')}**, SCALE {info.get('scale')}, TIME_FACTOR "
        f"{info.get('time_factor')}, peak {info.get('peak_users')} users, "
        f"{info.get('file_size_bytes', 0) / 1048576:g} MiB per upload, refresh mode "
        f"{info.get('refresh_mode')}, think times {info.get('think_s')} s.{where}", "",
        "## Comparative table (whole run)", "", TABLE_HEAD, "|" + "---|" * 9,
        *[table_row(r.whole) for r in runs], "",
        "RPS counts HTTP requests (a multipart iteration makes more requests than a proxy one, the "
        "baseline one); iterations/s counts successful iterations only, and the ratio compares "
        "them with the raw-S3 baseline under the same users and think times.", "",
        "## Per stage", "", TABLE_HEAD.replace("| VU Count |", "| Stage (VUs) |"),
        "|" + "---|" * 9,
    ]
    for run in runs:
        for row in run.stages:
            users = f" ≈{row.mean_users:.0f}" if row.mean_users is not None else ""
            lines.append(table_row(row, first=f"{row.stage}{users}"))
    lines += cpu_section(runs)
    lines += waits_section(runs)
    lines += ["", "## Checks", ""]
    for run in runs:
        lines.append(f"**{run.strategy}**: iterations ok {run.whole.iterations_ok}, failed "
                     f"{run.whole.iterations_failed}"
                     + (f" (first failed step: {run.failed_steps})" if run.failed_steps else "")
                     + f"; iteration p95 {fmt_ms(run.whole.iteration_p95_ms)} (waits included)"
                     + (f"; {run.whole.deferred} answers were 503/429 with Retry-After, "
                        "honoured (waited, sent again): not counted as requests"
                        if run.whole.deferred else ""))
        lines.append("")
        lines.append("```")
        for name, c in sorted(run.checks.items(), key=lambda kv: _check_order(kv[0])):
            total = c["pass"] + c["fail"]
            mark = "✓" if c["fail"] == 0 else "✗"
            lines.append(f"{mark} {name}" + ("" if c["fail"] == 0 else
                         f"\n  ↳ {100 * c['pass'] / total:.0f}% — ✓ {c['pass']} / ✗ {c['fail']}"))
        lines.append("```")
        lines.append("")
    lines += ["## Audit (client successes vs file rows vs objects)", "",
              "| Strategy | client successes | file rows | objects | ghosts | duplicates | orphans "
              "| missing objects | unrecorded rows | open multipart | verdict |",
              "|" + "---|" * 11]
    for run in runs:
        a = run.audit
        lines.append(
            f"| {run.strategy} | {a.get('client_successes', '—')} | {a.get('file_rows', '—')} "
            f"| {a.get('objects', '—')} | {a.get('ghosts', '—')} | {a.get('duplicates', '—')} "
            f"| {a.get('orphans', '—')} | {a.get('missing_objects', '—')} "
            f"| {a.get('unrecorded_rows', '—')} | {a.get('open_multipart_uploads', '—')} "
            f"| {a.get('verdict', 'not audited')} |")
    ghz_summary = folder / "ghz" / "summary.md"
    if ghz_summary.exists():
        lines += ["", "## Internal gRPC methods (ghz, straight at the services)", "",
                  ghz_summary.read_text().rstrip()]
    charts = [p.name for p in sorted(folder.glob("*.png"))]
    if charts:
        lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    return "\n".join(lines) + "\n"


CPU_COLUMNS = ("edge", "auth", "upload", "files", "postgres", "ours", "redis", "store", "loadgen",
               "total")


def cpu_row(label: str, row: Row) -> str:
    """A stage without a successful iteration has no CPU per iteration (only its cores busy)."""
    cells = [("—" if not row.iterations_ok or c not in row.cpu_ms
              else f"**{row.cpu_ms[c]:.2f}**" if c == "ours" else f"{row.cpu_ms[c]:.2f}")
             for c in CPU_COLUMNS]
    return (f"| {label} | {row.iterations_ok} | " + " | ".join(cells)
            + f" | {row.cores_busy or 0.0:.2f} |")


def cpu_section(runs: list[StrategyRun]) -> list[str]:
    """CPU per successful iteration per process, whole run and per stage; set-up apart."""
    measured = [r for r in runs if r.whole.cpu_ms]
    if not measured:
        return []
    head = ("| {} | iterations ok | " + " | ".join(CPU_COLUMNS) + " | cores busy |",
            "|---|---|" + "---|" * (len(CPU_COLUMNS) + 1))
    lines = ["", "## CPU per iteration (ms, account set-up excluded)", "",
             "CPU seconds (user + system) of each process group over the shape ÷ successful "
             "iterations. *ours* = edge + auth + upload + files + postgres (backends included); "
             "redis = the edge's rate-limit store; store = the S3 server; loadgen = the Locust "
             "process; *cores busy* = all of them ÷ wall time.", "",
             head[0].format("Strategy"), head[1]]
    lines += [cpu_row(r.strategy, r.whole) for r in measured]
    for run in measured:
        if run.cpu_restarted:
            lines.append(f"\n**{run.strategy}**: restarted during the run, its figure is "
                         f"wrong: {', '.join(run.cpu_restarted)}")
    lines += ["", "Per stage:", "", head[0].format("Strategy, stage"), head[1]]
    lines += [cpu_row(f"{r.strategy} {row.stage}", row) for r in measured for row in r.stages
              if row.cpu_ms]
    with_setup = [r for r in runs if r.setup.get("cpu_s")]
    if with_setup:
        lines += ["", "### Account set-up (before the shape, not in the figures above)", "",
                  "| Strategy | accounts | reused (fresh tokens) | seconds | CPU s: "
                  + " | ".join(g for g in cpu.GROUPS) + " |", "|---|---|---|---|"
                  + "---|" * len(cpu.GROUPS)]
        for r in with_setup:
            used = r.setup["cpu_s"]
            lines.append(f"| {r.strategy} | {r.setup.get('accounts')} | "
                         f"{'yes' if r.setup.get('reused') else 'no'} | "
                         f"{r.setup.get('seconds')} | "
                         + " | ".join(f"{used.get(g, 0.0):.1f}" for g in cpu.GROUPS) + " |")
    return lines


def _ms(value: float) -> str:
    ms = value * 1000
    return f"{ms:.1f}" if ms < 10 else f"{ms:.0f}"


def waits_section(runs: list[StrategyRun]) -> list[str]:
    """Per stage, the p95 and mean of each server-side wait the services measure."""
    measured = [r for r in runs if r.waits]
    if not measured:
        return []
    lines = ["", "## Where the time goes (server side, per stage)", "",
             "From the services' own histograms, read at each stage boundary "
             "(loadtest/saturation.py): p95 / mean in ms of how late each process's event loop "
             "ran a timer, the wait for a pooled database connection, each gRPC method in its "
             "service, each store call from the services (its queue in the store included), "
             "and the edge's whole answer per route. — : nothing observed."]
    for run in measured:
        stages = [row.stage for row in run.stages]
        lines += ["", f"**{run.strategy}**", "",
                  "| wait | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
        for key, cells in sorted(run.waits.items(), key=lambda kv: _wait_order(kv[0])):
            if not any(cells):
                continue
            family, _, name = key.partition("|")
            label = f"{saturation.FAMILIES[family]}: {name}"
            lines.append(f"| {label} | " + " | ".join(
                f"{_ms(c['p95'])} / {_ms(c['mean'])}" if c else "—" for c in cells) + " |")
    return lines


def _wait_order(key: str) -> tuple[int, str]:
    family, _, name = key.partition("|")
    return list(saturation.FAMILIES).index(family), name


def _check_order(name: str) -> tuple[int, int, int, str]:
    """k6's order: auth, listing, session, then per chunk/part its steps, then completion."""
    order = ("login", "refresh", "has token", "files", "proxy session", "multipart session",
             "proxy chunk", "part", "multipart complete", "upload completed", "file visible", "s3")
    steps = ("s3 200", "has etag", "registered")
    number = int(m.group(1)) if (m := re.search(r" (\d+) ", name)) else 0
    step = next((i for i, s in enumerate(steps) if name.endswith(s)), 0)
    for i, prefix in enumerate(order):
        if name.startswith(prefix):
            return i, number, step, name
    return len(order), number, step, name


FIELDS = ("strategy", "stage", "vus", "mean_users", "duration_s", "requests", "failures", "rps",
          "median_ms", "p95_ms", "error_rate", "iterations_ok", "iterations_failed",
          "iterations_per_s", "ratio_to_baseline", "deferred", "iteration_p95_ms", "audit",
          *(f"cpu_{c}_ms" for c in CPU_COLUMNS), "cores_busy")


def write_csv(path: Path, rows: list[Row]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            d = asdict(row)
            for k in ("rps", "median_ms", "p95_ms", "iterations_per_s", "duration_s",
                      "iteration_p95_ms"):
                d[k] = round(d[k], 3)
            d["error_rate"] = round(d["error_rate"], 6)
            if d["ratio_to_baseline"] is not None:
                d["ratio_to_baseline"] = round(d["ratio_to_baseline"], 4)
            if d["mean_users"] is not None:
                d["mean_users"] = round(d["mean_users"], 1)
            d.update({f"cpu_{c}_ms": v for c, v in d.pop("cpu_ms").items()})
            if d["cores_busy"] is not None:
                d["cores_busy"] = round(d["cores_busy"], 3)
            w.writerow(d)


# ------------------------------------------------------------------------------ charts
def charts(runs: list[StrategyRun], out: Path) -> list[Path]:
    """The seed's figures from per-stage numbers: RPS, p95, error rate (and iterations/s)
    against VUs, one line per strategy; plus a timeline of users and RPS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    metrics: tuple[tuple[str, str, Callable[[Row], float], bool], ...] = (
        ("rps_vs_vus.png", "Throughput (requests/s)", lambda r: r.rps, False),
        ("p95_vs_vus.png", "p95 latency (s)", lambda r: r.p95_ms / 1000, False),
        ("error_rate_vs_vus.png", "Error rate (%)", lambda r: 100 * r.error_rate, False),
        ("iterations_vs_vus.png", "Successful iterations/s", lambda r: r.iterations_per_s, True),
    )
    for filename, ylabel, value, with_baseline in metrics:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for run in runs:
            if run.strategy == "baseline" and not with_baseline:
                continue
            pts = _ramp_points(run)
            if not pts:
                continue
            ax.plot([p.vus for p in pts], [value(p) for p in pts], marker="o",
                    label=run.strategy, color=COLORS.get(run.strategy),
                    linestyle="--" if run.strategy == "baseline" else "-")
        ax.set_xlabel("virtual users (stage target)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} vs virtual users")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / filename, dpi=110)
        plt.close(fig)
        written.append(out / filename)

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for run in runs:
        history = _history(run.folder)
        t0 = _num(run.info.get("started_at"))
        ts = [_num(r["Timestamp"]) - t0 for r in history]
        color = COLORS.get(run.strategy)
        ax1.plot(ts, [_num(r["User Count"]) for r in history], label=run.strategy, color=color)
        ax2.plot(ts, [_num(r["Requests/s"]) for r in history], label=run.strategy, color=color)
    ax1.set_ylabel("users")
    ax2.set_ylabel("requests/s (Locust, rolling)")
    ax2.set_xlabel("seconds since start")
    ax1.legend()
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=110)
    plt.close(fig)
    written.append(out / "timeline.png")
    return written


def _ramp_points(run: StrategyRun) -> list[Row]:
    """Stages that end at a load level (ramp-ups and holds), not the final ramp-down to 0."""
    return [r for r in run.stages if r.vus > 0]


# ------------------------------------------------------------------------------ entry points
def build(folder: str | Path, with_charts: bool = True) -> Path:
    """Writes report.md, report.csv, stages.csv (and charts) into `folder`; returns report.md."""
    root = Path(folder)
    runs = load_results(root)
    out = root
    write_csv(out / "report.csv", [r.whole for r in runs])
    write_csv(out / "stages.csv", [s for r in runs for s in r.stages])
    if with_charts and runs:
        charts(runs, out)
    report = out / "report.md"
    report.write_text(markdown(runs, out))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a results folder (loadtest/results/<timestamp>)")
    parser.add_argument("--no-charts", action="store_true")
    args = parser.parse_args(argv)
    path = build(args.results, with_charts=not args.no_charts)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
