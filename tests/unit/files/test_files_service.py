"""Unit tests of the files rules (svc_files.service) with in-memory fakes for the store, the
object store and the user directory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from common.files import NewFile, guess_mime
from common.files import validate_file_name as validate_name
from svc_files.config import Rules
from svc_files.models import (
    Access,
    FileGrant,
    FileRecord,
)
from svc_files.rules import access_for, require_access
from svc_files.service import FilesService
from tests.fakes.files import FakeCatalog, FakeDirectory, FakeObjects

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def uid() -> str:
    return str(uuid.uuid4())


class World:
    """Owner's file shared with an editor and a viewer; a stranger; anonymous."""

    def __init__(self, **rules: object) -> None:
        self.store = FakeCatalog()
        self.objects = FakeObjects()
        self.directory = FakeDirectory()
        self.service = FilesService(self.store, self.objects, self.directory,
                                    Rules(**rules))  # type: ignore[arg-type]
        self.owner, self.editor, self.viewer, self.stranger = uid(), uid(), uid(), uid()
        for name in ("owner", "editor", "viewer", "stranger"):
            self.directory.add(f"{name}@example.com", getattr(self, name))

    async def file(self, owner: str | None = None, name: str = "report.pdf") -> str:
        owner = owner or self.owner
        file_id = uid()
        key = f"users/{owner}/{file_id}"
        self.objects.objects[key] = b"bytes"
        await self.service.register_file(NewFile(
            upload_id=uid(), file_id=file_id, owner_id=owner, name=name, mime_type="",
            size_bytes=5, checksum="c", storage_key=key))
        return file_id

    async def shared_file(self) -> str:
        file_id = await self.file()
        await self.service.add_shares(self.owner, file_id, [("editor@example.com", "editor"),
                                                            ("viewer@example.com", "viewer")])
        return file_id

    def who(self, role: str) -> str | None:
        return None if role == "anon" else getattr(self, role)


ROLES = ("owner", "editor", "viewer", "stranger", "anon")


# ----------------------------------------------------------------------------- pure rules
def _grant(owner: str, share: str | None = None, public: bool = False) -> FileGrant:
    rec = FileRecord("f", owner, "n", "t/p", 1, "", "k", T0, is_public=public)
    return FileGrant(rec, share)


@pytest.mark.parametrize(
    ("caller", "share", "public", "expected"),
    [
        ("o", None, False, Access.OWNER),
        ("o", None, True, Access.OWNER),
        ("e", "editor", False, Access.EDITOR),
        ("v", "viewer", False, Access.VIEWER),
        ("v", "viewer", True, Access.VIEWER),
        ("s", None, False, Access.NONE),
        ("s", None, True, Access.PUBLIC),
        (None, None, False, Access.NONE),
        (None, None, True, Access.PUBLIC),
    ],
)
def test_access_for(caller: str | None, share: str | None, public: bool,
                    expected: Access) -> None:
    assert access_for(_grant("o", share, public), caller) == expected


def test_require_access_hides_invisible_files_and_forbids_the_visible() -> None:
    with pytest.raises(NotFound) as e:
        require_access(_grant("o"), "s", Access.PUBLIC)
    assert e.value.code == "FILE_NOT_FOUND"
    with pytest.raises(NotFound):
        require_access(None, "o", Access.PUBLIC)
    with pytest.raises(NotFound):  # a stranger asking to change a private file
        require_access(_grant("o"), "s", Access.OWNER)
    with pytest.raises(PermissionDenied):
        require_access(_grant("o", "viewer"), "v", Access.EDITOR)
    with pytest.raises(PermissionDenied):
        require_access(_grant("o", None, True), None, Access.OWNER)
    for grant in (_grant("o"), None):  # anonymous: asked to sign in, private or missing alike
        with pytest.raises(Unauthenticated) as caught:
            require_access(grant, None, Access.PUBLIC)
        assert caught.value.code == "UNAUTHENTICATED"
    assert require_access(_grant("o", "editor"), "e", Access.EDITOR).access == Access.EDITOR


@pytest.mark.parametrize("name", ["", "   ", "a/b", "a\\b", "tab\there", "nul\x00", "x" * 256,
                                  "..", ".", "del\x7f"])
def test_bad_names_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_name(name)


@pytest.mark.parametrize("name", ["a", "x" * 255, "résumé final (2).pdf", "日本語.txt", ".env"])
def test_good_names_accepted(name: str) -> None:
    assert validate_name(name) == name


