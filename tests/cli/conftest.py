"""Fixtures for the command-line tests: `govault` run as a real process (the console script
installed with the project) against the session's whole `stack`, with its own HOME and XDG
directories so credentials and resume state never touch the developer's."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from compose import Stack
from tests.cli.helpers import PASSWORD, Cli


@pytest.fixture
def new_cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Cli]:
    """`new_cli()` → a fresh CLI home (no one logged in) pointed at the stack's edge."""

    def make() -> Cli:
        return Cli(tmp_path_factory.mktemp("cli-home"), stack.edge_url)

    return make


@pytest.fixture
def signed_up(new_cli: Callable[[], Cli]) -> Callable[[], Cli]:
    """`signed_up()` → a CLI home logged in as a brand-new user (`cli.email`, `cli.username`)."""

    def make() -> Cli:
        cli = new_cli()
        tag = uuid.uuid4().hex[:10]
        cli.username, cli.email = f"cli_{tag}", f"cli-{tag}@example.com"
        result = cli.run("signup", "--username", cli.username, "--email", cli.email,
                         env={"GOVAULT_PASSWORD": PASSWORD})
        assert result.code == 0, result
        cli.user_id = result.stdout.strip()
        return cli

    return make
