"""The files commands against the real stack: each one works for the owner, and each one run
by a stranger on that file gives the API's error line and a non-zero exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from compose import Stack
from tests.cli.conftest import make_signed_up
from tests.cli.helpers import Cli, random_file

pytestmark = pytest.mark.e2e


def test_the_files_commands_for_the_owner_and_a_recipient(
        signed_up: Callable[[], Cli], new_cli: Callable[[], Cli], tmp_path: Path) -> None:
    owner, friend, anonymous = signed_up(), signed_up(), new_cli()
    source = random_file(tmp_path / "report.pdf", 1000)
    file_id = owner.run("put", str(source)).stdout.strip()

    assert owner.run("mv", file_id, "final.pdf").code == 0
    info = owner.run("info", file_id)
    assert "name\tfinal.pdf" in info.stdout.splitlines()
    copy_id = owner.run("cp", file_id, "--name", "copy.pdf").stdout.strip()
    assert len(copy_id) == 36 and copy_id != file_id

    assert owner.run("share", file_id, friend.email, "--role", "editor").code == 0
    shares = owner.run("shares", file_id, "--json").json_lines()[0]
    assert [(s["email"], s["permission"]) for s in shares] == [(friend.email, "editor")]
    shared = friend.run("ls", "shared", "--json").json_lines()[0]
    assert [f["file_id"] for f in shared] == [file_id]
    assert friend.run("mv", file_id, "edited.pdf").code == 0  # editors may rename
    assert friend.run("shortcut", file_id).code == 0
    assert [f["file_id"] for f in friend.run("ls", "shortcuts", "--json").json_lines()[0]] \
        == [file_id]
    assert friend.run("unshortcut", file_id).code == 0
    assert friend.run("ls", "shortcuts", "--json").json_lines()[0] == []
    assert owner.run("unshare", file_id, friend.email).code == 0
    assert friend.run("info", file_id).code == 4

    link = owner.run("public", file_id).stdout.strip()
    assert link.startswith("http") and file_id in link
    assert httpx.get(f"{owner.server}/api/files/f/{file_id}").status_code == 200
    fetched = anonymous.run("get", file_id, "-o", str(tmp_path / "public.pdf"))
    assert fetched.code == 0, fetched  # nobody logged in: a public file is still readable
    assert (tmp_path / "public.pdf").read_bytes() == source.read_bytes()
    assert owner.run("private", file_id).code == 0
    denied = anonymous.run("get", file_id, "-o", str(tmp_path / "again.pdf"))
    assert denied.code in (3, 4), denied  # 401 for anonymous callers (404 before that change)

    listing = owner.run("ls")  # piped: tab-separated, no table borders
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert sorted(r[0] for r in rows) == sorted([file_id, copy_id])
    assert owner.run("rm", copy_id).code == 0
    assert owner.run("info", copy_id).code == 4


@pytest.mark.parametrize("args", [
    ["info", "{id}"], ["get", "{id}"], ["mv", "{id}", "x"], ["rm", "{id}"], ["cp", "{id}"],
    ["share", "{id}", "{email}"], ["unshare", "{id}", "{user_id}"], ["shares", "{id}"],
    ["public", "{id}"], ["private", "{id}"], ["shortcut", "{id}"],
])
def test_a_strangers_file_gives_the_api_error_and_a_non_zero_exit(
        args: list[str], stranger_case: tuple[Cli, Cli, str]) -> None:
    owner, stranger, file_id = stranger_case
    argv = [a.format(id=file_id, email=owner.email, user_id=owner.user_id) for a in args]
    result = stranger.run(*argv)
    assert result.code == 4, result  # not visible to them: 404, existence not leaked
    (line,) = result.stderr.splitlines()
    assert line.startswith("govault: error:") and "code=FILE_NOT_FOUND" in line
    assert "status=404" in line and "request_id=" in line
    assert result.stdout == ""


def test_unshortcut_of_a_strangers_file_changes_nothing(
        stranger_case: tuple[Cli, Cli, str]) -> None:
    """DELETE …/shortcut is idempotent (204 even when there was none): nothing to refuse."""
    owner, stranger, file_id = stranger_case
    assert stranger.run("unshortcut", file_id).code == 0
    assert owner.run("info", file_id).code == 0


@pytest.fixture(scope="module")
def stranger_case(stack: Stack, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Cli, Cli, str]:
    """(owner, stranger, the owner's file id), shared by the table above."""
    owner = make_signed_up(stack, tmp_path_factory)
    stranger = make_signed_up(stack, tmp_path_factory)
    path = random_file(tmp_path_factory.mktemp("files") / "secret.txt", 100)
    file_id = owner.run("put", str(path)).stdout.strip()
    assert len(file_id) == 36
    return owner, stranger, file_id