def test_mime_guessed_from_name_or_defaulted() -> None:
    assert guess_mime("photo.PNG", "") == "image/png"
    assert guess_mime("noext", "") == "application/octet-stream"
    assert guess_mime("x.bin", "text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    assert guess_mime("x.txt", "not a mime") == "text/plain"
    assert guess_mime("x", "bad\x00/type") == "application/octet-stream"


# ----------------------------------------------------------------------------- access matrix
# operation → expected outcome per role, on a private file shared with editor + viewer.
OK, NF, PD, UA = "ok", NotFound, PermissionDenied, Unauthenticated
MATRIX: dict[str, dict[str, object]] = {
    "get_file":           {"owner": OK, "editor": OK, "viewer": OK, "stranger": NF, "anon": UA},
    "download_link":      {"owner": OK, "editor": OK, "viewer": OK, "stranger": NF, "anon": UA},
    "rename":             {"owner": OK, "editor": OK, "viewer": PD, "stranger": NF, "anon": UA},
    "copy":               {"owner": OK, "editor": OK, "viewer": OK, "stranger": NF, "anon": UA},
    "list_shares":        {"owner": OK, "editor": PD, "viewer": PD, "stranger": NF, "anon": UA},
    "create_public_link": {"owner": OK, "editor": PD, "viewer": PD, "stranger": NF, "anon": UA},
    "delete_public_link": {"owner": OK, "editor": PD, "viewer": PD, "stranger": NF, "anon": UA},
    "create_shortcut":    {"owner": OK, "editor": OK, "viewer": OK, "stranger": NF, "anon": UA},
    "delete":             {"owner": OK, "editor": PD, "viewer": PD, "stranger": NF, "anon": UA},
}


async def _call(world: World, op: str, caller: str | None, file_id: str) -> object:
    s = world.service
    if op == "rename":
        await s.rename(caller, file_id, "renamed.txt")
        return None
    return await getattr(s, op)(caller, file_id)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", sorted(MATRIX))
async def test_access_matrix(op: str, role: str) -> None:
    world = World()
    file_id = await world.shared_file()
    before = (dict(world.store.files), set(world.store.deleted), dict(world.store.shares),
              set(world.store.public), dict(world.objects.objects))
    expected = MATRIX[op][role]
    if expected == OK:
        await _call(world, op, world.who(role), file_id)
    else:
        with pytest.raises(expected):  # type: ignore[call-overload]
            await _call(world, op, world.who(role), file_id)
        after = (dict(world.store.files), set(world.store.deleted), dict(world.store.shares),
                 set(world.store.public), dict(world.objects.objects))
        assert after == before


@pytest.mark.parametrize("role", ["stranger", "anon"])
async def test_public_file_readable_by_anyone_but_not_changeable(role: str) -> None:
    world = World()
    file_id = await world.file()
    await world.service.create_public_link(world.owner, file_id)
    caller = world.who(role)
    view = await world.service.get_file(caller, file_id)
    assert view.access == Access.PUBLIC and view.file.is_public
    assert (await world.service.download_link(caller, file_id)).file_name == "report.pdf"
    expected = Unauthenticated if caller is None else PermissionDenied
    with pytest.raises(expected):
        await world.service.rename(caller, file_id, "x")
    with pytest.raises(expected):
        await world.service.delete(caller, file_id)
    if caller is not None:  # any reader may copy and star a public file
        copy = await world.service.copy(caller, file_id)
        assert copy.file.owner_id == caller
        await world.service.create_shortcut(caller, file_id)
    await world.service.delete_public_link(world.owner, file_id)
    with pytest.raises(NotFound if caller is not None else Unauthenticated):
        await world.service.get_file(caller, file_id)


async def test_unknown_and_malformed_ids() -> None:
    world = World()
    with pytest.raises(NotFound):
        await world.service.get_file(world.owner, uid())
    with pytest.raises(InvalidArgument):
        await world.service.get_file(world.owner, "not-a-uuid")
    file_id = await world.file()
    with pytest.raises(InvalidArgument):
        await world.service.remove_share(world.owner, file_id, "nope")


# ----------------------------------------------------------------------------- register
async def test_register_is_idempotent_on_upload_id() -> None:
    world = World()
    upload, file_id = uid(), uid()
    args = dict(upload_id=upload, file_id=file_id, owner_id=world.owner, mime_type="",
                size_bytes=3, checksum="c", storage_key=f"users/{world.owner}/{file_id}")
    first, created = await world.service.register_file(NewFile(name="a.txt", **args))  # type: ignore[arg-type]
    again, created_again = await world.service.register_file(NewFile(name="b.txt", **args))  # type: ignore[arg-type]
    assert created and not created_again
    assert again.file.file_id == first.file.file_id == file_id
    assert again.file.name == "a.txt"  # the first registration's row, unchanged
    assert first.file.mime_type == "text/plain"
    assert len(world.store.files) == 1


@pytest.mark.parametrize("field,value", [("upload_id", "x"), ("owner_id", ""), ("name", "a/b"),
                                         ("size_bytes", -1), ("storage_key", "")])
async def test_register_validates(field: str, value: object) -> None:
    world = World()
    args: dict[str, object] = dict(upload_id=uid(), file_id=uid(), owner_id=world.owner,
                                   name="a.txt", mime_type="", size_bytes=3, checksum="",
                                   storage_key="users/x/y")
    args[field] = value
    with pytest.raises(InvalidArgument):
        await world.service.register_file(NewFile(**args))  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["users/{other}/{file_id}", "users/{owner}/{other}",
                                 "users/{owner}/{file_id}/x", "other/{owner}/{file_id}"])
