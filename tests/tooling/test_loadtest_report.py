"""The load-test report on a recorded sample (tests/support/loadtest_sample: a real bench run at
SCALE 0.02, TIME_FACTOR 0.1, trimmed), plus the pure pieces it stands on: shapes, histograms,
the audit's comparison and the upload payloads."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from loadtest import audit, report, shapes
from loadtest.payload import Payload
from loadtest.record import bucket_ms, load_workers, percentile
from loadtest.settings import LoadSettings, SettingsError
from loadtest.target import REPO_ROOT, Target, TargetError

SAMPLE = Path(__file__).resolve().parent.parent / "support" / "loadtest_sample"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    dst = tmp_path / "results"
    shutil.copytree(SAMPLE, dst)
    return dst


def _aggregated(folder: Path) -> dict[str, str]:
    with (folder / "locust_stats.csv").open() as f:
        return next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")


# ------------------------------------------------------------------------------ the report
def test_report_writes_table_csv_and_charts(sample: Path) -> None:
    path = report.build(sample)

    text = path.read_text()
    assert ("| VU Count | Strategy | Throughput (RPS) | Median Latency | p95 Latency "
            "| Error Rate") in text
    for name in ("rps_vs_vus.png", "p95_vs_vus.png", "error_rate_vs_vus.png",
                 "iterations_vs_vus.png", "timeline.png"):
        png = sample / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"![{name}]({name})" in text
    with (sample / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["strategy"] for r in rows] == ["baseline", "proxy", "multipart"]
    assert {r["audit"] for r in rows} == {"clean"}


def test_whole_run_numbers_come_from_locust_and_the_workers(sample: Path) -> None:
    runs = {r.strategy: r for r in report.load_results(sample)}
    for strategy, run in runs.items():
        agg = _aggregated(sample / strategy)
        info = json.loads((sample / strategy / "run.json").read_text())
        workers = load_workers(sample / strategy)
        assert run.whole.vus == info["peak_users"] == 20
        assert run.whole.requests == int(agg["Request Count"])
        assert run.whole.rps == pytest.approx(float(agg["Requests/s"]))
        assert run.whole.median_ms == float(agg["50%"])
        assert run.whole.p95_ms == float(agg["95%"])
        assert run.whole.error_rate == int(agg["Failure Count"]) / int(agg["Request Count"])
        assert run.whole.iterations_ok == workers["iterations_ok"] > 0
        assert run.whole.iterations_per_s == pytest.approx(
            workers["iterations_ok"] / info["duration_s"])


def test_ratio_is_iterations_per_second_against_the_baseline(sample: Path) -> None:
    runs = {r.strategy: r for r in report.load_results(sample)}
    base = runs["baseline"].whole.iterations_per_s
    assert runs["baseline"].whole.ratio_to_baseline == pytest.approx(1.0)
    for strategy in ("proxy", "multipart"):
        whole = runs[strategy].whole
        assert whole.ratio_to_baseline == pytest.approx(whole.iterations_per_s / base)
        for row, brow in zip(runs[strategy].stages, runs["baseline"].stages, strict=True):
            if brow.iterations_per_s:
                assert row.ratio_to_baseline == pytest.approx(
                    row.iterations_per_s / brow.iterations_per_s)


def test_per_stage_rows_follow_the_shape_and_add_up(sample: Path) -> None:
    runs = report.load_results(sample)
    for run in runs:
        assert [s.vus for s in run.stages] == [5, 10, 15, 20, 0]
        assert [s.duration_s for s in run.stages] == pytest.approx([6, 6, 6, 12, 6])
        # Per-stage counts are differences of Locust's cumulative counter: together they
        # cover the run (the last history row can lag the final stats by < 1 s).
        total = sum(s.requests for s in run.stages)
        assert 0.9 * run.whole.requests <= total <= run.whole.requests
        # Iterations per stage are the workers' own counts, all of them.
        assert sum(s.iterations_ok for s in run.stages) == run.whole.iterations_ok
        for stage in run.stages:
            assert stage.rps == pytest.approx(stage.requests / stage.duration_s)
            assert 0 <= stage.median_ms <= stage.p95_ms
    with (SAMPLE.parent / "loadtest_sample" / "proxy" / "run.json").open() as f:
        assert len(json.load(f)["stages"]) == 5


def test_deferred_answers_are_neither_requests_nor_latencies(sample: Path) -> None:
    """Answers 503 + Retry-After the client honoured (record.py counts them per stage; Locust's
    own counters include them) come off the request counts; the latencies are the workers'."""
    before = report.load_strategy(sample / "proxy")
    worker = next((sample / "proxy").glob("worker-*.json"))
    data = json.loads(worker.read_text())
    busiest = max(data["stages"], key=lambda k: data["stages"][k]["requests"])
    data["stages"][busiest]["deferred"] = 7
    worker.write_text(json.dumps(data))
    after = report.load_strategy(sample / "proxy")
    assert after.whole.deferred == 7
    assert after.whole.requests == before.whole.requests - 7
    assert after.whole.rps == pytest.approx(after.whole.requests / after.whole.duration_s)
    merged = load_workers(sample / "proxy")["stages"].values()
    answered: dict[int, int] = {}
    for stage in merged:
        for bucket, n in stage["response_ms"].items():
            answered[int(float(bucket))] = answered.get(int(float(bucket)), 0) + n
    assert after.whole.p95_ms == percentile(answered, 0.95)
    stage_before = before.stages[int(busiest)]
    stage_after = after.stages[int(busiest)]
    assert (stage_after.requests, stage_after.deferred) == (stage_before.requests - 7, 7)
    assert after.whole.iteration_p95_ms > 0
    assert "7 answers were 503/429 with Retry-After" in report.markdown([after])


