"""The profiling harness's report (loadtest/profile.py) and the transport floor's sums
(loadtest/bench_floor.py): pure pieces, on figures given here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import attribute, bench_floor, profile

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


# py-spy's raw output: `outer;…;inner count`, frames as `function (path:line)`
MAIN = "<module> (edge/__main__.py:24);run (asyncio/runners.py:118)"
STACKS = "\n".join([
    f"{MAIN};RequestHandler.start (aiohttp/web_protocol.py:610) 50",  # the server's own
    f"{MAIN};observe (edge/middleware.py:94) 20",  # ours
    f"{MAIN};observe (edge/middleware.py:94);limit (edge/ratelimit/middleware.py:135);"
    "call (edge/upstream.py:298);UnaryUnaryCall._invoke (grpc/aio/_call.py:586) 15",
    f"{MAIN};observe (edge/middleware.py:120);BoundLoggerFilteringAtInfo.info "
    "(structlog/_native.py:139) 10",
    f"{MAIN};Presigner.presign (common/sigv4.py);new (hmac.py) 5",  # --nolineno
    "not a stack line",
])


def test_samples_are_sorted_by_whose_code_ran() -> None:
    assert attribute.shares(STACKS) == {
        "our code": 0.2, "logging + metrics": 0.1, "libraries called by us": 0.2,
        "machinery": 0.5}
    assert attribute.shares("") == dict.fromkeys(attribute.KINDS, 0.0)


def test_a_raw_profile_report_says_whose_code_ran(tmp_path: Path) -> None:
    (tmp_path / "proxy").mkdir()
    (tmp_path / "proxy" / "edge.txt").write_text(STACKS)
    text = profile.write_report(tmp_path, ROWS, {"when": "now", "argv": "", "concurrency": 8,
                                                 "seconds": 12, "size_bytes": 1048576,
                                                 "format": "raw", "gil": True})
    assert "the GIL holder only" in text
    assert "| proxy | edge | 100 | 20 % | 10 % | 20 % | 50 % |" in text
    assert "[proxy/edge](proxy/edge.txt)" in text and "Flame graphs" not in text


def test_the_floor_adds_up_the_calls_each_flow_makes() -> None:
    parts = {name: {"client_ms": 0.25, "server_ms": 0.75} for name in
             ("grpc unary", "grpc stream", "http request", "http 1 MiB", "s3-style call",
              "s3-style 1 MiB", "sha-256")}
    floors = bench_floor.floors(parts)
    for flow, calls in bench_floor.FLOWS.items():
        assert floors[flow] == pytest.approx(sum(calls.values()))
