"""The upload seams: Ledger (FakeLedger vs PgLedger) and Objects (FakeObjects vs S3Objects)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest

from common.files import storage_key
from common.s3 import InvalidPart, NoSuchUpload
from svc_upload.models import ACTIVE, COMPLETED, COMPLETING, EXPIRED, UPLOADING, Part, Session
from svc_upload.s3 import S3Objects
from svc_upload.seams import Ledger, Objects
from svc_upload.store import PgLedger
from tests.contract.conftest import fake_or_pg, s3_settings
from tests.fakes.upload import FakeLedger, FakeObjects

OWNER = str(uuid.uuid4())


@pytest.fixture
async def ledger(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    async with fake_or_pg(kind, request, "upload", FakeLedger, PgLedger) as adapter:
        yield cast(Ledger, adapter)  # the fake and the real adapter both satisfy it


@pytest.fixture
async def objects(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Objects]:
    if store_kind == "fake":
        yield FakeObjects()
        return
    real = await S3Objects.open(s3_settings(request, store_kind))
    try:
        yield real
    finally:
        await real.close()


async def new_session(ledger: Ledger, total: int = 2, ttl_s: float = 3600,
                      method: str = "multipart") -> Session:
    file_id = str(uuid.uuid4())
    return await ledger.create_session(
        upload_uuid=str(uuid.uuid4()), owner_id=OWNER, method=method, file_name="a.bin",
        file_size_bytes=10 * total, part_size_bytes=10, total_chunks=total, file_id=file_id,
        storage_key=storage_key(OWNER, file_id), ttl_s=ttl_s)


async def test_a_new_session_is_pending_and_found(ledger: Ledger) -> None:
    s = await new_session(ledger)
    assert s.state == "pending"
    found = await ledger.get_session(s.upload_uuid)
    assert found is not None and found.file_id == s.file_id and found.claim_token is None
    assert await ledger.get_session(str(uuid.uuid4())) is None


async def test_a_single_chunk_is_claimed_only_by_its_owner_at_its_size(ledger: Ledger) -> None:
    one = await new_session(ledger, total=1, method="proxy")
    other_owner = str(uuid.uuid4())
    assert await ledger.claim_single_chunk(one.upload_uuid, other_owner, 10, 30) is None
    assert await ledger.claim_single_chunk(one.upload_uuid, OWNER, 9, 30) is None
    two = await new_session(ledger, total=2, method="proxy")
    assert await ledger.claim_single_chunk(two.upload_uuid, OWNER, 10, 30) is None
    direct = await new_session(ledger, total=1)
    assert await ledger.claim_single_chunk(direct.upload_uuid, OWNER, 10, 30) is None
    gone = await new_session(ledger, total=1, method="proxy", ttl_s=-1)
    assert await ledger.claim_single_chunk(gone.upload_uuid, OWNER, 10, 30) is None
    claim = await ledger.claim_single_chunk(one.upload_uuid, OWNER, 0, 30)  # 0: size unknown
    assert claim is not None and claim.state == COMPLETING and claim.claim_token
    assert await ledger.claim_single_chunk(one.upload_uuid, OWNER, 10, 30) is None  # held


async def test_an_owned_part_is_recorded_only_when_it_fits_a_live_multipart_session(
        ledger: Ledger) -> None:
    s = await new_session(ledger, total=2)
    other_owner = str(uuid.uuid4())
    for owner, number, size in ((other_owner, 1, 10), (OWNER, 0, 10), (OWNER, 3, 10),
                                (OWNER, 1, 9), (OWNER, 2, 11)):
        assert await ledger.record_owned_part(s.upload_uuid, owner,
                                              Part(number, "e", size, None)) is None
    assert await ledger.list_parts(s.upload_uuid) == []
    for sent in (await new_session(ledger, total=1, method="proxy"),
                 await new_session(ledger, total=1, ttl_s=-1)):
        assert await ledger.record_owned_part(sent.upload_uuid, OWNER,
                                              Part(1, "e", 10, None)) is None
    assert await ledger.record_owned_part(str(uuid.uuid4()), OWNER,
                                          Part(1, "e", 10, None)) is None
    assert await ledger.record_owned_part(s.upload_uuid, OWNER, Part(1, "e1", 10, None)) == (1, 2)
    assert await ledger.record_owned_part(s.upload_uuid, OWNER, Part(1, "e2", 10, None)) == (1, 2)
    assert await ledger.record_owned_part(s.upload_uuid, OWNER, Part(2, "e3", 10, None)) == (2, 2)
    assert [p.etag for p in await ledger.list_parts(s.upload_uuid)] == ["e2", "e3"]
    assert (await ledger.get_session(s.upload_uuid)).state == UPLOADING  # type: ignore[union-attr]
    assert await ledger.claim_completing(s.upload_uuid, ACTIVE, 30) is not None
    assert await ledger.record_owned_part(s.upload_uuid, OWNER, Part(2, "e4", 10, None)) is None


async def test_a_multipart_session_is_claimed_at_once_only_by_its_owner_with_all_parts(
        ledger: Ledger) -> None:
    s = await new_session(ledger, total=2)
    await ledger.record_part(s.upload_uuid, Part(1, "e1", 10, None))
    assert await ledger.claim_multipart(s.upload_uuid, OWNER, 30) is None  # a part missing
    await ledger.record_part(s.upload_uuid, Part(2, "e2", 10, None))
    assert await ledger.claim_multipart(s.upload_uuid, str(uuid.uuid4()), 30) is None
    assert await ledger.claim_multipart(str(uuid.uuid4()), OWNER, 30) is None
    proxy = await new_session(ledger, total=1, method="proxy")
    await ledger.record_part(proxy.upload_uuid, Part(1, "e", 10, None))
    assert await ledger.claim_multipart(proxy.upload_uuid, OWNER, 30) is None
    gone = await new_session(ledger, total=1, ttl_s=-1)
    assert await ledger.claim_multipart(gone.upload_uuid, OWNER, 30) is None
    claimed = await ledger.claim_multipart(s.upload_uuid, OWNER, 30)
    assert claimed is not None
    claim, parts = claimed
    assert claim.state == COMPLETING and claim.claim_token
    assert claim == await ledger.get_session(s.upload_uuid)
    assert parts == [Part(1, "e1", 10, None), Part(2, "e2", 10, None)]  # with the claim
    assert await ledger.claim_multipart(s.upload_uuid, OWNER, 30) is None  # held


async def test_listed_parts_are_recorded_at_once_unless_one_disagrees(ledger: Ledger) -> None:
    s = await new_session(ledger, total=3)
    await ledger.record_part(s.upload_uuid, Part(1, "e1", 10, None))
    # part 1 registered with another ETag: nothing written, the conflict named
    assert await ledger.record_listed_parts(
        s.upload_uuid, [Part(1, "other", 10, None), Part(2, "e2", 10, None)]) == [1]
    assert [p.part_number for p in await ledger.list_parts(s.upload_uuid)] == [1]
    assert await ledger.record_listed_parts(
        s.upload_uuid, [Part(1, "e1", 11, None)]) == [1]  # another size
    # agreeing with part 1, new parts 2 and 3: recorded (part 1 kept as it was)
    assert await ledger.record_listed_parts(
        s.upload_uuid, [Part(3, "e3", 10, None), Part(1, "e1", 10, None),
                        Part(2, "e2", 10, None)]) == []
    assert [(p.part_number, p.etag) for p in await ledger.list_parts(s.upload_uuid)] == [
        (1, "e1"), (2, "e2"), (3, "e3")]
    assert (await ledger.get_session(s.upload_uuid)).state == UPLOADING  # type: ignore[union-attr]
    assert await ledger.claim_completing(s.upload_uuid, ACTIVE, 30) is not None
    assert await ledger.record_listed_parts(s.upload_uuid, [Part(1, "e1", 10, None)]) is None
    gone = await new_session(ledger, total=1, ttl_s=-1)
    assert await ledger.record_listed_parts(gone.upload_uuid, [Part(1, "e", 10, None)]) is None
    assert await ledger.list_parts(gone.upload_uuid) == []


async def test_parts_are_upserted_while_active(ledger: Ledger) -> None:
    s = await new_session(ledger)
    assert await ledger.record_part(s.upload_uuid, Part(1, "e1", 10, None)) == 1
    assert await ledger.record_part(s.upload_uuid, Part(1, "e2", 10, None)) == 1
    assert await ledger.record_part(s.upload_uuid, Part(2, "e3", 10, None)) == 2
    assert [p.etag for p in await ledger.list_parts(s.upload_uuid)] == ["e2", "e3"]
    assert (await ledger.get_session(s.upload_uuid)).state == UPLOADING  # type: ignore[union-attr]
    assert await ledger.count_parts(s.upload_uuid) == 2


async def test_exactly_one_claim_wins_and_only_its_token_completes(ledger: Ledger) -> None:
    s = await new_session(ledger, total=1)
    claims = await asyncio.gather(*(ledger.claim_completing(s.upload_uuid, ACTIVE, 30)
                                    for _ in range(5)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].claim_token
    assert await ledger.record_part(s.upload_uuid, Part(1, "late", 10, None)) is None
    assert await ledger.mark_completed(s.upload_uuid, str(uuid.uuid4()), size_bytes=10,
                                       checksum="c", mime_type="x/y") is None
    done = await ledger.mark_completed(s.upload_uuid, winners[0].claim_token or "",
                                       size_bytes=10, checksum="c", mime_type="x/y")
    assert done is not None and done.state == COMPLETED and done.result_size_bytes == 10


async def test_a_released_claim_stays_completing_readable_and_can_be_taken_over(
        ledger: Ledger) -> None:
    s = await new_session(ledger, total=1)
    claim = await ledger.claim_completing(s.upload_uuid, ACTIVE, 300)
    assert claim is not None and claim.claim_token
    assert await ledger.release_claim(s.upload_uuid, claim.claim_token, COMPLETING)
    current = await ledger.get_session(s.upload_uuid)
    assert current is not None and current.state == COMPLETING
    again = await ledger.claim_completing(s.upload_uuid, (), 300)  # lease lapsed at once
    assert again is not None and again.claim_token != claim.claim_token


async def test_only_a_claim_still_held_can_be_renewed(ledger: Ledger) -> None:
    s = await new_session(ledger, total=1)
    first = await ledger.claim_completing(s.upload_uuid, ACTIVE, 300)
    assert first is not None and first.claim_token
    assert await ledger.renew_claim(s.upload_uuid, first.claim_token)
    assert await ledger.release_claim(s.upload_uuid, first.claim_token, COMPLETING)
    second = await ledger.claim_completing(s.upload_uuid, (), 300)  # taken over
    assert second is not None and second.claim_token
    assert not await ledger.renew_claim(s.upload_uuid, first.claim_token)
    assert await ledger.renew_claim(s.upload_uuid, second.claim_token)


async def test_inactive_transitions_only_from_active_states(ledger: Ledger) -> None:
    s = await new_session(ledger)
    expired = await ledger.finish_inactive(s.upload_uuid, EXPIRED)
    assert expired is not None and expired.state == EXPIRED
    assert await ledger.finish_inactive(s.upload_uuid, EXPIRED) is None
    assert await ledger.claim_completing(s.upload_uuid, ACTIVE, 30) is None


async def test_multipart_joins_exactly_the_reported_parts(objects: Objects) -> None:
    key = storage_key(OWNER, str(uuid.uuid4()))
    upload_id = await objects.create_multipart(key)
    assert await objects.multipart_exists(key, upload_id)

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 7

    etag = await objects.upload_part_stream(key, upload_id, 1, 7, body())
    with pytest.raises(InvalidPart):
        await objects.complete_multipart(key, upload_id, [(1, "0" * 32)])
    final = await objects.complete_multipart(key, upload_id, [(1, etag)])
    assert final
    info = await objects.stat(key)
    assert info is not None and info.size_bytes == 7
    # completing again: S3 (and SeaweedFS) may repeat the answer, or no longer know the upload
    try:
        assert await objects.complete_multipart(key, upload_id, [(1, etag)]) == final
    except NoSuchUpload:
        pass
    await objects.delete(key)
    await objects.delete(key)  # idempotent
    assert await objects.stat(key) is None


async def test_an_aborted_multipart_is_gone(objects: Objects) -> None:
    key = storage_key(OWNER, str(uuid.uuid4()))
    upload_id = await objects.create_multipart(key)
    await objects.abort_multipart(key, upload_id)
    await objects.abort_multipart(key, upload_id)  # idempotent
    assert not await objects.multipart_exists(key, upload_id)


async def test_a_told_chunk_size_is_fixed_once(ledger: Ledger) -> None:
    file_id = str(uuid.uuid4())
    s = await ledger.create_session(
        upload_uuid=str(uuid.uuid4()), owner_id=OWNER, method="proxy", file_name="a.bin",
        file_size_bytes=30, part_size_bytes=10, total_chunks=3, file_id=file_id,
        storage_key=storage_key(OWNER, file_id), ttl_s=3600, chunk_size_fixed=False)
    assert not s.chunk_size_fixed
    fixed = await ledger.fix_chunk_size(s.upload_uuid, 20, 2)
    assert fixed is not None and (fixed.part_size_bytes, fixed.total_chunks) == (20, 2)
    assert fixed.chunk_size_fixed
    assert await ledger.fix_chunk_size(s.upload_uuid, 30, 1) is None  # told already


async def test_objects_listed_and_read_back(objects: Objects) -> None:
    prefix = f"tus/{uuid.uuid4()}/"
    data = bytes(range(256)) * 4096  # 1 MiB

    async def body() -> AsyncIterator[bytes]:
        yield data[:300_000]
        yield data[300_000:]

    await objects.put_object_stream(prefix + "tail", len(data), body())
    assert list(await objects.list_keys(prefix)) == [prefix + "tail"]
    read = b"".join([frame async for frame in objects.get_stream(prefix + "tail")])
    assert read == data
    await objects.delete(prefix + "tail")
    assert await objects.list_keys(prefix) == {}
