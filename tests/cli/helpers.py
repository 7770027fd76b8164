"""Running `govault` as a user would: a subprocess with its own HOME, exit status, stdout and
stderr, optionally its peak RSS; waiting for a condition. (`random_file` and `sha256` are the
benchmark's.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client import GoVaultClient, MemoryTokenStore, Tokens
from loadtest.bench_cli import MEASURE_RSS, random_file, sha256

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
              stdin: int | None = subprocess.DEVNULL, measure_rss_to: Path | None = None
              ) -> subprocess.Popen[str]:
        command = [str(GOVAULT), *args]
        if measure_rss_to is not None:  # peak RSS of the CLI alone (see MEASURE_RSS)
            command = [sys.executable, "-c", MEASURE_RSS, str(measure_rss_to), *command]
        return subprocess.Popen(command, env={**self.env, **(env or {})}, cwd=self.home,
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120, measure_rss: bool = False) -> Result:
        rss_file = self.home / "max_rss" if measure_rss else None
        proc = self.start(*args, env=env, measure_rss_to=rss_file,
                          stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        finally:
            proc.kill()
            proc.wait()
        rss = int(rss_file.read_text()) if rss_file is not None else 0
        return Result(proc.returncode, stdout, stderr, rss)


def transfer_deadline(size: int, rate: int, margin_s: float = 5.0) -> float:
    """A time (time.monotonic) before which a transfer of `size` bytes capped at `--limit-rate
    rate`, starting now, cannot have ended: the cap lets through `rate` bytes a second plus one
    second of burst; `margin_s` less, for acting on what a wait saw. Waits for the transfer's
    progress that share this deadline cannot lose a race to its end, however slow the machine:
    a machine too slow to make that progress in time fails the wait loudly."""
    return time.monotonic() + size / rate - 1 - margin_s


def left(deadline: float) -> float:
    """Seconds until `deadline` (a wait given this fails at once when it has passed)."""
    return max(deadline - time.monotonic(), 0.001)


def wait_for(condition: Callable[[], bool], timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def resumed_at(stderr: str, size: int) -> int:
    """The offset a resumed tus put says the server had (`… N of SIZE bytes already on the
    server`)."""
    found = re.findall(rf"(\d+) of {size} bytes already on the server", stderr)
    assert len(found) == 1, stderr
    return int(found[0])


def api_as(cli: Cli) -> GoVaultClient:
    """A library client with the CLI's saved tokens (for looking at the server's side)."""
    return GoVaultClient(cli.server, store=MemoryTokenStore(Tokens.from_json(cli.credentials())))


def resume_records(cli: Cli) -> dict[str, Any]:
    try:
        records: dict[str, Any] = json.loads(cli.resume_file.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return records


def pieces_sent(cli: Cli, api: GoVaultClient, upload_uuid: str) -> frozenset[int]:
    """The pieces of an upload in progress that are sent: the chunks the server holds, or the
    parts in the store whose ETags the resume record keeps (the client lists them at
    completion instead of registering each one)."""
    record: dict[str, Any] = next((r for r in resume_records(cli).values()
                                   if r.get("upload_uuid") == upload_uuid), {})
    return (frozenset(api.upload_status(upload_uuid).received)
            | {int(n) for n in record.get("etags", {})})


__all__ = ["GOVAULT", "MIB", "PASSWORD", "Cli", "Result", "api_as", "left", "pieces_sent",
           "random_file", "resume_records", "resumed_at", "sha256", "transfer_deadline",
           "wait_for"]
