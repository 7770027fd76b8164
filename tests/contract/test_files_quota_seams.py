"""The quota part of the files Catalog seam (and QuotaAdmin): FakeCatalog vs PgCatalog on a
fresh migrated database, default quota 100 bytes. Reservations are idempotent per upload,
registration converts them, copies are charged and deletes credited with their rows, shares do
not count, and concurrent reservations never over-commit (PostgreSQL's row lock + re-checked
condition; the fake is trivially serial)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Protocol, cast

import pytest

from common.errors import QuotaExceeded
from common.files import NewFile, storage_key
from svc_files.models import ShareGrant, Usage
from svc_files.seams import Catalog, QuotaAdmin
from svc_files.store import PgCatalog
from tests.contract.conftest import fake_or_pg
from tests.fakes.files import FakeCatalog

QUOTA = 100


class Quotas(Catalog, QuotaAdmin, Protocol):
    async def usage(self, user_id: str) -> Usage: ...


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
async def store(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Quotas]:
    async with fake_or_pg(kind, request, "files", lambda: FakeCatalog(QUOTA),
                          lambda pool: PgCatalog(pool, QUOTA)) as adapter:
        yield cast(Quotas, adapter)


def new_file(owner: str, size: int, upload_id: str | None = None) -> NewFile:
    file_id = uid()
    return NewFile(upload_id=upload_id, file_id=file_id, owner_id=owner, name="a.bin",
                   mime_type="application/octet-stream", size_bytes=size, checksum="c",
                   storage_key=storage_key(owner, file_id))


def figures(usage: Usage) -> tuple[int, int, int, int]:
    return usage.used_bytes, usage.reserved_bytes, usage.quota_bytes, usage.files


async def test_a_user_without_a_row_has_the_default_quota(store: Quotas) -> None:
    usage = await store.usage(uid())
    assert figures(usage) == (0, 0, QUOTA, 0) and usage.quota_is_default


async def test_reservations_are_idempotent_and_bounded(store: Quotas) -> None:
    owner, first = uid(), uid()
    assert figures(await store.reserve(owner, first, 60)) == (0, 60, QUOTA, 0)
    assert figures(await store.reserve(owner, first, 60)) == (0, 60, QUOTA, 0)  # same upload
    with pytest.raises(QuotaExceeded) as err:
        await store.reserve(owner, uid(), 41)
    assert "40 bytes) free" in err.value.message
    assert figures(await store.reserve(owner, uid(), 40)) == (0, 100, QUOTA, 0)  # exactly
    assert await store.release(first) == 60
    assert await store.release(first) == 0
    assert (await store.usage(owner)).reserved_bytes == 40


async def test_registration_converts_and_delete_credits(store: Quotas) -> None:
    owner, upload = uid(), uid()
    await store.reserve(owner, upload, 70)
    record, created = await store.register_file(new_file(owner, 70, upload))
    assert created and figures(await store.usage(owner)) == (70, 0, QUOTA, 1)
    await store.register_file(new_file(owner, 70, upload))  # a retried registration
    assert figures(await store.usage(owner)) == (70, 0, QUOTA, 1)
    assert await store.release(upload) == 0  # nothing left to release once converted
    await store.soft_delete(record.file_id)
    await store.soft_delete(record.file_id)
    assert figures(await store.usage(owner)) == (0, 0, QUOTA, 0)


async def test_copies_are_charged_and_shares_do_not_count(store: Quotas) -> None:
    owner, friend = uid(), uid()
    record, _ = await store.register_file(new_file(owner, 60, uid()))
    await store.upsert_shares(record.file_id, [ShareGrant(friend, "f@x.io", "viewer")])
    assert figures(await store.usage(friend)) == (0, 0, QUOTA, 0)
    await store.insert_file(new_file(friend, 60))
    assert figures(await store.usage(friend)) == (60, 0, QUOTA, 1)
    with pytest.raises(QuotaExceeded):
        await store.insert_file(new_file(owner, 60))
    assert figures(await store.usage(owner)) == (60, 0, QUOTA, 1)
    assert len(await store.list_owned(owner, 10, 0)) == 1  # the refused copy left no row


async def test_operator_quota_list_and_audit(store: Quotas) -> None:
    owner, big = uid(), uid()
    await store.register_file(new_file(owner, 30, uid()))
    assert (await store.set_quota(big, 0)).quota_bytes == 0  # unlimited
    await store.reserve(big, uid(), 10**12)
    usage = await store.set_quota(owner, 1000)
    assert usage.quota_bytes == 1000 and not usage.quota_is_default
    assert (await store.set_quota(owner, None)).quota_bytes == QUOTA
    assert [u.user_id for u in await store.list_usage()] == [owner, big]
    checked, drift = await store.audit_usage()
    assert checked == 2 and drift == []
    assert await store.stale_reservations(3600) == []
    assert [(u, n) for _, u, n in await store.stale_reservations(-1)] == [(big, 10**12)]


async def test_concurrent_reservations_never_over_commit(store: Quotas) -> None:
    owner = uid()
    for _ in range(3):
        uploads = [uid() for _ in range(20)]
        results = await asyncio.gather(*(store.reserve(owner, u, 17) for u in uploads),
                                       return_exceptions=True)
        assert all(isinstance(r, (Usage, QuotaExceeded)) for r in results)
        accepted = [u for u, r in zip(uploads, results, strict=True) if isinstance(r, Usage)]
        assert len(accepted) == QUOTA // 17
        assert (await store.usage(owner)).reserved_bytes == 17 * len(accepted)
        assert (await store.audit_usage())[1] == []
        for upload in accepted:
            assert await store.release(upload) == 17
        assert (await store.usage(owner)).reserved_bytes == 0
