"""The container test: compose/docker-compose.yml built and run for real with podman.

`containers` marks it (`make compose-test` runs only it; `make test` runs it with the rest).
`compose_stack` (module scope) installs what is missing, builds or reuses the images
(tests/containers/engine.py), brings the stack up on its own claimed ports and, at the end,
takes it down with its volumes. The duration of every step is printed after the run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose import claims
from compose.errors import PortInUseError
from compose.ports import can_bind, candidate_offsets, overlap, shifted
from tests.containers import engine

PREFERRED_OFFSET = 8000  # edge 17000, S3 16333, Prometheus 17090


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "containers: builds the images and runs the compose stack with podman")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker("containers")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if engine.TIMINGS:
        terminalreporter.section("container test: time per step (s)")
        for step, seconds in engine.TIMINGS.items():
            terminalreporter.write_line(f"{seconds:8.1f}  {step}")


def _claim_ports() -> tuple[int, dict[str, int]]:
    for offset in candidate_offsets(PREFERRED_OFFSET):
        if overlap(offset, 0):
            continue
        try:
            claims.claim(offset, "pytest containers stack")
        except PortInUseError:
            continue
        ports = shifted(offset)
        wanted = {"edge": ports["edge"], "s3": ports["s3"], "prometheus": ports["prometheus"],
                  "grafana": 3000 + offset}
        if all(can_bind("127.0.0.1", port) for port in wanted.values()):
            return offset, wanted
        claims.release(offset)
    raise AssertionError("no free port offset for the container stack")


@pytest.fixture(scope="module")
def compose_stack() -> Iterator[engine.ComposeStack]:
    engine.ensure_system_packages()
    cache = engine.cache_dir()
    podman = engine.Podman(cache)
    images = engine.ensure_images(podman, cache)
    engine.remove_stale_projects(podman)
    offset, ports = _claim_ports()
    workdir = Path(tempfile.mkdtemp(prefix="govault-containers-"))
    stack = engine.ComposeStack(podman, workdir, ports, images)
    stack.start_engine()
    try:
        with engine.timed("compose up (until every healthcheck passes)"):
            stack.up()
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False)
        stack.stop_engine()
        claims.release(offset)
        shutil.rmtree(workdir, ignore_errors=True)
