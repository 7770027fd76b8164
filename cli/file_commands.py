"""The files API: ls, info, mv, rm, cp, share, unshare, shares, public, private, shortcut,
unshortcut. Commands that change something print nothing on success unless they create
something (cp: the new id; public: the link; shortcut: the shortcut id)."""

from __future__ import annotations

import click

from cli.app import App, common_options
from client.api import LISTS
from client.models import FileSummary


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _row(f: FileSummary) -> list[str]:
    return [f.file_id, f.name, human_size(f.size_bytes), f.created_at,
            "public" if f.is_public else "private", f.access]


@click.command(name="ls")
@click.argument("which", type=click.Choice(LISTS), default="owned")
@click.option("--all", "-a", "every", is_flag=True, help="Every page, not just the first.")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@common_options
def ls(app: App, which: str, every: bool, page: int) -> None:
    """List files I own, files shared with me, or my shortcuts (newest first)."""
    client = app.client()
    if every:
        files = list(client.iter_files(which))
        more = False
    else:
        result = client.list_files(which, page)
        files, more = result.files, result.has_more
    if app.as_json:
        app.out.json([f.to_json() for f in files])
    else:
        app.out.table(["ID", "NAME", "SIZE", "CREATED", "VISIBILITY", "ACCESS"],
                      [_row(f) for f in files])
    if more:
        app.out.note(f"more files on page {page + 1} (--page {page + 1}, or --all)")


@click.command()
@click.argument("file_id")
@common_options
def info(app: App, file_id: str) -> None:
    """Show one file's details."""
    client = app.client()
    f = client.get_file(file_id, anonymous=client.keeper.tokens is None)
    if app.as_json:
        app.out.json(f.to_json())
        return
    for key, value in f.to_json().items():
        app.out.line(f"{key}\t{value}")


@click.command()
@click.argument("file_id")
@click.argument("new_name")
@common_options
def mv(app: App, file_id: str, new_name: str) -> None:
    """Rename a file (owner or editor)."""
    app.client().rename(file_id, new_name)


@click.command()
@click.argument("file_ids", nargs=-1, required=True)
@common_options
def rm(app: App, file_ids: tuple[str, ...]) -> None:
    """Delete files (owner)."""
    for file_id in file_ids:
        app.client().delete(file_id)


@click.command()
@click.argument("file_id")
@click.option("--name", default="", help="Name of the copy.")
@common_options
def cp(app: App, file_id: str, name: str) -> None:
    """Copy a file I can read into a new file I own; prints the new id."""
    new_id = app.client().copy(file_id, name)
    app.out.json({"file_id": new_id}) if app.as_json else app.out.line(new_id)


@click.command()
@click.argument("file_id")
@click.argument("email")
@click.option("--role", type=click.Choice(["viewer", "editor"]), default="viewer",
              show_default=True)
@common_options
def share(app: App, file_id: str, email: str, role: str) -> None:
    """Share a file with a user (by email); sharing again changes the role."""
    shares = app.client().share(file_id, email, role)
    if app.as_json:
        app.out.json([s.to_json() for s in shares])


def _user_id(app: App, file_id: str, user: str) -> str:
    """A user id as given, or the id of the share whose email is `user`."""
    if "@" not in user:
        return user
    for s in app.client().shares(file_id):
        if s.email.lower() == user.lower():
            return s.user_id
    raise click.UsageError(f"{file_id} is not shared with {user}")


@click.command()
@click.argument("file_id")
@click.argument("user")
@common_options
def unshare(app: App, file_id: str, user: str) -> None:
    """Stop sharing a file with USER (email or user id)."""
    app.client().unshare(file_id, _user_id(app, file_id, user))


@click.command()
@click.argument("file_id")
@common_options
def shares(app: App, file_id: str) -> None:
    """Who a file is shared with (owner)."""
    result = app.client().shares(file_id)
    if app.as_json:
        app.out.json([s.to_json() for s in result])
    else:
        app.out.table(["USER ID", "EMAIL", "ROLE", "SINCE"],
                      [[s.user_id, s.email, s.permission, s.created_at] for s in result])


@click.command()
@click.argument("file_id")
@common_options
def public(app: App, file_id: str) -> None:
    """Make a file public; prints its public link."""
    url = app.client().make_public(file_id)
    app.out.json({"file_id": file_id, "public_url": url}) if app.as_json else app.out.line(url)


@click.command()
@click.argument("file_id")
@common_options
def private(app: App, file_id: str) -> None:
    """Make a public file private again."""
    app.client().make_private(file_id)


@click.command()
@click.argument("file_id")
@common_options
def shortcut(app: App, file_id: str) -> None:
    """Add a file to my shortcuts."""
    result = app.client().add_shortcut(file_id)
    if app.as_json:
        app.out.json({"shortcut_id": result.shortcut_id, "file_id": result.file_id,
                      "created_at": result.created_at})
    else:
        app.out.line(result.shortcut_id)


@click.command()
@click.argument("file_id")
@common_options
def unshortcut(app: App, file_id: str) -> None:
    """Remove a file from my shortcuts."""
    app.client().remove_shortcut(file_id)


COMMANDS = [ls, info, mv, rm, cp, share, unshare, shares, public, private, shortcut,
            unshortcut]
