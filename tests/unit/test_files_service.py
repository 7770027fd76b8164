"""Unit tests of the files rules (svc_files.service) with in-memory fakes for the store, the
object store and the user directory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from svc_files.config import Rules
from svc_files.models import (
    Access,
    FileGrant,
    FileRecord,
    NewFile,
    ResolvedUser,
    Share,
    ShareGrant,
    Shortcut,
)
from svc_files.rules import access_for, guess_mime, require_access, validate_name
from svc_files.service import FilesService

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.files: dict[str, FileRecord] = {}
        self.deleted: set[str] = set()
        self.uploads: dict[str, str] = {}
        self.shares: dict[tuple[str, str], Share] = {}
        self.public: set[str] = set()
        self.shortcuts: dict[tuple[str, str], Shortcut] = {}
        self.pending: dict[int, str] = {}
        self.fail_insert = False
        self.tick = 0

    def _now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    def _rec(self, file_id: str) -> FileRecord:
        return replace(self.files[file_id], is_public=file_id in self.public)

    def _live(self, file_id: str) -> bool:
        return file_id in self.files and file_id not in self.deleted

    def _new(self, new: NewFile) -> FileRecord:
        if new.file_id in self.files or any(
            f.storage_key == new.storage_key for f in self.files.values()
        ):
            raise AlreadyExists("taken")
        rec = FileRecord(new.file_id, new.owner_id, new.name, new.mime_type, new.size_bytes,
                         new.checksum, new.storage_key, self._now())
        self.files[new.file_id] = rec
        return rec

    async def register_file(self, new: NewFile) -> tuple[FileRecord, bool]:
        assert new.upload_id
        if new.upload_id in self.uploads:
            return self._rec(self.uploads[new.upload_id]), False
        rec = self._new(new)
        self.uploads[new.upload_id] = rec.file_id
        return rec, True

    async def insert_file(self, new: NewFile) -> FileRecord:
        if self.fail_insert:
            raise Unavailable("db down")
        return self._new(new)

    async def get_grant(self, file_id: str, user_id: str | None) -> FileGrant | None:
        if not self._live(file_id):
            return None
        share = self.shares.get((file_id, user_id or ""))
        return FileGrant(self._rec(file_id), share.permission if share else None)

    def _page(self, ids: list[str], limit: int, offset: int) -> list[str]:
        ids.sort(key=lambda i: (self.files[i].created_at, i), reverse=True)
        return ids[offset:offset + limit]

    async def list_owned(self, owner_id: str, limit: int, offset: int) -> list[FileRecord]:
        ids = [i for i, f in self.files.items() if f.owner_id == owner_id and self._live(i)]
        return [self._rec(i) for i in self._page(ids, limit, offset)]

    async def list_shared(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        ids = [f for (f, u) in self.shares if u == user_id and self._live(f)]
        return [FileGrant(self._rec(i), self.shares[(i, user_id)].permission)
                for i in self._page(ids, limit, offset)]

    async def list_shortcuts(self, user_id: str, limit: int, offset: int) -> list[FileGrant]:
        ids = [f for (f, u) in self.shortcuts if u == user_id and self._live(f)]
        grants = [g for i in ids if (g := await self.get_grant(i, user_id))
                  and access_for(g, user_id) != Access.NONE]
        keep = self._page([g.file.file_id for g in grants], limit, offset)
        return [g for i in keep for g in grants if g.file.file_id == i]

    async def rename(self, file_id: str, name: str) -> bool:
        if not self._live(file_id):
            return False
        self.files[file_id] = replace(self.files[file_id], name=name)
        return True

    async def soft_delete(self, file_id: str) -> int | None:
        if not self._live(file_id):
            return None
        self.deleted.add(file_id)
        self.public.discard(file_id)
        for key in [k for k in self.shares if k[0] == file_id]:
            del self.shares[key]
        for key in [k for k in self.shortcuts if k[0] == file_id]:
            del self.shortcuts[key]
        return await self.enqueue_delete(self.files[file_id].storage_key)

    async def enqueue_delete(self, storage_key: str) -> int:
        pending_id = len(self.pending) + 1000
        self.pending[pending_id] = storage_key
        return pending_id

    async def finish_delete(self, pending_id: int) -> None:
        self.pending.pop(pending_id, None)

    async def upsert_shares(self, file_id: str, grants: Sequence[ShareGrant]) -> list[Share]:
        out = []
        for g in grants:
            old = self.shares.get((file_id, g.user_id))
            share = Share(g.user_id, g.email, g.permission, old.created_at if old else self._now())
            self.shares[(file_id, g.user_id)] = share
            out.append(share)
        return out

    async def list_shares(self, file_id: str) -> list[Share]:
        return [s for (f, _), s in self.shares.items() if f == file_id]

    async def update_share(self, file_id: str, user_id: str, permission: str) -> bool:
        old = self.shares.get((file_id, user_id))
        if old is None:
            return False
        self.shares[(file_id, user_id)] = replace(old, permission=permission)
        return True

    async def remove_share(self, file_id: str, user_id: str) -> bool:
        return self.shares.pop((file_id, user_id), None) is not None

    async def set_public(self, file_id: str, public: bool) -> None:
        (self.public.add if public else self.public.discard)(file_id)

    async def add_shortcut(self, file_id: str, user_id: str, shortcut_id: str) -> Shortcut:
        return self.shortcuts.setdefault((file_id, user_id),
                                         Shortcut(shortcut_id, file_id, self._now()))

    async def remove_shortcut(self, file_id: str, user_id: str) -> None:
        self.shortcuts.pop((file_id, user_id), None)


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail_remove = False

    async def copy(self, source_key: str, target_key: str) -> None:
        self.objects[target_key] = self.objects[source_key]

    async def remove(self, key: str) -> None:
        if self.fail_remove:
            raise Unavailable("s3 down")
        self.objects.pop(key, None)

    def presign_get(self, key: str, ttl: timedelta, file_name: str, mime_type: str) -> str:
        return f"https://s3.example/{key}?ttl={int(ttl.total_seconds())}"


class FakeDirectory:
    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.calls = 0

    def add(self, email: str, user_id: str) -> None:
        self.users[email.lower()] = user_id

    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        self.calls += 1
        return {e: ResolvedUser(self.users[e], e) for e in emails if e in self.users}


def uid() -> str:
    return str(uuid.uuid4())


class World:
    """Owner's file shared with an editor and a viewer; a stranger; anonymous."""

    def __init__(self, **rules: object) -> None:
        self.store = FakeStore()
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
        await self.service.register_file(upload_id=uid(), file_id=file_id, owner_id=owner,
                                         name=name, mime_type="", size_bytes=5, checksum="c",
                                         storage_key=key)
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
        return await s.rename(caller, file_id, "renamed.txt")
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
    args = dict(upload_id=upload, owner_id=world.owner, name="a.txt", mime_type="",
                size_bytes=3, checksum="c", storage_key=f"users/{world.owner}/{file_id}")
    first, created = await world.service.register_file(file_id=file_id, **args)  # type: ignore[arg-type]
    again, created_again = await world.service.register_file(file_id=uid(), **args)  # type: ignore[arg-type]
    assert created and not created_again
    assert again.file.file_id == first.file.file_id == file_id
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
        await world.service.register_file(**args)  # type: ignore[arg-type]


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

