"""`govault put --method tus`: the tus 1.0 protocol from the command line, to GoVault's own tus
endpoint (or, with --tus-url, any tus server's): whole files and PATCHes of a chosen size, byte
exact; a put killed midway resumes from the offset the server kept (HEAD), sending only the
rest."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import MIB, Cli, random_file, resume_records, sha256, wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("size", "chunk"), [(0, "0"), (3 * MIB + 5, "0"), (12 * MIB, "5MiB"),
                                             (12 * MIB, "0")])
def test_put_by_tus_stores_the_exact_file(signed_up: Callable[[], Cli], tmp_path: Path,
                                          size: int, chunk: str) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "tus.bin", size)
    put = cli.run("put", str(source), "--method", "tus", "--tus-chunk-size", chunk, "--json")
    assert put.code == 0, put
    (result,) = put.json_lines()
    assert result["method"] == "tus" and result["size_bytes"] == size
    got = cli.run("get", result["file_id"], "-o", str(tmp_path / "back.bin"))
    assert got.code == 0, got
    assert sha256(tmp_path / "back.bin") == sha256(source)
    assert resume_records(cli) == {}


def test_a_killed_tus_put_resumes_from_the_servers_offset(signed_up: Callable[[], Cli],
                                                          tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "big.bin", 40 * MIB)
    args = [str(source), "--method", "tus", "--tus-chunk-size", "2MiB"]
    proc = cli.start("put", *args, "--limit-rate", "8MiB")
    try:
        wait_for(lambda: bool(resume_records(cli)), what="the resume record")
        (record,) = resume_records(cli).values()
        url = record["upload_url"]
        token = cli.credentials()["access_token"]

        def offset() -> int:
            answer = httpx.head(url, headers={"Authorization": f"Bearer {token}",
                                              "Tus-Resumable": "1.0.0"})
            return int(answer.headers["Upload-Offset"])

        wait_for(lambda: offset() >= 10 * MIB, what="10 MiB on the server")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    kept = offset()
    assert 10 * MIB <= kept < 40 * MIB

    again = cli.run("put", *args, "--json")
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["upload_uuid"] == url.rsplit("/", 1)[-1] and result["resumed"] is True
    assert f"{kept} of {40 * MIB} bytes already on the server" in again.stderr
    got = cli.run("get", result["file_id"], "-o", str(tmp_path / "back.bin"))
    assert got.code == 0 and sha256(tmp_path / "back.bin") == sha256(source)


def test_tus_url_names_the_endpoint(signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    source = random_file(tmp_path / "f.bin", MIB)
    wrong = cli.run("put", str(source), "--tus-url", f"{cli.server}/api/upload/tus/")
    assert wrong.code != 0 and "--method tus" in wrong.stderr
    put = cli.run("put", str(source), "--method", "tus", "--tus-url",
                  f"{cli.server}/api/upload/tus/", "--json")
    assert put.code == 0, put
    (result,) = put.json_lines()
    assert result["file_id"].startswith(f"{cli.server}/api/upload/tus/")  # the upload's URL