def test_stage_rows_fall_back_to_the_history_window_without_worker_histograms(
        sample: Path) -> None:
    for worker in (sample / "proxy").glob("worker-*.json"):
        data = json.loads(worker.read_text())
        for stage in data["stages"].values():
            stage["response_ms"] = {}
        worker.write_text(json.dumps(data))
    run = report.load_strategy(sample / "proxy")
    busy = [s for s in run.stages if s.requests]
    assert busy and all(s.p95_ms > 0 for s in busy)


def test_markdown_has_seed_checks_and_the_audit_table(sample: Path) -> None:
    text = report.build(sample, with_charts=False).read_text()
    for check in ("refresh 200", "has token", "files 200", "proxy session 200",
                  "proxy chunk 0 200", "multipart session 200", "part 1 s3 200",
                  "part 1 registered", "multipart complete 200"):
        assert f"✓ {check}" in text
    assert text.index("✓ part 1 s3 200") < text.index("✓ part 1 registered")
    assert "| proxy | 197 | 197 | 197 | 0 | 0 | 0 | 0 | 0 | 0 | clean |" in text


def test_failed_checks_render_like_k6() -> None:
    run = report.StrategyRun("proxy", Path("."), {"shape": "stress"}, _row("proxy"),
                             checks={"files 200": {"pass": 99, "fail": 1}})
    text = report.markdown([run])
    assert "✗ files 200\n  ↳ 99% — ✓ 99 / ✗ 1" in text


def test_report_on_a_single_strategy_folder(sample: Path) -> None:
    runs = report.load_results(sample / "multipart")
    assert [r.strategy for r in runs] == ["multipart"]
    assert runs[0].whole.ratio_to_baseline is None
    assert "| 20 | multipart |" in report.markdown(runs)


def _row(strategy: str) -> report.Row:
    return report.Row(strategy, 10, 1.0, 10.0, 20.0, 0.0, 10, 0, 5, 0, 0.5)


# ------------------------------------------------------------------------------ shapes
def test_stress_shape_is_the_seeds_stages() -> None:
    plan = shapes.stages("stress", scale=1, time_factor=1)
    assert [(s.duration_s, s.to_users) for s in plan] == [
        (60, 250), (60, 500), (60, 750), (120, 1000), (60, 0)]
    assert shapes.total_duration_s(plan) == 360
    assert shapes.peak_users(plan) == 1000


