"""Running `govault` as a user would: a subprocess with its own HOME, exit status, stdout and
stderr, optionally its peak RSS; random files; waiting for a condition."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PASSWORD = "Test@1234"
MIB = 1024 * 1024
GOVAULT = Path(sys.executable).parent / "govault"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    max_rss_bytes: int = 0

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


class Cli:
    def __init__(self, home: Path, server: str) -> None:
        self.home = home
        self.server = server
        self.username = self.email = self.user_id = ""
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GOVAULT_")},
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"), "GOVAULT_SERVER": server,
            "COLUMNS": "120",
        }

    @property
    def credentials_file(self) -> Path:
        return self.home / "config" / "govault" / "credentials.json"

    @property
    def resume_file(self) -> Path:
        return self.home / "state" / "govault" / "uploads.json"

    def credentials(self) -> dict[str, Any]:
        entry: dict[str, Any] = json.loads(self.credentials_file.read_text())[self.server]
        return entry

    def start(self, *args: str, env: dict[str, str] | None = None,
              stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
        return subprocess.Popen([str(GOVAULT), *args], env={**self.env, **(env or {})},
                                cwd=self.home, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120) -> Result:
        """Runs to the end; measures the process's own peak RSS (wait4)."""
        proc = self.start(*args, env=env,
                          stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        stdout, stderr, rss = _communicate(proc, input, timeout)
        return Result(proc.returncode, stdout, stderr, rss)


def _communicate(proc: subprocess.Popen[str], input: str | None,
                 timeout: float) -> tuple[str, str, int]:
    # communicate() reaps the child without returning its rusage, so collect the output in
    # threads and reap it ourselves with wait4.
    chunks: dict[str, str] = {}

    def read(name: str) -> None:
        stream = getattr(proc, name)
        chunks[name] = stream.read()

    readers = [threading.Thread(target=read, args=(n,)) for n in ("stdout", "stderr")]
    for t in readers:
        t.start()
    if input is not None:
        assert proc.stdin is not None
        proc.stdin.write(input)
        proc.stdin.close()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"govault did not finish within {timeout} s")
        time.sleep(0.02)
    for t in readers:
        t.join()
    return chunks["stdout"], chunks["stderr"], usage.ru_maxrss * 1024


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            f.write(block)
            left -= len(block)
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)
