"""A short real load test against the `stack` fixture: Locust with the seed's stress shape shrunk
to a few users and ~15 s, then the audit. Every iteration must succeed and the audit must be
clean: no ghost (client success without a file), no orphan object, no duplicate row.

Proxy uploads the default 1 MiB (one chunk); multipart uploads 6 MiB + 1 in 5 MiB parts, so the
multi-part path (two presigned PUTs, two registrations, one complete) is exercised too, on
SeaweedFS (`stack`) and on MinIO (`minio_stack`). Each run also measures every process's CPU
over the shape (cpu.jsonl) and the account set-up apart (setup.json).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from loadtest import cpu, report, saturation
from loadtest.bench import run_strategy
from loadtest.record import load_uploads, load_workers
from loadtest.target import Target
from tests.support.processes import start_edge

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
# SCALE 0.005: stage targets 1 → 2 → 4 → 5 → 0 users; TIME_FACTOR 0.04: 14.4 s in all.
SMOKE_ENV = {"SCALE": "0.005", "TIME_FACTOR": "0.04", "SHAPE": "stress",
             "THINK_AUTH_S": "0.3", "THINK_LIST_S": "0.3", "THINK_COMPLETE_S": "0.1",
             "CONFIRM": "1", "PROGRESS_S": "5"}
CASES = {
    "proxy": {},
    "multipart": {"FILE_SIZE": str(6 * MIB + 1), "PART_SIZE": str(5 * MIB)},
}
STACKS = {"seaweedfs": "stack", "minio": "minio_stack"}


@pytest.fixture(scope="module")
def target(stack: Any) -> Target:
    return Target.from_stack(stack)


@pytest.mark.parametrize(("strategy", "store"), [("proxy", "seaweedfs"),
                                                 ("multipart", "seaweedfs"),
                                                 ("multipart", "minio")])
def test_smoke_run_has_no_failed_iteration_and_a_clean_audit(
        strategy: str, store: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    stack = request.getfixturevalue(STACKS[store])
    target = Target.from_stack(stack)
    folder = tmp_path / strategy
    summary = run_strategy(target, Path(stack.data_dir) / "stack.json", strategy, folder,
                           {**SMOKE_ENV, **CASES[strategy]}, user_count=5, stop_timeout_s=30)

    assert "error" not in summary, (folder / "locust.log").read_text()[-3000:]
    workers = load_workers(folder)
    failed_checks = {k: v for k, v in workers["checks"].items() if v["fail"]}
    assert workers["iterations_failed"] == 0, (workers["failed_steps"], failed_checks)
    assert workers["iterations_ok"] >= 5
    assert not failed_checks

    uploads = load_uploads(folder)
    assert len(uploads) == workers["iterations_ok"]
    assert summary["client_successes"] == len(uploads)
    assert summary["ghosts"] == 0, summary["ghost_ids"]
    assert summary["orphans"] == 0, summary["orphan_keys"]
    assert summary["duplicates"] == 0
    assert summary["missing_objects"] == 0
    assert summary["size_mismatches"] == 0
    assert summary["file_rows"] == summary["objects"] == len(uploads)
    assert summary["open_multipart_uploads"] == 0
    assert summary["reaper"]["ok"], summary["reaper"]
    assert summary["verdict"] == "clean"
    assert json.loads((folder / "audit.json").read_text())["verdict"] == "clean"

    checks = set(workers["checks"])
    if strategy == "proxy":
        assert {"refresh 200", "has token", "files 200", "proxy session 200",
                "proxy chunk 0 200", "file visible 200"} <= checks
    else:
        assert {"multipart session 200", "part 1 s3 200", "part 1 registered",
                "part 2 s3 200", "part 2 registered", "multipart complete 200"} <= checks
        assert all(u["size"] == 6 * MIB + 1 for u in uploads)

    runs = report.load_results(folder)
    assert runs[0].whole.requests > 0 and runs[0].whole.error_rate == 0
    assert [s.vus for s in runs[0].stages] == [1, 2, 4, 5, 0]

    # CPU per iteration of every process on the upload's path, over the shape only
    assert len(cpu.load_samples(folder)) >= 3
    spent = runs[0].whole.cpu_ms
    for group in ("edge", "auth", "upload", "files", "postgres", "store", "loadgen"):
        assert spent[group] > 0, (group, spent)
    assert runs[0].cpu_restarted == []
    # where the time goes: the services' wait histograms read at every stage boundary
    assert len(saturation.load(folder)) >= len(runs[0].stages)
    for process in ("edge", "auth", "upload", "files"):
        assert any(runs[0].waits[f"govault_event_loop_lag_seconds|{process}"]), process
    assert any(runs[0].waits["govault_db_pool_wait_seconds|upload"])
    setup = json.loads((folder / "setup.json").read_text())
    assert setup["accounts"] == 5 and not setup["reused"]
    assert setup["cpu_s"]["auth"] > 0  # Argon2id, reported apart


def test_the_load_test_honours_retry_after(stack: Any, target: Target, tmp_path: Path) -> None:
    """Against an edge whose per-user upload budget (one request a second) is below what the
    users ask for, the 429 + Retry-After answers are waited out and sent again, as a
    well-behaved client would: every iteration still succeeds, and the answers are counted as
    deferred, not as errors."""
    edge, url = start_edge(stack.service_env("edge"), tmp_path / "edge.log",
                           rate_upload_user="60/m:1")
    try:
        folder = tmp_path / "deferred"
        folder.mkdir()
        # An earlier run's records in the same folder are not this run's (nor its ghosts).
        (folder / "worker-1.json").write_text(json.dumps({"iterations_ok": 99}))
        (folder / "uploads-1.jsonl").write_text(json.dumps({"file_id": "earlier"}) + "\n")
        summary = run_strategy(dataclasses.replace(target, edge_url=url),
                               Path(stack.data_dir) / "stack.json", "proxy", folder, SMOKE_ENV,
                               user_count=5, stop_timeout_s=30)
    finally:
        edge.stop()
    assert "error" not in summary, (folder / "locust.log").read_text()[-3000:]
    workers = load_workers(folder)
    assert workers["iterations_failed"] == 0, workers["failed_steps"]
    assert 5 <= workers["iterations_ok"] < 99
    assert summary["verdict"] == "clean"
    whole = report.load_results(folder)[0].whole
    assert whole.deferred > 0
    assert whole.error_rate == 0