def test_shapes_scale_round_like_k6_and_shrink_with_time_factor() -> None:
    plan = shapes.stages("stress", scale=0.925, time_factor=0.1)
    assert [s.to_users for s in plan] == [231, 462, 694, 925, 0]
    assert shapes.total_duration_s(plan) == pytest.approx(36)
    assert [s.to_users for s in shapes.stages("load", 1)] == [200, 200, 0]
    assert [(s.duration_s, s.to_users) for s in shapes.stages("spike", 1)] == [
        (30, 2000), (60, 2000), (20, 0)]
    with pytest.raises(ValueError):
        shapes.stages("soak")


def test_tick_ramps_linearly_and_stops_after_the_last_stage() -> None:
    plan = shapes.stages("stress", scale=1)
    def users_at(t: float) -> int:
        tick = shapes.tick(plan, t)
        assert tick is not None
        return tick[0]

    first = shapes.tick(plan, 0)
    assert first is not None and first[0] == 0 and first[1] == pytest.approx(250 / 60 * 2)
    assert users_at(30) == 125
    assert users_at(60) == 250
    assert users_at(240) == 875  # halfway through 750 → 1000 over 2 min
    assert users_at(359) == 17
    assert shapes.tick(plan, 360) is None


# ------------------------------------------------------------------------------ histograms
def test_bucket_and_percentile() -> None:
    assert [bucket_ms(x) for x in (7.4, 99.6, 123, 1234, 12345)] == [7, 100, 120, 1200, 12000]
    hist: dict[int | str, int] = {10: 50, 20: 45, 1000: 5}
    assert percentile(hist, 0.5) == 10
    assert percentile(hist, 0.95) == 20
    assert percentile(hist, 0.99) == 1000
    assert percentile({}, 0.95) == 0


# ------------------------------------------------------------------------------ the audit
def _up(fid: str, uid: str = "u1", name: str | None = None, size: int = 10) -> dict[str, object]:
    return {"file_id": fid, "user_id": uid, "name": name or f"lt-{fid}.bin", "size": size}


def _file(fid: str, name: str | None = None, size: int = 10) -> dict[str, object]:
    return {"file_id": fid, "name": name or f"lt-{fid}.bin", "size_bytes": size}


def test_audit_compare_clean() -> None:
    uploads = [_up("a"), _up("b")]
    rows = {"u1": [_file("a"), _file("b")]}
    objects = {"u1": {"users/u1/a", "users/u1/b"}}
    summary = audit.compare(uploads, rows, objects, {})
    assert (summary["ghosts"], summary["orphans"], summary["duplicates"],
            summary["missing_objects"]) == (0, 0, 0, 0)
    assert audit.verdict(summary) == "clean"


def test_audit_verdict_says_when_a_server_side_pass_failed() -> None:
    summary = {"ghosts": 0, "reaper": {"ok": False, "error": "-m svc_upload reap exited 1"},
               "files_audit": {"ok": True}}
    assert audit.verdict(summary) == "clean (warning: the reaper pass failed)"
    summary["reaper"] = {"ok": False, "error": "skipped"}  # --no-reap: asked for, not a failure
    assert audit.verdict(summary) == "clean"


def test_a_target_of_another_tree_runs_its_clis_from_that_tree(tmp_path: Path) -> None:
    state = {"edge_url": "http://127.0.0.1:1", "s3_endpoint": "http://127.0.0.1:2",
             "s3_access_key": "k", "s3_secret_key": "s"}
    default = Target.from_state(state)
    assert default.source_root == REPO_ROOT
    assert default.service_env("upload").get("PYTHONPATH") == os.environ.get("PYTHONPATH")
    other = Target.from_state(state, source_root=tmp_path)
    assert other.service_env("upload")["PYTHONPATH"] == f"{tmp_path}:{tmp_path / 'gen'}"
    failed = tmp_path / "svc_upload"
    failed.mkdir()
    (failed / "__init__.py").write_text("")
    (failed / "__main__.py").write_text("raise SystemExit('this tree ran')\n")
    with pytest.raises(TargetError, match="this tree ran"):
        other.run_cli("upload", "reap")


