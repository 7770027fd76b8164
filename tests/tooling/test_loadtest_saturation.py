"""Where the time goes under load (loadtest/saturation.py): the services' histograms parsed from
/metrics, added up over processes, differenced between stage boundaries, and their p95."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from loadtest import report, saturation

SAMPLE = Path(__file__).resolve().parent.parent / "support" / "loadtest_sample"


def _page(observations: dict[str, list[float]], family: str = "govault_event_loop_lag_seconds",
          label: str = "service") -> str:
    registry = CollectorRegistry()
    histogram = Histogram(family, "x", [label], buckets=(0.001, 0.01, 0.1, 1.0),
                          registry=registry)
    for name, values in observations.items():
        for value in values:
            histogram.labels(name).observe(value)
    return generate_latest(registry).decode()


def test_a_page_is_parsed_into_named_series_and_processes_add_up() -> None:
    edge = saturation.parse(_page({"edge": [0.0005, 0.005]}), "edge")
    assert edge["govault_event_loop_lag_seconds|edge"]["count"] == 2
    assert edge["govault_event_loop_lag_seconds|edge"]["buckets"]["0.001"] == 1
    routes = saturation.parse(_page({"/api/x": [0.05], "/metrics": [0.2]},
                                    "govault_http_request_duration_seconds", "route"), "edge")
    assert list(routes) == ["govault_http_request_duration_seconds|/api/x"]  # /metrics skipped
    merged = saturation.merge([saturation.parse(_page({"upload": [0.5]}), "upload"),
                               saturation.parse(_page({"upload": [0.05]}), "upload")])
    assert merged["govault_event_loop_lag_seconds|upload"]["count"] == 2
    assert saturation.parse("# nothing of ours\nup 1\n", "edge") == {}


def test_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    series = {"buckets": {"0.001": 0, "0.01": 50, "0.1": 100, "+Inf": 100}, "sum": 3.0,
              "count": 100}
    assert saturation.quantile(series, 0.5) == pytest.approx(0.01)
    assert saturation.quantile(series, 0.95) == pytest.approx(0.01 + 0.09 * 0.9)
    beyond = {"buckets": {"0.1": 0, "+Inf": 10}, "sum": 9.0, "count": 10}
    assert saturation.quantile(beyond, 0.95) == 0.1  # past the last bound: that bound
    assert saturation.quantile({"buckets": {}, "sum": 0, "count": 0}, 0.95) is None


def test_each_stage_gets_the_difference_between_its_boundaries(tmp_path: Path) -> None:
    key = "govault_event_loop_lag_seconds|edge"
    pages = [saturation.parse(_page({"edge": values}), "edge")
             for values in ([0.0005], [0.0005, 0.05, 0.05], [0.0005, 0.05, 0.05])]
    samples = [{"t": t, "series": page} for t, page in zip((0.0, 10.0, 20.5), pages,
                                                          strict=True)]
    stages = [{"start_s": 0, "end_s": 10}, {"start_s": 10, "end_s": 20}]
    waits = saturation.per_stage(samples, stages)
    first, second = waits[key]
    assert first is not None and first["count"] == 2
    assert first["mean"] == pytest.approx(0.05) and 0.01 < first["p95"] <= 0.1
    assert second is None  # nothing observed in the second stage


def test_the_report_shows_the_waits_per_stage(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(SAMPLE, results)
    folder = results / "proxy"
    info = json.loads((folder / "run.json").read_text())
    times = [0.0, *(float(s["end_s"]) for s in info["stages"])]
    lines = [{"t": t, "series": saturation.parse(_page({"upload": [0.002] * (i + 1) * 10}),
                                                 "upload")}
             for i, t in enumerate(times)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    text = report.build(results, with_charts=False).read_text()
    assert "## Where the time goes (server side, per stage)" in text
    assert "| event-loop lag: upload | " in text
