"""The benchmarks' CPU meter (loadtest/cpu.py) on real processes, and the report's CPU per
iteration from a run's samples (cpu.jsonl) with the account set-up apart (setup.json)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import cpu, report

SAMPLE = Path(__file__).resolve().parent.parent / "support" / "loadtest_sample"

# A parent that runs a CPU-bound child to its end (reaped), says so, then waits for stdin.
BURN = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass"
PARENT = f"""
import subprocess, sys
subprocess.run([sys.executable, "-c", "{BURN}"], check=True)
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "reaped"
    yield proc
    proc.communicate("\n", timeout=30)


def test_a_tree_counts_its_children_that_already_exited(parent: subprocess.Popen[str]) -> None:
    assert cpu.process_cpu_seconds(parent.pid) < 0.25
    assert cpu.tree_cpu_seconds(parent.pid) >= 0.25


def test_stack_processes_fall_into_their_groups() -> None:
    assert [cpu.group_of(n) for n in ("edge", "auth-2", "upload", "files", "postgres",
                                      "seaweedfs", "minio", "redis", "prometheus")] == [
        "edge", "auth", "upload", "files", "postgres", "store", "store", "redis", None]


def test_a_meter_from_stack_json_sums_replicas_and_counts_trees(
        parent: subprocess.Popen[str], tmp_path: Path) -> None:
    me = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                          stdin=subprocess.PIPE, text=True)
    try:
        (tmp_path / "stack.json").write_text(json.dumps({"pids": {
            "auth": me.pid, "auth-2": parent.pid, "postgres": parent.pid,
            "prometheus": me.pid}}))
        meter = cpu.Meter.from_stack_file(tmp_path, loadgen=True)
        snap = meter.snapshot()
    finally:
        me.communicate("\n", timeout=30)
    assert set(meter.pids) == {"auth", "auth-2", "postgres"}  # prometheus is not measured
    assert list(snap["cpu_s"]) == list(cpu.GROUPS)
    assert snap["cpu_s"]["postgres"] >= 0.25  # the tree: the reaped child's CPU
    assert snap["cpu_s"]["auth"] < snap["cpu_s"]["postgres"]  # auth-2 alone, without its child
    assert snap["cpu_s"]["loadgen"] > 0
    # once `me` has exited, the next snapshot leaves it out and a comparison says so
    later = meter.snapshot()
    assert "auth" not in later["pids"]
    assert cpu.difference(snap, later)["restarted"] == ["auth"]


def test_stack_json_naming_no_process_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"edge_url": "http://127.0.0.1:1"}))
    with pytest.raises(ValueError, match="names no processes"):
        cpu.Meter.from_stack_file(tmp_path / "stack.json")


def test_an_older_launchers_processes_are_named_from_its_children(tmp_path: Path) -> None:
    """stack.json before `pids`: the launcher's children, by command line (`-m svc_upload` is
    upload; a second one is upload-2)."""
    launcher = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys\n"
         "kids = [subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()', '-m',"
         " m], stdin=subprocess.PIPE) for m in ('svc_upload', 'svc_upload', 'edge', 'other')]\n"
         "print('started', flush=True)\nsys.stdin.readline()\n"
         "for k in kids: k.stdin.close(); k.wait()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert launcher.stdout is not None and launcher.stdout.readline().strip() == "started"
        named = cpu.pids_from_launcher(launcher.pid)
        (tmp_path / "stack.json").write_text(json.dumps({"pid": launcher.pid}))
        meter = cpu.Meter.from_stack_file(tmp_path)
    finally:
        launcher.communicate("\n", timeout=30)
    assert sorted(named) == ["edge", "upload", "upload-2"]
    assert meter.pids == named


def _sample(t: float, **cpu_s: float) -> dict[str, object]:
    return {"t": t, "cpu_s": cpu_s, "pids": {"edge": 1}}


def test_cumulative_cpu_is_interpolated_between_samples_and_clamped() -> None:
    samples = [_sample(0, edge=1.0), _sample(2, edge=2.0), _sample(4, edge=4.0)]
    assert cpu.cumulative_at(samples, -1) == {"edge": 1.0}
    assert cpu.cumulative_at(samples, 1) == {"edge": 1.5}
    assert cpu.cumulative_at(samples, 3) == {"edge": 3.0}
    assert cpu.cumulative_at(samples, 9) == {"edge": 4.0}
    assert cpu.over_run(samples) == {"cpu_s": {"edge": 3.0}, "restarted": [], "seconds": 4}


def test_per_iteration_sums_ours_and_total() -> None:
    used = {"edge": 1.0, "auth": 0.5, "upload": 1.0, "files": 0.5, "postgres": 1.0,
            "store": 2.0, "loadgen": 1.0}
    ms = cpu.per_iteration_ms(used, 1000)
    assert ms["edge"] == 1.0 and ms["store"] == 2.0
    assert ms["ours"] == 4.0  # edge + auth + upload + files + postgres
    assert ms["total"] == 7.0


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "results"
    shutil.copytree(SAMPLE, dst)
    return dst


def test_the_report_gives_cpu_per_iteration_per_stage_and_the_setup_apart(sample: Path) -> None:
    folder = sample / "multipart"
    info = json.loads((folder / "run.json").read_text())
    end = info["stages"][-1]["end_s"]
    groups = dict.fromkeys(cpu.GROUPS, 0.0)
    # 1 s of CPU per second in every group, evenly over the run
    times = list(range(0, int(end) + 2, 2))
    lines = [{"t": t, "cpu_s": {g: float(t) for g in groups}, "pids": {"edge": 1}}
             for t in times]
    (folder / "cpu.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "setup.json").write_text(json.dumps({
        "accounts": 20, "reused": False, "seconds": 3.5,
        "cpu_s": {**groups, "auth": 2.5}, "restarted": []}))

    run = {r.strategy: r for r in report.load_results(sample)}["multipart"]
    seconds = times[-1]
    ok = run.whole.iterations_ok
    assert run.whole.cpu_ms["edge"] == pytest.approx(1000 * seconds / ok, abs=0.01)
    assert run.whole.cpu_ms["ours"] == pytest.approx(5000 * seconds / ok, abs=0.05)
    assert run.whole.cores_busy == pytest.approx(len(groups))
    for row in run.stages:
        assert row.cores_busy == pytest.approx(len(groups))
        if row.iterations_ok:
            assert row.cpu_ms["upload"] == pytest.approx(
                1000 * row.duration_s / row.iterations_ok, abs=0.01)

    text = report.build(sample, with_charts=False).read_text()
    assert "## CPU per iteration (ms, account set-up excluded)" in text
    assert f"| multipart | {ok} | " in text
    assert "| multipart | 20 | no | 3.5 | " in text  # the set-up, apart
    with (sample / "report.csv").open() as f:
        header = f.readline()
    assert "cpu_ours_ms" in header and "cores_busy" in header
