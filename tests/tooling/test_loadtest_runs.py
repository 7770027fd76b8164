"""The quiet-machine run sets (loadtest/runs.py), shrunk to a smoke: one strategy on a fresh
stack started from a source tree (here this one), Locust, the audit, and a report with the CPU
per iteration per process and the server-side waits per stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compose import claims
from compose.ports import overlap
from loadtest import ab, runs
from loadtest.target import REPO_ROOT
from loadtest.treestack import free_offset
from tests.support.stacks import offset_for

pytestmark = pytest.mark.e2e


def test_a_run_set_runs_each_strategy_on_a_fresh_stack_of_the_tree(tmp_path: Path) -> None:
    out = tmp_path / "shape"
    code = runs.main(["shape", "--strategies", "multipart", "--scale", "0.005",
                      "--time-factor", "0.04", "--out", str(out),
                      "--port-offset", str(offset_for("bench"))])
    assert code == 0, (out / "multipart" / "locust.log").read_text()[-3000:]
    meta = json.loads((out / "runs.json").read_text())
    assert meta["run_set"] == "shape" and meta["store"] == "minio"
    assert meta["tree"] == "." and len(meta["git_commit"]) == 40  # this tree, by name
    assert meta["overrides"] == {"scale": 0.005, "time_factor": 0.04}
    assert set(meta["load_average_before"]) == {"multipart"} and meta["failures"] == []
    text = (out / "report.md").read_text()
    assert "Store **minio**" in text
    assert "| multipart | " in text.split("## CPU per iteration")[1]
    assert "## Where the time goes (server side, per stage)" in text
    audit = json.loads((out / "multipart" / "audit.json").read_text())
    assert audit["verdict"] == "clean"
    assert not list(out.glob("*/users.json"))  # no tokens left behind


def test_two_builds_are_measured_in_alternating_windows(tmp_path: Path) -> None:
    """loadtest.ab with the same tree on both sides, one of them with a setting and an
    interpreter of its own (named by its version in the figures, not by its path)."""
    first = offset_for("bench")
    code = ab.main(["--before", str(REPO_ROOT), "--after", str(REPO_ROOT),
                    "--after-env", "GOVAULT_LOG_LEVEL=warning", "--after-python", sys.executable,
                    "--modes", "seed-multipart",
                    "--rounds", "1", "--seconds", "2", "--offsets", f"{first},{first + 300}",
                    "--json", str(tmp_path / "ab.json")])
    assert code == 0
    written = json.loads((tmp_path / "ab.json").read_text())
    version = ".".join(map(str, sys.version_info[:3]))
    assert written["python"] == {"before": version, "after": version}
    assert written["args"]["json"] == "ab.json" and "after_python" not in written["args"]
    result = written["results"]["seed-multipart"]
    for side in ("before", "after"):
        assert result[side]["uploads"] > 0 and result[side]["errors"] == 0
        per = result[side]["cpu_ms_per_upload"]
        assert all(per[g] > 0 for g in ("edge", "auth", "upload", "files", "postgres", "store",
                                        "loadgen")), per




def test_a_tree_stack_starts_clear_of_the_offsets_other_stacks_claimed() -> None:
    start = free_offset(6100)
    holder = subprocess.Popen(  # another process claims it (as a test session or `make up` does)
        [sys.executable, "-c", "import sys; from compose import claims; "
         f"claims.claim({start}, 'test: a stack in the way'); print('claimed', flush=True); "
         "sys.stdin.read()"], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        moved = free_offset(start)
        assert moved > start and not overlap(moved, start)
        assert all(not overlap(moved, other) for other in claims.active())
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
