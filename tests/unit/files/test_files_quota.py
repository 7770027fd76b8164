"""Quota rules of the files service (svc_files/service.py, rules.py, quota_admin.py) with the
in-memory fakes: sizes, the 413 message, reservations, copies charged, deletes credited, shares
not counted, the operator commands. The same store cases run against PostgreSQL in
tests/contract/test_files_quota_seams.py."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from common.errors import InvalidArgument, NotFound, QuotaExceeded
from common.files import NewFile
from svc_files.config import Rules
from svc_files.models import Usage
from svc_files.quota_admin import QuotaCommands, parse_quota
from svc_files.rules import format_bytes, parse_size, quota_exceeded
from svc_files.service import FilesService
from tests.fakes.files import FakeCatalog, FakeDirectory, FakeObjects

GIB = 1024**3


def uid() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1048576), ("50GiB", 50 * GIB), ("50 gib", 50 * GIB), ("1.5TB", 1_500_000_000_000),
    ("512MiB", 512 * 1024**2), ("0", 0), ("unlimited", 0), ("10k", 10_000), (7, 7)])
def test_sizes_parse(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "5XB", "GiB", "1e3", str(2**63)])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_quota_arguments_and_settings() -> None:
    assert parse_quota("default") is None and parse_quota("2GiB") == 2 * GIB
    assert Rules().default_quota_bytes == 10 * GIB
    unlimited = Rules.model_validate({"GOVAULT_DEFAULT_QUOTA_BYTES": "unlimited"})
    assert unlimited.default_quota_bytes == 0


def test_the_413_message_says_what_is_free() -> None:
    error = quota_exceeded(Usage("u", used_bytes=GIB, reserved_bytes=0, quota_bytes=2 * GIB,
                                 files=1), 3 * GIB)
    assert error.code == "QUOTA_EXCEEDED"
    assert f"1.0 GiB ({GIB} bytes) free of 2.0 GiB" in error.message
    assert format_bytes(512) == "512 B" and format_bytes(1536) == "1.5 KiB"


class World:
    def __init__(self, default_quota: int) -> None:
        self.store = FakeCatalog(default_quota)
        self.objects = FakeObjects()
        self.directory = FakeDirectory()
        self.service = FilesService(self.store, self.objects, self.directory, Rules())

    async def upload(self, owner: str, size: int) -> str:
        upload, file_id = uid(), uid()
        key = f"users/{owner}/{file_id}"
        await self.service.reserve_quota(owner, upload, size)
        self.objects.objects[key] = b"x" * size
        await self.service.register_file(NewFile(
            upload_id=upload, file_id=file_id, owner_id=owner, name="a.bin", mime_type="",
            size_bytes=size, checksum="c", storage_key=key))
        return file_id


async def test_reserve_validates_and_is_idempotent() -> None:
    w = World(default_quota=100)
    owner, upload = uid(), uid()
    with pytest.raises(InvalidArgument):
        await w.service.reserve_quota("nope", upload, 1)
    with pytest.raises(InvalidArgument):
        await w.service.reserve_quota(owner, upload, -1)
    await w.service.reserve_quota(owner, upload, 70)
    assert (await w.service.reserve_quota(owner, upload, 70)).reserved_bytes == 70
    with pytest.raises(QuotaExceeded):
        await w.service.reserve_quota(owner, uid(), 31)
    assert await w.service.release_quota(upload) == 70
    assert await w.service.release_quota(upload) == 0  # idempotent
    assert (await w.service.usage(owner)).reserved_bytes == 0


async def test_copies_count_shares_do_not_and_deletes_free_space() -> None:
    w = World(default_quota=100)
    owner, friend = uid(), uid()
    w.directory.add("friend@example.com", friend)
    file_id = await w.upload(owner, 60)
    await w.service.add_shares(owner, file_id, [("friend@example.com", "viewer")])
    assert (await w.service.usage(friend)).used_bytes == 0  # shares do not count
    with pytest.raises(QuotaExceeded):
        await w.service.copy(owner, file_id)  # 60 + 60 > 100
    assert len(w.objects.objects) == 1  # refused before any copy
    copy = await w.service.copy(friend, file_id)  # the friend's own quota pays for it
    assert (await w.service.usage(friend)).used_bytes == 60
    await w.service.delete(owner, file_id)
    usage = await w.service.usage(owner)
    assert (usage.used_bytes, usage.files, usage.free_bytes) == (0, 0, 100)
    assert copy.file.owner_id == friend


async def test_a_copy_that_loses_the_race_is_removed() -> None:
    w = World(default_quota=100)
    owner = uid()
    file_id = await w.upload(owner, 40)
    real_insert = w.store.insert_file

    async def race(new: NewFile) -> object:
        await w.store.reserve(owner, uid(), 30)  # a session took the room meanwhile
        return await real_insert(new)

    w.store.insert_file = race  # type: ignore[method-assign,assignment]
    with pytest.raises(QuotaExceeded):
        await w.service.copy(owner, file_id)
    assert len(w.objects.objects) == 1  # the copied object was removed again


async def test_operator_commands() -> None:
    store, directory = FakeCatalog(10 * GIB), FakeDirectory()
    alice = uid()
    directory.add("alice@example.com", alice)
    commands = QuotaCommands(store, directory)
    shown = await commands.set("Alice@Example.com", None, 50 * GIB)
    assert shown["quota_bytes"] == 50 * GIB and shown["quota_is_default"] is False
    assert shown["email"] == "alice@example.com" and shown["user_id"] == alice
    back = await commands.set(None, alice, None)
    assert back["quota_bytes"] == 10 * GIB and back["quota_is_default"] is True
    with pytest.raises(NotFound):
        await commands.show("bob@example.com", None)
    listed = (await commands.list())["users"]
    assert isinstance(listed, list) and [u["user_id"] for u in listed] == [alice]
    store.counters[alice][1] = 5  # drift
    report = await commands.audit(fix=False, stale_after_s=3600)
    assert report["drifted"] == 1 and report["stale_reservations"] == 0
    assert (await commands.audit(fix=True, stale_after_s=3600))["fixed"] is True
    assert (await commands.audit(fix=False, stale_after_s=3600))["drifted"] == 0
    lost = uid()  # a session whose release never arrived
    await store.reserve(alice, lost, 7)
    store.reserved_at[lost] -= timedelta(hours=2)
    report = await commands.audit(fix=False, stale_after_s=3600)
    assert report["stale_reservations"] == 1 and report["drifted"] == 0
    assert report["stale"] == [{"upload_uuid": lost, "user_id": alice, "bytes": 7}]
    assert (await commands.audit(fix=True, stale_after_s=3600))["fixed"] is True
    assert (await store.usage(alice)).reserved_bytes == 0
