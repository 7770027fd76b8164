"""A stack run from a given source tree (a git worktree of the build to measure): `python -m
compose.local up` with that tree first on PYTHONPATH and as working directory, so its launcher
and its services are that tree's code while the benchmark's own code is this tree's.

    stack = TreeStack(Path("/tmp/base"), offset=2170, store="minio")
    state = stack.start()          # stack.json once the services run
    ...
    stack.stop()                   # and its data directory is deleted

Its gRPC ports lie in the ephemeral range, and test sessions claim offsets as they come: a
start skips the offsets whose ports overlap a claimed stack's (`compose.claims`), and one that
still finds a port taken moves the offset on and tries again. A launcher older than
`stack.json`'s `pids` is measured too (`loadtest.cpu.pids_from_launcher` names its children).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from compose import claims
from compose.ports import overlap
from loadtest import cpu

READY_S = 300.0
STEP = 7  # offsets moved on per try


def free_offset(offset: int) -> int:
    """The first offset from `offset` on (in STEPs) whose ports overlap no claimed stack's (this
    process's own claims included)."""
    taken = {*claims.active(), *claims.held()}
    while any(overlap(offset, other) for other in taken):
        offset += STEP
    return offset


class TreeStack:
    def __init__(self, tree: Path, offset: int, store: str = "minio",
                 env: dict[str, str] | None = None, python: str = "") -> None:
        self.tree = tree.resolve()
        self.python = python or sys.executable  # the interpreter of the stack's processes
        self.offset = offset
        self.store = store
        self.env = dict(env or {})
        self.data_dir = Path(tempfile.mkdtemp(prefix="govault-tree-"))
        self.data_dir.chmod(0o755)  # PostgreSQL's own user must reach its data directory
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        self.offset = free_offset(self.offset)
        env = {**os.environ, "GOVAULT_DEFAULT_QUOTA_BYTES": "0", **self.env,
               "PYTHONPATH": f"{self.tree}:{self.tree / 'gen'}"}
        with (self.data_dir / "launcher.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "compose.local", "up", "--data-dir", str(self.data_dir),
                 "--port-offset", str(self.offset), "--store", self.store, "--no-prometheus"],
                cwd=self.tree, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def python_version(self) -> str:
        return subprocess.run([self.python, "-c", "import sys; print(sys.version.split()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()

    def start(self) -> dict[str, Any]:
        """Launches and waits until the services run; returns stack.json (with `pids`)."""
        self.launch()
        return self.wait_ready()

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + READY_S
        path = self.data_dir / "stack.json"
        attempts = 0
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.data_dir / "launcher.log").read_text(errors="replace")
                attempts += 1
                if ("already in use" in log or "overlap" in log) and attempts < 10:
                    self.offset += STEP  # a port of this offset is taken: move along
                    time.sleep(1)
                    self.launch()
                    continue
                raise RuntimeError(f"the stack of {self.tree} exited:\n{log[-2000:]}")
            if path.exists():
                state: dict[str, Any] = json.loads(path.read_text())
                if state.get("services"):
                    pids = state.get("pids") or cpu.pids_from_launcher(int(state["pid"]))
                    if {"edge", "upload"} <= set(pids):
                        return {**state, "pids": pids}
            time.sleep(0.5)
        raise RuntimeError(f"the stack of {self.tree} was not ready in {READY_S:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)
