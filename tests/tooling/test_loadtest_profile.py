"""The profiling harness's report (loadtest/profile.py) and the transport floor's sums
(loadtest/bench_floor.py): pure pieces, on figures given here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import bench_floor, profile

ROWS = [
    {"mode": "raw", "uploads_per_s": 100.0, "errors": 0, "ours_ms_per_upload": 0.0,
     "cpu_ms_per_upload": {"store": 10.0}},
    {"mode": "proxy", "uploads_per_s": 40.0, "errors": 0, "ours_ms_per_upload": 18.0,
     "cpu_ms_per_upload": {"edge": 5.0, "auth": 0.0, "upload": 8.0, "files": 3.0,
                           "postgres": 2.0, "store": 11.0, "loadgen": 4.0}},
]


def test_a_report_without_a_profiler_is_written_to_a_new_folder(tmp_path: Path) -> None:
    out = tmp_path / "not-yet"
    text = profile.write_report(out, ROWS, {"when": "now", "argv": "--rate 0",
                                            "concurrency": 8, "seconds": 12,
                                            "size_bytes": 1048576, "rate": 0})
    assert (out / "profile.md").read_text() == text
    assert ("| proxy | 40.0 | 0.40 | 18.0 | 5.0 | 0.0 | 8.0 | 3.0 | 2.0 | – | 11.0 | 4.0 | 0 |"
            in text)
    assert "No profiler attached" in text and ".svg" not in text
    assert json.loads((out / "profile.json").read_text())["rows"] == ROWS


def test_a_profiled_report_links_its_flame_graphs(tmp_path: Path) -> None:
    text = profile.write_report(tmp_path, ROWS, {"when": "now", "argv": "", "concurrency": 8,
                                                 "seconds": 12, "size_bytes": 1048576})
    assert "[proxy/edge](proxy/edge.svg)" in text


def test_the_floor_adds_up_the_calls_each_flow_makes() -> None:
    parts = {name: {"client_ms": 0.25, "server_ms": 0.75} for name in
             ("grpc unary", "grpc stream", "http request", "http 1 MiB", "s3-style call",
              "s3-style 1 MiB", "sha-256")}
    floors = bench_floor.floors(parts)
    for flow, calls in bench_floor.FLOWS.items():
        assert floors[flow] == pytest.approx(sum(calls.values()))