async def test_register_refuses_a_key_that_is_not_the_owners(key: str) -> None:
    """Even a caller with the service credential cannot point a row at another user's bytes
    (or at another file's)."""
    world = World()
    file_id = uid()
    with pytest.raises(InvalidArgument, match="storage_key"):
        await world.service.register_file(NewFile(
            upload_id=uid(), file_id=file_id, owner_id=world.owner, name="a.txt",
            mime_type="", size_bytes=3, checksum="",
            storage_key=key.format(owner=world.owner, other=uid(), file_id=file_id)))


# ----------------------------------------------------------------------------- lists
async def test_pagination_newest_first_with_has_more() -> None:
    world = World(page_size_default=2)
    ids = [await world.file(name=f"f{i}") for i in range(5)]
    p1 = await world.service.list_owned(world.owner, 1, 0)
    p3 = await world.service.list_owned(world.owner, 3, 0)
    assert [v.file.file_id for v in p1.files] == ids[::-1][:2] and p1.has_more
    assert [v.file.file_id for v in p3.files] == [ids[0]] and not p3.has_more
    big = await world.service.list_owned(world.owner, 0, 1000)  # capped, page<1 → 1
    assert big.page == 1 and len(big.files) == 5 and not big.has_more
    with pytest.raises(InvalidArgument):
        await world.service.list_owned(world.owner, 1, -1)
    with pytest.raises(Unauthenticated):
        await world.service.list_owned(None, 1, 0)


async def test_lists_forget_deleted_files_and_revoked_shares() -> None:
    world = World()
    file_id = await world.shared_file()
    await world.service.create_shortcut(world.viewer, file_id)
    assert len((await world.service.list_shared(world.viewer, 1, 0)).files) == 1
    assert len((await world.service.list_shortcuts(world.viewer, 1, 0)).files) == 1
    await world.service.remove_share(world.owner, file_id, world.viewer)
    assert (await world.service.list_shared(world.viewer, 1, 0)).files == []
    assert (await world.service.list_shortcuts(world.viewer, 1, 0)).files == []
    shared = await world.service.list_shared(world.editor, 1, 0)
    assert shared.files[0].access == Access.EDITOR
    await world.service.delete(world.owner, file_id)
    for lister in (world.service.list_owned, world.service.list_shared):
        for who in (world.owner, world.editor):
            assert (await lister(who, 1, 0)).files == []


# ----------------------------------------------------------------------------- delete / copy
async def test_delete_removes_the_object_or_queues_it() -> None:
    world = World()
    file_id = await world.file()
    key = world.store.files[file_id].storage_key
    await world.service.delete(world.owner, file_id)
    assert key not in world.objects.objects and world.store.pending == {}
    other = await world.file()
    world.objects.fail_remove = True
    await world.service.delete(world.owner, other)  # succeeds; the janitor owes the delete
    assert list(world.store.pending.values()) == [world.store.files[other].storage_key]
    with pytest.raises(NotFound):
        await world.service.delete(world.owner, other)


async def test_copy_is_independent_and_owned_by_the_caller() -> None:
    world = World()
    file_id = await world.shared_file()
    view = await world.service.copy(world.viewer, file_id, "mine.pdf")
    assert view.file.owner_id == world.viewer and view.file.name == "mine.pdf"
    assert view.file.storage_key == f"users/{world.viewer}/{view.file.file_id}"
    await world.service.delete(world.owner, file_id)
    assert world.objects.objects[view.file.storage_key] == b"bytes"


async def test_copy_removes_the_object_when_the_row_fails() -> None:
    world = World()
    file_id = await world.file()
    world.store.fail_insert = True
    before = dict(world.objects.objects)
    with pytest.raises(Unavailable):
        await world.service.copy(world.owner, file_id)
    assert world.objects.objects == before


