"""The chart on a real one-node Kubernetes cluster (`make k8s-test`; part of `make test`).

`k8s` marks these tests. The module-scoped `release` fixture:
1. builds or reuses the Kubernetes binaries (scripts/ensure-k8s) and GoVault's images
   (tests/containers/engine.py), and takes the machine-wide cluster lock;
2. sweeps what a killed earlier run left, checks the host (root, tools, free disk), brings the
   cluster up (tests/k8s/cluster.py) and imports the images;
3. installs the dependencies and then the chart (`helm install --wait`);
and at the end, whatever happened (a failure, Ctrl-C, SIGTERM), deletes the pods through the
API, stops the cluster and undoes its host side effects (tests/k8s/host.py), failing the run if
something could not be undone. The duration of every step and the scenario's figures are
printed after the run and written to $GOVAULT_K8S_REPORT (default
/tmp/govault-k8s-report.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s import cluster as k8s
from tests.k8s import host
from tests.k8s.release import Release, build_images

ROOT = Path(__file__).resolve().parents[2]
FIGURES: dict[str, Any] = {}
TEARDOWN_NOTES: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "k8s: the Helm chart on a one-node Kubernetes cluster built on this machine")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks these tests `k8s` and runs them last in a whole-suite run (`make test`): on a fresh
    machine the Kubernetes build started in the background by `make k8s-prebuild` then overlaps
    every other test instead of being waited for halfway. The prerequisite checks come first."""
    here = Path(__file__).parent
    ours = [item for item in items if item.path.is_relative_to(here)]
    for item in ours:
        item.add_marker("k8s")
    ours.sort(key=lambda item: item.path.name != "test_prerequisites.py")  # stable
    items[:] = [item for item in items if not item.path.is_relative_to(here)] + ours


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not k8s.TIMINGS and not FIGURES:
        return
    terminalreporter.section("k8s test: time per step (s)")
    for step, seconds in k8s.TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.1f}  {step}")
    for note in TEARDOWN_NOTES:
        terminalreporter.write_line(f"teardown: {note}")
    if FIGURES:
        terminalreporter.section("k8s test: figures")
        terminalreporter.write_line(json.dumps(FIGURES, indent=2))
    report = Path(os.environ.get("GOVAULT_K8S_REPORT", "/tmp/govault-k8s-report.json"))
    report.write_text(json.dumps({"timings_s": k8s.TIMINGS, "figures": FIGURES,
                                  "teardown": TEARDOWN_NOTES}, indent=2))


def _helm() -> str:
    result = subprocess.run([str(ROOT / "scripts" / "ensure-helm")], capture_output=True,
                            text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"scripts/ensure-helm failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def release() -> Iterator[Release]:
    try:
        bin_dir = k8s.ensure_binaries()
        helm = _helm()
        images = build_images()
    except k8s.ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    with k8s.exclusive(), host.signals_as_interrupts(), \
            tempfile.TemporaryDirectory(prefix="govault-k8s-") as tmp:
        cluster = k8s.Cluster(bin_dir)
        failure = None
        try:
            with k8s.timed("cluster up (from a swept host to CoreDNS ready)"):
                cluster.up()
            with k8s.timed("images: GoVault and stand-ins imported into containerd"):
                cluster.import_images(images.all())
            rel = Release(cluster, helm, images, Path(tmp))
            with k8s.timed("dependencies ready (PostgreSQL x3, SeaweedFS, Redis)"):
                rel.install_dependencies()
            with k8s.timed("helm install --wait (2 replicas of each process)"):
                rel.install()
            yield rel
        except k8s.ClusterError as exc:
            failure = str(exc)
        finally:
            with host.signals_ignored():
                notes = cluster.down()
            TEARDOWN_NOTES.extend(notes)
        if failure:
            pytest.fail(failure, pytrace=False)
        problems = [n for n in notes if n.startswith("PROBLEM")]
        assert problems == [], f"the host is not as it was: {problems}"
