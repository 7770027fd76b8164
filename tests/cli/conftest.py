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


def make_signed_up(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A CLI home logged in as a brand-new user (`cli.email`, `cli.username`, `cli.user_id`),
    signed up through `govault signup`."""
    cli = Cli(tmp_path_factory.mktemp("cli-home"), stack.edge_url)
    tag = uuid.uuid4().hex[:10]
    cli.username, cli.email = f"cli_{tag}", f"cli-{tag}@example.com"
    result = cli.run("signup", "--username", cli.username, "--email", cli.email,
                     env={"GOVAULT_PASSWORD": PASSWORD})
    assert result.code == 0, result
    cli.user_id = result.stdout.strip()
    return cli


@pytest.fixture
def signed_up(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Cli]:
    """`signed_up()` → `make_signed_up` for this test."""
    return lambda: make_signed_up(stack, tmp_path_factory)