def test_audit_compare_finds_ghosts_orphans_duplicates_and_missing_objects() -> None:
    uploads = [_up("a"), _up("ghost"), _up("dup", name="lt-same.bin"), _up("late")]
    rows = {"u1": [_file("a", size=11), _file("dup", "lt-same.bin"), _file("dup2", "lt-same.bin"),
                   _file("norow-object-missing")]}
    objects = {"u1": {"users/u1/a", "users/u1/dup", "users/u1/dup2", "users/u1/stray"}}
    # "late" is not in the listing but GET /api/files/f/late answers 200: not a ghost.
    summary = audit.compare(uploads, rows, objects, {"ghost": 404, "late": 200})
    assert summary["ghosts"] == 1 and summary["ghost_ids"] == ["ghost"]
    assert summary["listing_lag"] == 1
    assert summary["duplicates"] == 1
    assert summary["orphans"] == 1 and summary["orphan_keys"] == ["users/u1/stray"]
    assert summary["missing_objects"] == 1
    assert summary["size_mismatches"] == 1
    assert summary["unrecorded_rows"] == 2  # dup2 and the row without an upload record
    assert audit.verdict(summary).startswith("FAIL: ghosts=1")


def test_audit_compare_counts_only_this_runs_rows_when_accounts_are_shared() -> None:
    uploads = [_up("new", name="lt-run2-x.bin")]
    rows = {"u1": [_file("new", "lt-run2-x.bin"), _file("old", "lt-run1-y.bin"),
                   _file("old2", "lt-run1-y.bin")]}
    objects = {"u1": {"users/u1/new", "users/u1/old", "users/u1/old2"}}
    summary = audit.compare(uploads, rows, objects, {}, run_prefix="lt-run2-")
    assert (summary["file_rows"], summary["objects"], summary["file_rows_all_runs"],
            summary["objects_all_runs"]) == (1, 1, 3, 3)
    assert summary["duplicates"] == 0 and summary["unrecorded_rows"] == 0
    assert summary["orphans"] == 0 and audit.verdict(summary) == "clean"


def test_open_multipart_uploads_of_live_sessions_only_warn_orphan_ones_fail() -> None:
    summary = {"ghosts": 0, "open_multipart_uploads": 2, "orphan_multipart_uploads": 0}
    assert audit.verdict(summary) == (
        "clean (warning: 2 multipart uploads of live sessions still open)")
    summary["orphan_multipart_uploads"] = 1
    assert audit.verdict(summary) == "FAIL: orphan_multipart_uploads=1"


# ------------------------------------------------------------------------------ payloads, knobs
def test_payload_is_unique_per_iteration_and_chunks_cover_the_file() -> None:
    p = Payload(5 * 1024 * 1024 + 123)
    pieces = p.pieces(1024 * 1024)
    assert len(pieces) == 6 and pieces[-1][2] == 123
    u1, u2 = Payload.new_unique(), Payload.new_unique()
    first_a, first_b = p.piece(0, 0, pieces[0][2], u1), p.piece(0, 0, pieces[0][2], u2)
    assert first_a.data != first_b.data and first_a.data.startswith(u1)
    assert first_a.sha256_hex == hashlib.sha256(first_a.data).hexdigest()
    body = b"".join(p.piece(i, off, n, u1).data for i, off, n in pieces)
    assert body == p.whole(u1) and len(body) == p.size
    assert p.piece(1, *pieces[1][1:], u1) is p.piece(1, *pieces[1][1:], u2)  # cached


def test_settings_defaults_are_the_seeds_and_bad_values_fail() -> None:
    s = LoadSettings.from_env({})
    assert (s.scale, s.shape, s.strategy, s.file_size_bytes, s.part_size_bytes) == (
        1.0, "stress", "proxy", 1024 * 1024, 100 * 1024 * 1024)
    assert (s.think_auth_s, s.think_list_s, s.think_complete_s) == (1.0, 1.0, 0.2)
    assert s.user_count == 1000
    assert LoadSettings.from_env({"SCALE": "0.0001"}).user_count == 1
    for env in ({"PART_SIZE": str(4 * 1024 * 1024)}, {"STRATEGY": "ftp"}, {"SCALE": "0"},
                {"REFRESH_MODE": "never"}, {"FILE_SIZE": "x"}):
        with pytest.raises(SettingsError):
            LoadSettings.from_env(env)
