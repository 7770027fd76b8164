"""`govault put` / `govault get` round trips against the real stack: byte-exact for every size
around the part and chunk boundaries, by each method, listed once each, within the memory
budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.helpers import MIB, Cli, random_file, sha256

pytestmark = pytest.mark.e2e

SIZES = [0, 1, 5 * MIB, 5 * MIB + 1, 10 * MIB + 1, 64 * MIB]
RSS_BUDGET = 150 * MIB


@pytest.mark.parametrize("method", ["proxy", "multipart"])
def test_put_then_get_is_byte_exact_for_every_size(
        method: str, signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    paths = [random_file(tmp_path / f"f{size}.bin", size) for size in SIZES]
    put = cli.run("put", *map(str, paths), "--method", method, "--part-size", "5MiB", "--json",
                  measure_rss=True)
    assert put.code == 0, put
    uploads = put.json_lines()
    assert [u["path"] for u in uploads] == [str(p) for p in paths]
    assert {u["method"] for u in uploads} == {method}
    assert 0 < put.max_rss_bytes < RSS_BUDGET, put.max_rss_bytes

    out = tmp_path / "out"
    out.mkdir()
    for path, upload in zip(paths, uploads, strict=True):
        assert upload["size_bytes"] == path.stat().st_size
        big = path.stat().st_size == 64 * MIB
        got = cli.run("get", upload["file_id"], "-o", str(out), "--json", measure_rss=big)
        assert got.code == 0, got
        written = Path(got.json_lines()[0]["path"])
        assert written == out / path.name
        assert sha256(written) == sha256(path), path.name
        if big:
            assert 0 < got.max_rss_bytes < RSS_BUDGET, got.max_rss_bytes
    assert not list(out.glob(".*")), "temporary files left behind"

    listed = cli.run("ls", "--all", "--json")
    assert listed.code == 0, listed
    ids = [f["file_id"] for f in listed.json_lines()[0]]
    assert sorted(ids) == sorted(u["file_id"] for u in uploads)


def test_plain_output_is_one_file_id_per_line_and_auto_picks_by_size(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    small = random_file(tmp_path / "small.txt", 1000)
    large = random_file(tmp_path / "large.bin", 16 * MIB + 1)
    put = cli.run("put", str(small), str(large))
    assert put.code == 0, put
    lines = put.stdout.splitlines()
    assert len(lines) == 2 and all(len(line) == 36 for line in lines), put.stdout
    info = [cli.run("info", file_id, "--json").json_lines()[0] for file_id in lines]
    assert [i["name"] for i in info] == ["small.txt", "large.bin"]
    # auto: proxy for the small file (a plain SHA-256 checksum), multipart for the large one
    assert info[0]["checksum"] == sha256(small)
    assert info[1]["checksum"] != sha256(large) and info[1]["size_bytes"] == 16 * MIB + 1

    named = cli.run("put", str(small), "--name", "renamed.txt")
    assert named.code == 0, named
    assert cli.run("info", named.stdout.strip(), "--json").json_lines()[0]["name"] == \
        "renamed.txt"


def test_a_download_that_does_not_match_its_checksum_is_not_kept(
        signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    """The stored SHA-256 is checked: a partial file on disk from an earlier run that does not
    hold the file's bytes is caught, deleted, and the next run fetches the file whole."""
    cli = signed_up()
    source = random_file(tmp_path / "doc.bin", 2 * MIB)
    file_id = cli.run("put", str(source)).stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    partial = out / f".doc.bin.{file_id}.govault-partial"
    partial.write_bytes(b"x" * MIB)  # a first MiB recorded as complete, but wrong
    partial.with_name(partial.name + ".done").write_text(str(MIB))
    bad = cli.run("get", file_id, "-o", str(out))
    assert bad.code == 1 and "SHA-256" in bad.stderr, bad
    assert not (out / "doc.bin").exists() and not list(out.iterdir())
    good = cli.run("get", file_id, "-o", str(out))
    assert good.code == 0, good
    assert sha256(out / "doc.bin") == sha256(source)
