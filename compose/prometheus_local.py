"""Prometheus for the local stack: the same jobs as `compose/prometheus.yml` (one per GoVault
process, named edge/auth/upload/files), pointed at the local metrics ports.

Uses the system `prometheus` binary (Debian package `prometheus`) when there is one; without it
the local stack simply runs without Prometheus. The launcher can either

    child = start_prometheus(DATA / "prometheus", {"edge": "127.0.0.1:9100", ...}, 9090)

(a `subprocess.Popen` in its own session, output in DATA/prometheus/prometheus.log; stop it with
SIGTERM), or spawn `prometheus_argv(...)` under its own supervisor. `wait_ready(port)` waits for
`/-/ready`. Nothing here imports service code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

CONFIG_FILE = "prometheus.yml"
LOG_FILE = "prometheus.log"
# The jobs of compose/prometheus.yml; dashboards filter process panels on these names.
JOBS = ("edge", "auth", "upload", "files")
Targets = str | Sequence[str]  # one "host:port", or one per replica


def find_prometheus() -> str | None:
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def scrape_config(
    targets: Mapping[str, Targets], *, scrape_interval_s: float = 10.0,
    self_target: str | None = None,
) -> dict[str, object]:
    """The config dict: one job per `targets` entry (job name → "host:port", or a list of them
    when a service runs several replicas)."""
    interval = f"{scrape_interval_s:g}s"
    timeout = f"{min(scrape_interval_s, 5.0):g}s"
    jobs: list[dict[str, object]] = [
        {"job_name": job,
         "static_configs": [{"targets": [target] if isinstance(target, str) else list(target)}]}
        for job, target in targets.items()
    ]
    if self_target:
        jobs.append({"job_name": "prometheus", "static_configs": [{"targets": [self_target]}]})
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": timeout,
                   "evaluation_interval": interval},
        "scrape_configs": jobs,
    }


def write_config(
    data_dir: Path, targets: Mapping[str, Targets], *, scrape_interval_s: float = 10.0,
    self_target: str | None = None,
) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG_FILE
    config = scrape_config(targets, scrape_interval_s=scrape_interval_s, self_target=self_target)
    path.write_text("# Written by compose/prometheus_local.py (same jobs as compose/prometheus.yml)"
                    "\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_argv(
    data_dir: Path, targets: Mapping[str, Targets], port: int, *, host: str = "127.0.0.1",
    scrape_interval_s: float = 10.0, retention: str = "7d",
) -> list[str] | None:
    """Writes the config under `data_dir`; the command line, or None without a binary."""
    binary = find_prometheus()
    if binary is None:
        return None
    config = write_config(data_dir, targets, scrape_interval_s=scrape_interval_s,
                          self_target=f"{host}:{port}")
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir / 'tsdb'}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address={host}:{port}",
        "--web.enable-lifecycle",
    ]


def start_prometheus(
    data_dir: str | os.PathLike[str], targets: Mapping[str, Targets], port: int, *,
    host: str = "127.0.0.1", scrape_interval_s: float = 10.0,
) -> subprocess.Popen[bytes] | None:
    """Starts Prometheus scraping `targets` (job → "host:port"); None when it is not installed."""
    directory = Path(data_dir)
    argv = prometheus_argv(directory, targets, port, host=host,
                           scrape_interval_s=scrape_interval_s)
    if argv is None:
        return None
    log = open(directory / LOG_FILE, "ab")  # the child keeps its own copy of the descriptor
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def wait_ready(port: int, host: str = "127.0.0.1", timeout_s: float = 30.0,
               process: subprocess.Popen[bytes] | None = None) -> None:
    """Waits for GET /-/ready; RuntimeError if it does not come (or the process exits)."""
    deadline = time.monotonic() + timeout_s
    url = f"http://{host}:{port}/-/ready"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prometheus not ready on {url} within {timeout_s}s")


def stop_prometheus(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