async def test_copy_queues_the_object_when_it_cannot_be_removed() -> None:
    world = World()
    file_id = await world.file()
    world.store.fail_insert = True
    world.objects.fail_remove = True
    with pytest.raises(Unavailable):
        await world.service.copy(world.owner, file_id)
    assert len(world.store.pending) == 1


# ----------------------------------------------------------------------------- shares
async def test_shares_all_or_nothing_and_case_insensitive() -> None:
    world = World()
    file_id = await world.file()
    with pytest.raises(InvalidArgument) as e:
        await world.service.add_shares(world.owner, file_id, [
            ("Viewer@Example.com", "viewer"), ("nobody@example.com", "viewer")])
    assert e.value.code == "UNKNOWN_RECIPIENTS" and "nobody@example.com" in e.value.message
    assert world.store.shares == {}
    shares = await world.service.add_shares(world.owner, file_id,
                                            [("  VIEWER@example.COM ", "viewer")])
    assert shares[0].user_id == world.viewer and shares[0].email == "viewer@example.com"
    await world.service.add_shares(world.owner, file_id, [("viewer@example.com", "editor")])
    listed = await world.service.list_shares(world.owner, file_id)
    assert [(s.user_id, s.permission) for s in listed] == [(world.viewer, "editor")]


@pytest.mark.parametrize("recipients,code", [
    ([], "INVALID_ARGUMENT"),
    ([("owner@example.com", "viewer")], "CANNOT_SHARE_WITH_SELF"),
    ([("viewer@example.com", "admin")], "INVALID_ARGUMENT"),
    ([("viewer@example.com", "")], "INVALID_ARGUMENT"),
    ([("not-an-email", "viewer")], "INVALID_ARGUMENT"),
    ([("viewer@example.com", "viewer"), ("VIEWER@example.com", "editor")], "INVALID_ARGUMENT"),
    ([(f"u{i}@example.com", "viewer") for i in range(4)], "TOO_MANY_RECIPIENTS"),
])
async def test_share_rejections_change_nothing(recipients: list[tuple[str, str]],
                                               code: str) -> None:
    world = World(max_share_recipients=3)
    file_id = await world.file()
    with pytest.raises(InvalidArgument) as e:
        await world.service.add_shares(world.owner, file_id, recipients)
    assert e.value.code == code
    assert world.store.shares == {}


async def test_strangers_never_reach_the_directory() -> None:
    world = World()
    file_id = await world.file()
    with pytest.raises(NotFound):
        await world.service.add_shares(world.stranger, file_id, [("viewer@example.com", "viewer")])
    assert world.directory.calls == 0


async def test_update_and_remove_missing_share() -> None:
    world = World()
    file_id = await world.shared_file()
    for call in (world.service.update_share(world.owner, file_id, world.stranger, "viewer"),
                 world.service.remove_share(world.owner, file_id, world.stranger)):
        with pytest.raises(NotFound) as e:
            await call
        assert e.value.code == "SHARE_NOT_FOUND"
    await world.service.update_share(world.owner, file_id, world.viewer, "editor")
    await world.service.rename(world.viewer, file_id, "now-editor.pdf")
    with pytest.raises(InvalidArgument):
        await world.service.update_share(world.owner, file_id, world.viewer, "owner")


# ----------------------------------------------------------------------------- links, shortcuts
async def test_public_link_url() -> None:
    world = World(public_base_url="https://vault.example")
    file_id = await world.file()
    url = await world.service.create_public_link(world.owner, file_id)
    assert url == f"https://vault.example/api/files/f/{file_id}"
    assert await world.service.create_public_link(world.owner, file_id) == url  # idempotent


async def test_shortcuts_idempotent() -> None:
    world = World()
    file_id = await world.shared_file()
    first = await world.service.create_shortcut(world.viewer, file_id)
    second = await world.service.create_shortcut(world.viewer, file_id)
    assert first == second
    await world.service.delete_shortcut(world.viewer, file_id)
    await world.service.delete_shortcut(world.viewer, file_id)  # idempotent
    await world.service.delete_shortcut(world.stranger, uid())
    assert world.store.shortcuts == {}


async def test_download_link_expiry() -> None:
    world = World(download_url_ttl_s=120)
    file_id = await world.file()
    link = await world.service.download_link(world.owner, file_id)
    assert link.url.endswith("?ttl=120")
    delta = link.expires_at - datetime.now(UTC)
    assert timedelta(seconds=100) < delta <= timedelta(seconds=120)

