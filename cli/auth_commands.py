"""signup, login, logout, whoami, usage. Passwords come from a hidden prompt, GOVAULT_PASSWORD or
--password-stdin, never from an argument (arguments show in `ps`)."""

from __future__ import annotations

import os
import sys

import click

from cli.app import App, common_options
from cli.config import save_server
from cli.file_commands import human_size
from client import NotFoundError, Usage


def _password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = os.environ.get("GOVAULT_PASSWORD", "")
    if not password:
        if not sys.stdin.isatty():
            raise click.UsageError("no password: set GOVAULT_PASSWORD, pass --password-stdin, "
                                   "or run on a terminal to be prompted")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm,
                                err=True)
    return password


_stdin_option = click.option("--password-stdin", is_flag=True,
                             help="Read the password from the first line of standard input.")


@click.command()
@click.option("--username", required=True)
@click.option("--email", required=True)
@_stdin_option
@common_options
def signup(app: App, username: str, email: str, password_stdin: bool) -> None:
    """Create an account (and log in to it)."""
    password = _password(password_stdin, confirm=True)
    client = app.client()
    user_id = client.signup(username, email, password)
    client.login(email, password)
    save_server(client.server)
    if app.as_json:
        app.out.json({"user_id": user_id, "username": username, "email": email})
    else:
        app.out.line(user_id)
        app.out.note(f"signed up and logged in as {username} on {client.server}")


@click.command()
@click.option("--email", required=True)
@_stdin_option
@common_options
def login(app: App, email: str, password_stdin: bool) -> None:
    """Log in; the tokens are saved (mode 0600) and refreshed as needed."""
    password = _password(password_stdin, confirm=False)
    client = app.client()
    tokens = client.login(email, password)
    save_server(client.server)
    if app.as_json:
        app.out.json({"user_id": tokens.user_id, "username": tokens.username,
                      "email": tokens.email, "server": client.server})
    else:
        app.out.note(f"logged in as {tokens.username} <{tokens.email}> on {client.server}")


@click.command()
@common_options
def logout(app: App) -> None:
    """Revoke the saved session and forget it."""
    app.client().logout()
    app.out.note("logged out")


def usage_line(usage: Usage) -> str:
    """`1.5 MiB of 10.0 GiB used (15%), 3 files; 0 B reserved by open uploads; 8.4 GiB free`."""
    if usage.quota_bytes == 0:
        quota = f"{human_size(usage.used_bytes)} used (no quota)"
    else:
        share = 100 * (usage.used_bytes + usage.reserved_bytes) / usage.quota_bytes
        quota = (f"{human_size(usage.used_bytes)} of {human_size(usage.quota_bytes)} used "
                 f"({share:.0f}%)")
    free = "" if usage.free_bytes is None else f"; {human_size(usage.free_bytes)} free"
    return (f"{quota}, {usage.files} file{'' if usage.files == 1 else 's'}; "
            f"{human_size(usage.reserved_bytes)} reserved by open uploads{free}")


def _usage_json(usage: Usage) -> dict[str, int | None]:
    return {**usage.to_json(), "free_bytes": usage.free_bytes}


@click.command()
@common_options
def whoami(app: App) -> None:
    """Show the logged-in account and its storage usage."""
    client = app.client()
    user = client.me()
    try:
        usage: Usage | None = client.usage()
    except NotFoundError:  # a server from before quotas
        usage = None
    if app.as_json:
        app.out.json({"user_id": user.user_id, "username": user.username, "email": user.email,
                      "created_at": user.created_at, "server": client.server,
                      **({"usage": _usage_json(usage)} if usage else {})})
    else:
        app.out.line(f"{user.username} <{user.email}> {user.user_id}")
        if usage:
            app.out.line(f"storage: {usage_line(usage)}")


@click.command()
@common_options
def usage(app: App) -> None:
    """Show storage used, reserved by open uploads, the quota and what is free."""
    result = app.client().usage()
    if app.as_json:
        app.out.json(_usage_json(result))
    else:
        app.out.line(usage_line(result))


COMMANDS = [signup, login, logout, whoami, usage]
