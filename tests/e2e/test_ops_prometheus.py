"""Local Prometheus (compose/prometheus_local.py) against the running stack: every GoVault process
is a target that is `up`, under the same job names as the container stack's prometheus.yml."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from compose import Stack
from compose.prometheus_local import start_prometheus, stop_prometheus, wait_ready
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None,
                                reason="prometheus not installed (apt-get install prometheus)")
JOBS = ("edge", "auth", "upload", "files")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_every_process_is_an_up_target(stack: Stack, tmp_path: Path) -> None:
    targets = {job: f"127.0.0.1:{stack.metrics_ports[job]}" for job in JOBS}
    port = free_port()
    process = start_prometheus(tmp_path / "prometheus", targets, port, scrape_interval_s=1)
    assert process is not None
    try:
        wait_ready(port, process=process)
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            active = _get(f"{api}/targets?state=active")["data"]["activeTargets"]
            health = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in active}
            if all(health.get(job, ("",))[0] == "up" for job in JOBS):
                break
            assert time.monotonic() < deadline, f"targets not all up: {health}"
            time.sleep(0.5)
        for target in active:
            if target["labels"]["job"] in JOBS:
                assert target["scrapeUrl"].endswith("/metrics")
                assert target["scrapeUrl"].startswith(f"http://{targets[target['labels']['job']]}")
        query = urllib.parse.quote('sum by (job) (up{job=~"edge|auth|upload|files"})')
        deadline = time.monotonic() + 15
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
    finally:
        stop_prometheus(process)
    assert process.returncode is not None
