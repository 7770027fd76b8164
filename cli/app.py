"""The `govault` command group: global options, the client each command uses, and the one place
errors become a message line and an exit status.

Exit statuses: 0 ok · 1 other error (invalid input, forbidden, conflict, integrity) · 2 usage ·
3 authentication (not logged in, wrong password, session revoked) · 4 not found ·
5 server or network error · 130 interrupted (Ctrl-C; an upload resumes when run again).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from cli.config import FileTokenStore, resolve_server
from cli.output import Output
from client import GoVaultClient
from client.errors import (
    ApiError,
    AuthError,
    ClientError,
    NotFoundError,
    ServerError,
    TransportError,
)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_SERVER = 5
EXIT_INTERRUPTED = 130


def exit_code(error: ClientError) -> int:
    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, ServerError | TransportError):
        return EXIT_SERVER
    if isinstance(error, ApiError) and error.status in (429, 502, 503, 504):
        return EXIT_SERVER
    return EXIT_ERROR


@dataclass
class App:
    server_option: str | None = None
    as_json: bool = False
    quiet: bool = False
    parallel: int = 4
    _client: GoVaultClient | None = field(default=None, repr=False)

    @property
    def server(self) -> str:
        return resolve_server(self.server_option)

    @property
    def out(self) -> Output:
        return Output(as_json=self.as_json, quiet=self.quiet)

    def client(self) -> GoVaultClient:
        if self._client is None:
            server = self.server
            self._client = GoVaultClient(server, store=FileTokenStore(server),
                                         max_connections=max(8, self.parallel * 2))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def report(error: ClientError) -> int:
    """Prints one line for `error`; returns the exit status."""
    Output().error(str(error) or type(error).__name__)
    return exit_code(error)


class GovaultGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            ctx.exit(report(exc))
        except KeyboardInterrupt:
            Output().error("interrupted; run the same command again to resume")
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)  # worker threads may sit in a network call
        finally:
            if isinstance(ctx.obj, App):
                ctx.obj.close()


F = TypeVar("F", bound=Callable[..., Any])


def common_options(fn: F) -> F:
    """--server/--json/--quiet on the command too (`govault ls --json` as well as
    `govault --json ls`); the command's value wins."""

    @click.option("--server", "server_option", default=None, metavar="URL",
                  help="GoVault server (else GOVAULT_SERVER, the saved one, or local).")
    @click.option("--json", "as_json", is_flag=True, default=None, help="JSON output.")
    @click.option("--quiet", "-q", is_flag=True, default=None, help="No progress or notes.")
    @functools.wraps(fn)
    def wrapper(*args: Any, server_option: str | None, as_json: bool | None,
                quiet: bool | None, **kwargs: Any) -> Any:
        app = click.get_current_context().ensure_object(App)
        if server_option:
            app.server_option = server_option
        if as_json:
            app.as_json = True
        if quiet:
            app.quiet = True
        return fn(app, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group(cls=GovaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", "server_option", default=None, metavar="URL",
              help="GoVault server (else GOVAULT_SERVER, the saved one, or "
                   "http://127.0.0.1:9000).")
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes.")
@click.version_option("0.1.0", prog_name="govault")
@click.pass_context
def main(ctx: click.Context, server_option: str | None, as_json: bool, quiet: bool) -> None:
    """GoVault from the terminal: upload, download and manage files."""
    ctx.obj = App(server_option=server_option, as_json=as_json, quiet=quiet)

