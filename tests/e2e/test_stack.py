"""`make up` on a clean data directory reaches /ready; Ctrl-C leaves no process or port behind.

Runs the launcher exactly as `make up` does (`python -m compose.local up`), in a fresh temporary
data directory (first run: initdb, keys, bucket, migrations) on the scratch port offset.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from compose import Stack
from compose.ports import listening, shifted
from tests.support.logs import ServiceLog
from tests.support.processes import alive
from tests.support.stacks import isolated_environ, make_data_dir, offset_for

REPO = Path(__file__).resolve().parents[2]
# Only the test's guard: the launcher bounds every step itself (initdb, each process until it
# answers) and exits naming the one that failed, which ends the output. A first start on a busy
# machine took over 90 s.
READY_TIMEOUT_S = 600
READY_LINE = re.compile(r"GoVault is ready at (http://\S+)")


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children's children included), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found



def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status), dict(response.headers)


def test_up_reaches_ready_and_ctrl_c_leaves_nothing_behind() -> None:
    data_dir = make_data_dir("e2e-up")
    offset = offset_for("scratch")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "compose.local", "up", "--data-dir", str(data_dir),
         "--port-offset", str(offset)],
        cwd=REPO, env=isolated_environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    output: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert launcher.stdout is not None
        for line in launcher.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            if match := READY_LINE.search(line):
                url = match.group(1)
        assert url, f"no ready line within {READY_TIMEOUT_S}s:\n{''.join(output)}"
        assert url == f"http://127.0.0.1:{shifted(offset)['edge']}"
        assert _get(f"{url}/ready")[0] == 200

        children = _descendants(launcher.pid)
        assert len(children) >= 6  # postgres (+ its workers), seaweedfs, 3 services, edge
        bound = Stack(data_dir, offset, environ=isolated_environ()).bound_ports()
        assert listening(bound) == bound

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0, "".join(output)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()

    assert [pid for pid in children if alive(pid)] == []
    assert listening(shifted(offset)) == {}
    assert not (data_dir / "launcher.lock").read_text().strip()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_stack_fixture_serves_ready_with_request_ids(stack: Stack) -> None:
    request_id = f"launcher-{uuid.uuid4().hex[:12]}"
    log = ServiceLog(stack.log_path("edge"))
    since = log.mark()
    status, headers = _get(f"{stack.edge_url}/ready", {"X-Request-ID": request_id})
    assert status == 200
    assert headers.get("X-Request-ID") == request_id
    line = log.wait_for(lambda entry: entry.get("request_id") == request_id, since=since)
    assert line.get("service") == "edge"
    assert os.path.isabs(stack.log_dir)
