"""Signing in from the command line: passwords never on the command line, tokens saved
privately and refreshed transparently (also in the middle of an upload), a revoked session
answered with a clear "log in again", and distinct exit statuses."""

from __future__ import annotations

import contextlib
import json
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client import AuthError, GoVaultClient
from compose import Stack
from svc_auth.tokens import TokenIssuer, load_private_key
from tests.cli.helpers import MIB, PASSWORD, Cli, api_as, random_file, sha256

pytestmark = pytest.mark.e2e
LEEWAY_S = 5  # the verifiers accept a token this long after its exp (common.tokens)


def _forge_access_token(stack: Stack, cli: Cli, rejected_in_s: float) -> str:
    """An access token of `cli`'s user, signed by the stack's key, that the server starts
    rejecting as expired `rejected_in_s` seconds from now."""
    ttl = 60
    issued = time.time() + rejected_in_s - LEEWAY_S - ttl
    issuer = TokenIssuer(load_private_key(str(stack.jwt_private_key_file)), ttl,
                         clock=lambda: issued)
    return issuer.issue(cli.user_id, cli.username, cli.email).token


def _replace_access_token(cli: Cli, token: str) -> None:
    data = json.loads(cli.credentials_file.read_text())
    data[cli.server]["access_token"] = token
    cli.credentials_file.write_text(json.dumps(data))


@contextlib.contextmanager
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """(URL, connections seen) of a server that closes every connection it accepts: a lost
    connection, which a request that is not idempotent does not retry (a refused one would be
    retried for seconds)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[int] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                seen.append(1)
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        listener.close()


def test_login_whoami_logout(new_cli: Callable[[], Cli], signed_up: Callable[[], Cli]) -> None:
    account = signed_up()
    cli = new_cli()
    assert cli.run("whoami").code == 3  # nobody logged in yet

    login = cli.run("login", "--email", account.email, "--password-stdin",
                    input=PASSWORD + "\n")
    assert login.code == 0, login
    assert stat.S_IMODE(cli.credentials_file.stat().st_mode) == 0o600
    assert PASSWORD not in cli.credentials_file.read_text()
    whoami = cli.run("whoami", "--json")
    assert whoami.code == 0, whoami
    assert whoami.json_lines()[0]["username"] == account.username

    # the server was saved with the login: it is used without GOVAULT_SERVER
    del cli.env["GOVAULT_SERVER"]
    assert cli.run("whoami").stdout.startswith(account.username)
    # --server wins over everything (tokens are kept per server): the one there hangs up
    with hanging_up_server() as (elsewhere, seen):
        assert cli.run("--server", elsewhere, "signup", "--username", "x", "--email",
                       "x@example.com", env={"GOVAULT_PASSWORD": PASSWORD}).code == 5
        assert seen

    refresh_token = cli.credentials()["refresh_token"]
    assert cli.run("logout").code == 0
    assert cli.run("whoami").code == 3
    with GoVaultClient(account.server) as api, pytest.raises(AuthError):
        api._rotate(refresh_token)  # revoked on the server, not just forgotten


def test_password_from_environment_and_wrong_password(
        new_cli: Callable[[], Cli], signed_up: Callable[[], Cli]) -> None:
    account = signed_up()
    cli = new_cli()
    ok = cli.run("login", "--email", account.email, env={"GOVAULT_PASSWORD": PASSWORD})
    assert ok.code == 0, ok
    wrong = cli.run("login", "--email", account.email, env={"GOVAULT_PASSWORD": "Wrong@1234"})
    assert wrong.code == 3, wrong
    assert "INVALID_CREDENTIALS" in wrong.stderr and "request_id=" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_a_password_is_never_taken_from_an_argument(new_cli: Callable[[], Cli]) -> None:
    cli = new_cli()
    as_argument = cli.run("login", "--email", "a@example.com", "--password", PASSWORD)
    assert as_argument.code == 2, as_argument  # usage error: no such option
    no_password = cli.run("login", "--email", "a@example.com")  # stdin is not a terminal
    assert no_password.code == 2 and "GOVAULT_PASSWORD" in no_password.stderr


def test_an_access_token_expiring_mid_upload_is_refreshed_transparently(
        stack: Stack, signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    before = cli.credentials()
    _replace_access_token(cli, _forge_access_token(stack, cli, rejected_in_s=1.5))
    source = random_file(tmp_path / "doc.bin", 20 * MIB)
    put = cli.run("put", str(source), "--method", "multipart", "--part-size", "5MiB",
                  "--parallel", "1", "--limit-rate", "5MiB")
    assert put.code == 0, put
    after = cli.credentials()
    assert after["refresh_token"] != before["refresh_token"]  # rotated once, saved
    got = cli.run("get", put.stdout.strip(), "-o", str(tmp_path / "back"))
    assert got.code == 0 and sha256(tmp_path / "back") == sha256(source)


def test_a_revoked_session_asks_to_log_in_again(
        stack: Stack, signed_up: Callable[[], Cli], tmp_path: Path) -> None:
    cli = signed_up()
    with api_as(cli) as api:
        api.logout()  # elsewhere: the refresh token's family is revoked
    _replace_access_token(cli, _forge_access_token(stack, cli, rejected_in_s=-1))
    for args in (["whoami"], ["put", str(random_file(tmp_path / "f", MIB))]):
        result = cli.run(*args)
        assert result.code == 3, result
        assert "log in again" in result.stderr
        assert result.stderr.count("\n") == 1
