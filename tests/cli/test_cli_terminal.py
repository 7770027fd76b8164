"""On a terminal `govault` draws progress bars (size, speed, ETA) and Ctrl-C stops an upload
that the same command then resumes; piped, it prints only the parseable result."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from tests.cli.helpers import (
    GOVAULT,
    MIB,
    Cli,
    api_as,
    left,
    pieces_sent,
    random_file,
    resume_records,
    transfer_deadline,
    wait_for,
)

pytestmark = pytest.mark.e2e
ANSI = re.compile(r"\x1b\[")
SIZE = 40 * MIB
RATE = MIB  # --limit-rate, bytes per second


def test_progress_on_a_terminal_and_ctrl_c_then_resume(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "movie.bin", SIZE)
    args = [str(source), "--method", "multipart", "--part-size", "5MiB", "--parallel", "1"]
    # Every wait before Ctrl-C shares a deadline the rate-capped upload cannot reach: it cannot
    # finish before the interrupt, however slow the machine.
    deadline = transfer_deadline(SIZE, RATE)
    child = pexpect.spawn(str(GOVAULT), ["put", *args, "--limit-rate", str(RATE)],
                          env={**cli.env, "TERM": "xterm-256color"}, cwd=str(cli.home),
                          dimensions=(24, 120), encoding="utf-8",
                          preexec_fn=_interruptible)
    try:
        child.expect(r"movie\.bin", timeout=left(deadline))
        child.expect(r"\d+%", timeout=left(deadline))
        child.expect(r"\d (KiB|MiB)/s", timeout=left(deadline))  # the speed, in binary units
        wait_for(lambda: bool(resume_records(cli)), timeout_s=left(deadline),
                 what="the resume record")
        (record,) = [r["upload_uuid"] for r in resume_records(cli).values()]
        with api_as(cli) as api:
            wait_for(lambda: len(pieces_sent(cli, api, record)) >= 1,
                     timeout_s=left(deadline), what="one part sent")
        assert time.monotonic() < deadline, "one part took longer than the upload's minimum"
        child.sendintr()  # Ctrl-C
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, (child.exitstatus, child.signalstatus)
    assert "run the same command again to resume" in (child.before or "")

    piped = cli.run("put", *args)
    assert piped.code == 0, piped
    assert re.fullmatch(r"[0-9a-f-]{36}\n", piped.stdout), piped.stdout
    assert not ANSI.search(piped.stdout + piped.stderr)
    assert "resuming upload" in piped.stderr  # a note, on stderr only
    quiet = cli.run("put", str(random_file(tmp_path / "small", MIB)), "--quiet")
    assert quiet.code == 0 and quiet.stderr == ""


def _interruptible() -> None:
    """Ctrl-C reaches the child as it reaches a command an interactive shell runs: a suite
    started in the background (`cmd &` in a script) inherits SIGINT ignored, and so would
    `govault`, which would then finish the upload instead."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_table_on_a_terminal_and_tab_separated_lines_when_piped(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    file_id = cli.run("put", str(random_file(tmp_path / "notes.txt", 2048))).stdout.strip()
    child = pexpect.spawn(str(GOVAULT), ["ls"], env={**cli.env, "TERM": "xterm-256color"},
                          cwd=str(cli.home), dimensions=(24, 160), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "NAME" in (child.before or "") and "notes.txt" in (child.before or "")
    piped = cli.run("ls")
    assert piped.stdout.split("\t")[:3] == [file_id, "notes.txt", "2.0 KiB"]
