"""`govault put --method tus --tus-url` against tusd, the tus project's reference server (Go;
tests/support/tusd.py): the CLI speaks tus, not GoVault's dialect of it. The CLI's home points at
a GoVault server that is not there, so nothing but tusd answers. Each file is compared with the
bytes tusd stored in its upload directory; a put killed with SIGKILL resumes from tusd's offset."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import MIB, Cli, random_file, resume_records, resumed_at, sha256, wait_for
from tests.support.processes import free_port
from tests.support.tusd import Tusd, start_tusd

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tusd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tusd]:
    server = start_tusd(tmp_path_factory.mktemp("tusd"))
    yield server
    server.process.stop()


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """No one logged in, and the GoVault server it names does not exist."""
    return Cli(tmp_path_factory.mktemp("cli-home"), f"http://127.0.0.1:{free_port()}")


def offset(url: str) -> int:
    answer = httpx.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert answer.status_code == 200, answer
    return int(answer.headers["Upload-Offset"])


def received(tusd: Tusd, url: str) -> int:
    """What tusd has written of the upload so far (a HEAD would stop tusd's running PATCH: it
    asks the lock's holder to release it)."""
    stored = tusd.stored(url.rsplit("/", 1)[-1])
    return stored.stat().st_size if stored.exists() else 0


def assert_stored(tusd: Tusd, upload_id: str, source: Path, name: str) -> None:
    info = tusd.info(upload_id)
    assert info["Size"] == source.stat().st_size and not info["SizeIsDeferred"]
    assert info["MetaData"] == {"filename": name, "filetype": "application/octet-stream"}
    assert sha256(tusd.stored(upload_id)) == sha256(source)


@pytest.mark.parametrize(("size", "chunk"), [(0, "0"), (1, "0"), (5 * MIB - 1, "1MiB"),
                                             (5 * MIB + 1, "0"), (12 * MIB, "5MiB"),
                                             (12 * MIB, "7MiB")])
def test_put_to_tusd_stores_the_exact_file(tusd: Tusd, cli: Cli, tmp_path: Path, size: int,
                                           chunk: str) -> None:
    source = random_file(tmp_path / "to-tusd.bin", size)
    put = cli.run("put", str(source), "--method", "tus", "--tus-url", tusd.url,
                  "--tus-chunk-size", chunk, "--json")
    assert put.code == 0, put
    (result,) = put.json_lines()
    assert result["file_id"] == tusd.url + result["upload_uuid"]  # tusd's upload URL
    assert result["size_bytes"] == size and result["resumed"] is False
    assert_stored(tusd, result["upload_uuid"], source, "to-tusd.bin")
    assert resume_records(cli) == {}


def killed_once_tusd_has(tusd: Tusd, cli: Cli, args: list[str], least: int) -> str:
    """Starts `govault put ARGS` slowly and kills it (SIGKILL) once tusd has written `least`
    bytes of the upload; the upload's URL."""
    proc = cli.start("put", *args, "--limit-rate", "8MiB")
    try:
        wait_for(lambda: bool(resume_records(cli)), what="the resume record")
        (record,) = resume_records(cli).values()
        url = str(record["upload_url"])
        wait_for(lambda: received(tusd, url) >= least, what=f"{least} bytes on tusd")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    return url


@pytest.mark.parametrize("chunk", ["2MiB", "0"])
def test_a_killed_put_resumes_from_tusds_offset(tusd: Tusd, cli: Cli, tmp_path: Path,
                                                chunk: str) -> None:
    size = 40 * MIB
    source = random_file(tmp_path / "big.bin", size)
    args = [str(source), "--method", "tus", "--tus-url", tusd.url, "--tus-chunk-size", chunk]
    url = killed_once_tusd_has(tusd, cli, args, 10 * MIB)
    kept = offset(url)
    assert 10 * MIB <= kept < size

    again = cli.run("put", *args, "--json")
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["file_id"] == url and result["resumed"] is True
    # a PATCH whose body had all arrived before the kill may be recorded after that HEAD
    assert kept <= resumed_at(again.stderr, size) < size
    assert_stored(tusd, result["upload_uuid"], source, "big.bin")


def test_an_upload_tusd_no_longer_has_starts_over(tusd: Tusd, cli: Cli, tmp_path: Path) -> None:
    source = random_file(tmp_path / "gone.bin", 24 * MIB)
    args = [str(source), "--method", "tus", "--tus-url", tusd.url, "--tus-chunk-size", "1MiB"]
    url = killed_once_tusd_has(tusd, cli, args, 2 * MIB)
    gone = httpx.delete(url, headers={"Tus-Resumable": "1.0.0"})  # termination
    assert gone.status_code == 204, gone

    again = cli.run("put", *args, "--json")
    assert again.code == 0, again
    (result,) = again.json_lines()
    assert result["file_id"] != url and result["resumed"] is False
    assert "the interrupted upload is gone: starting over" in again.stderr
    assert_stored(tusd, result["upload_uuid"], source, "gone.bin")


def test_tus_url_must_be_a_whole_url(cli: Cli, tmp_path: Path) -> None:
    source = random_file(tmp_path / "f.bin", 10)
    put = cli.run("put", str(source), "--method", "tus", "--tus-url", "files/")
    assert put.code == 2 and "--tus-url" in put.stderr and "http" in put.stderr, put
