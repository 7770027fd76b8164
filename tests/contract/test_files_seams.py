"""The files Catalog seam: FakeCatalog vs PgCatalog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest

from common.errors import AlreadyExists
from common.files import NewFile, storage_key
from svc_files.models import ShareGrant
from svc_files.seams import Catalog
from svc_files.store import PgCatalog
from tests.contract.conftest import fake_or_pg
from tests.fakes.files import FakeCatalog


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
async def catalog(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Catalog]:
    async with fake_or_pg(kind, request, "files", FakeCatalog, PgCatalog) as adapter:
        yield cast(Catalog, adapter)  # the fake and the real adapter both satisfy it


def new_file(owner: str, upload_id: str | None = None, name: str = "a.txt") -> NewFile:
    file_id = uid()
    return NewFile(upload_id=upload_id or uid(), file_id=file_id, owner_id=owner, name=name,
                   mime_type="text/plain", size_bytes=3, checksum="c",
                   storage_key=storage_key(owner, file_id))


async def test_register_is_idempotent_on_the_upload(catalog: Catalog) -> None:
    owner = uid()
    first = new_file(owner)
    record, created = await catalog.register_file(first)
    again, created_again = await catalog.register_file(
        NewFile(**{**first.__dict__, "file_id": uid(), "storage_key": "users/x/other"}))
    assert created and not created_again
    assert again.file_id == record.file_id == first.file_id


async def test_concurrent_registrations_of_one_upload_make_one_file(catalog: Catalog) -> None:
    owner = uid()
    first = new_file(owner)
    results = await asyncio.gather(*(catalog.register_file(
        NewFile(**{**first.__dict__, "file_id": uid(), "storage_key": f"users/x/{i}"}))
        for i in range(8)))
    assert len({record.file_id for record, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_a_taken_file_id_or_key_is_already_exists(catalog: Catalog) -> None:
    owner = uid()
    first = new_file(owner)
    await catalog.register_file(first)
    with pytest.raises(AlreadyExists):
        await catalog.register_file(NewFile(**{**first.__dict__, "upload_id": uid()}))


async def test_grants_follow_shares_and_the_public_flag(catalog: Catalog) -> None:
    owner, friend = uid(), uid()
    record, _ = await catalog.register_file(new_file(owner))
    grant = await catalog.get_grant(record.file_id, friend)
    assert grant is not None and grant.share_permission is None and not grant.file.is_public
    await catalog.upsert_shares(record.file_id, [ShareGrant(friend, "f@x.io", "editor")])
    await catalog.set_public(record.file_id, True)
    grant = await catalog.get_grant(record.file_id, friend)
    assert grant is not None and grant.share_permission == "editor" and grant.file.is_public
    assert [s.user_id for s in await catalog.list_shares(record.file_id)] == [friend]
    assert [g.file.file_id for g in await catalog.list_shared(friend, 10, 0)] == [record.file_id]
    assert await catalog.remove_share(record.file_id, friend)
    assert not await catalog.remove_share(record.file_id, friend)


async def test_a_deleted_file_leaves_every_list_and_owes_its_object(catalog: Catalog) -> None:
    owner = uid()
    record, _ = await catalog.register_file(new_file(owner))
    assert [r.file_id for r in await catalog.list_owned(owner, 10, 0)] == [record.file_id]
    assert await catalog.rename(record.file_id, "b.txt")
    pending = await catalog.soft_delete(record.file_id)
    assert pending is not None
    assert await catalog.soft_delete(record.file_id) is None
    assert await catalog.get_grant(record.file_id, owner) is None
    assert await catalog.list_owned(owner, 10, 0) == []
    assert not await catalog.rename(record.file_id, "c.txt")
    await catalog.finish_delete(pending)


async def test_lists_are_newest_first_and_paged(catalog: Catalog) -> None:
    owner = uid()
    ids = [(await catalog.register_file(new_file(owner, name=f"{i}.txt")))[0].file_id
           for i in range(3)]
    page1 = await catalog.list_owned(owner, 2, 0)
    page2 = await catalog.list_owned(owner, 2, 2)
    assert [r.file_id for r in page1 + page2] == ids[::-1]


async def test_shortcuts_are_idempotent(catalog: Catalog) -> None:
    owner, user = uid(), uid()
    record, _ = await catalog.register_file(new_file(owner))
    await catalog.set_public(record.file_id, True)  # lists show only what the user may see
    first = await catalog.add_shortcut(record.file_id, user, uid())
    again = await catalog.add_shortcut(record.file_id, user, uid())
    assert again.shortcut_id == first.shortcut_id
    assert [g.file.file_id for g in await catalog.list_shortcuts(user, 10, 0)] == [
        record.file_id]
    await catalog.remove_shortcut(record.file_id, user)
    await catalog.remove_shortcut(record.file_id, user)
    assert await catalog.list_shortcuts(user, 10, 0) == []
