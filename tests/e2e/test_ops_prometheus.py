"""The launcher's local Prometheus (compose/prometheus_local.py, started by `Stack` as in `make up`)
against the running stack: every GoVault process is a target that is `up`, under the same job
names as the container stack's prometheus.yml, and stopping it leaves the rest running.

The session `stack` runs without Prometheus (fixtures keep start-up short); this module starts the
launcher's one on it with a 1 s scrape interval. A missing `prometheus` fails, never skips."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from compose import Stack
from compose.ports import listening
from compose.prometheus_local import JOBS
from tests.support.tools import require_tool


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def prometheus_url(stack: Stack) -> Iterator[str]:
    require_tool("prometheus")
    url = stack.start_prometheus(scrape_interval_s=1)
    assert url is not None and url == stack.prometheus_url
    assert url == f"http://127.0.0.1:{stack.ports['prometheus']}"
    yield url
    stack.stop_prometheus()
    assert stack.prometheus_url is None
    assert listening({"prometheus": stack.ports["prometheus"]}) == {}
    assert stack.dead_process() is None  # the services keep running


def test_every_process_is_an_up_target(stack: Stack, prometheus_url: str) -> None:
    api = f"{prometheus_url}/api/v1"
    targets = {job: f"127.0.0.1:{stack.metrics_ports[job]}" for job in JOBS}
    deadline = time.monotonic() + 90  # scrapes, every few seconds: generous for a busy machine
    while True:
        active = _get(f"{api}/targets?state=active")["data"]["activeTargets"]
        health = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in active}
        if health and all(h == "up" for h, _ in health.values()) and set(JOBS) <= set(health):
            break
        assert time.monotonic() < deadline, f"targets not all up: {health}"
        time.sleep(0.5)
    assert set(health) == {*JOBS, "prometheus"}, health  # every target, itself included, is up
    for target in active:
        job = target["labels"]["job"]
        if job in JOBS:
            assert target["scrapeUrl"] == f"http://{targets[job]}/metrics"
    query = urllib.parse.quote('sum by (job) (up{job=~"edge|auth|upload|files"})')
    deadline = time.monotonic() + 60
    while True:
        result = _get(f"{api}/query?query={query}")["data"]["result"]
        up = {item["metric"]["job"]: float(item["value"][1]) for item in result}
        if up == {job: 1.0 for job in JOBS}:
            break
        assert time.monotonic() < deadline, up
        time.sleep(0.5)
    # a dashboard query answers with data from the stack
    query = urllib.parse.quote("sum by (job) (process_resident_memory_bytes)")
    result = _get(f"{api}/query?query={query}")["data"]["result"]
    assert {item["metric"]["job"] for item in result} >= set(JOBS)


def test_stack_json_names_prometheus(stack: Stack, prometheus_url: str) -> None:
    state = json.loads((stack.data_dir / "stack.json").read_text())
    assert state["prometheus_url"] == prometheus_url
    assert stack.log_path("prometheus").exists()
