"""Interrupted transfers pick up where they stopped: SIGKILL `govault put` / `get` midway, run
the same command again, and only what the server does not have yet is sent (or, for a
download, fetched); a file that changed, or a session that can no longer be used, starts over
with a note."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import (
    MIB,
    Cli,
    api_as,
    left,
    pieces_sent,
    random_file,
    resume_records,
    sha256,
    transfer_deadline,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _kill_when(cli: Cli, args: list[str], pieces: int, rate: int
               ) -> tuple[str, frozenset[int], int]:
    """Starts `govault put ARGS --limit-rate RATE` (ARGS[0]: the file), SIGKILLs it once
    `pieces` pieces are sent; returns the upload id, the pieces sent and the session's piece
    count. Sent: the chunks the server holds, or the parts in the store whose ETags the resume
    record keeps (listed at completion, not registered one by one). The waits share a deadline
    the capped upload cannot reach: it is killed before its end, however slow the machine."""
    deadline = transfer_deadline(Path(args[0]).stat().st_size, rate)
    proc = cli.start("put", *args, "--limit-rate", str(rate))
    try:
        wait_for(lambda: bool(resume_records(cli)), timeout_s=left(deadline),
                 what="the resume record")
        (record,) = resume_records(cli).values()
        uuid = record["upload_uuid"]
        with api_as(cli) as api:
            wait_for(lambda: len(pieces_sent(cli, api, uuid)) >= pieces,
                     timeout_s=left(deadline), what=f"{pieces} pieces sent")
            assert time.monotonic() < deadline, "the pieces took longer than the upload's minimum"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            status = api.upload_status(uuid)
            before = pieces_sent(cli, api, uuid)
    finally:
        proc.kill()
        proc.wait()
    assert status.status in ("pending", "uploading"), status
    assert pieces <= len(before) < status.total_chunks
    return uuid, before, status.total_chunks


@pytest.mark.parametrize(("method", "pieces"), [("multipart", 3), ("proxy", 2)])
def test_a_killed_put_resumes_sending_only_the_missing_pieces(
        method: str, pieces: int, signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "big.bin", 64 * MIB)
    args = [str(source), "--method", method, "--part-size", "5MiB", "--parallel", "2"]
    uuid, before, total = _kill_when(cli, args, pieces, 2 * MIB)

    again = cli.run(*["put", *args, "--json"])
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["upload_uuid"] == uuid and result["resumed"] is True
    assert result["pieces_skipped"] == len(before)
    assert result["pieces_sent"] == total - len(before)
    assert "resuming upload" in again.stderr
    assert resume_records(cli) == {}

    got = cli.run("get", result["file_id"], "-o", str(tmp_path / "back.bin"))
    assert got.code == 0, got
    assert sha256(tmp_path / "back.bin") == sha256(source)


def test_a_file_changed_since_the_interruption_starts_over(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "doc.bin", 40 * MIB)
    args = [str(source), "--method", "multipart", "--part-size", "5MiB", "--parallel", "1"]
    old_uuid, _, _ = _kill_when(cli, args, 1, MIB)
    with open(source, "r+b") as f:  # same size, new bytes and mtime
        f.write(os.urandom(1024))

    again = cli.run(*["put", *args, "--json"])
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["upload_uuid"] != old_uuid and result["pieces_skipped"] == 0
    assert "changed" in again.stderr and "starting over" in again.stderr
    with api_as(cli) as api:
        assert api.upload_status(old_uuid).status == "aborted"
    assert cli.run("get", result["file_id"], "-o", str(tmp_path / "back")).code == 0
    assert sha256(tmp_path / "back") == sha256(source)


def test_a_session_that_can_no_longer_be_used_starts_over_with_a_message(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    """Expired and aborted sessions look the same to the client: not resumable."""
    cli = signed_up()
    source = random_file(tmp_path / "doc.bin", 40 * MIB)
    args = [str(source), "--method", "proxy", "--parallel", "1"]
    old_uuid, _, _ = _kill_when(cli, args, 1, MIB)
    with api_as(cli) as api:
        api.abort_upload(old_uuid)

    again = cli.run(*["put", *args, "--json"])
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["upload_uuid"] != old_uuid and result["resumed"] is False
    assert "is aborted: starting over" in again.stderr


def test_a_killed_get_resumes_from_the_bytes_already_on_disk(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "big.bin", 64 * MIB)
    file_id = cli.run("put", str(source), "--method", "multipart").stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    partial = out / f".big.bin.{file_id}.govault-partial"
    complete = partial.with_name(partial.name + ".done")  # the complete prefix, in bytes

    def on_disk() -> int:
        try:
            return int(complete.read_text())
        except (OSError, ValueError):
            return 0

    # One segment at a time (the complete prefix is then every byte received), capped: the
    # wait's deadline is one the download cannot reach, so it is killed before its end.
    deadline = transfer_deadline(64 * MIB, 2 * MIB)
    proc = cli.start("get", file_id, "-o", str(out), "--parallel", "1", "--limit-rate", "2MiB")
    try:
        wait_for(lambda: on_disk() >= 4 * MIB, timeout_s=left(deadline), what="4 MiB on disk")
        assert time.monotonic() < deadline, "4 MiB took longer than the download's minimum"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    kept = on_disk()
    assert not (out / "big.bin").exists(), "renamed into place before it was complete"

    again = cli.run("get", file_id, "-o", str(out), "--json")
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["resumed_from"] == kept and kept < 64 * MIB
    assert sha256(out / "big.bin") == sha256(source)
    assert not partial.exists() and not complete.exists()
