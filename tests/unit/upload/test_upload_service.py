"""The upload rules (svc_upload/service.py) against in-memory fakes of the ledger, the object
store and the files service. The fakes keep the real adapters' contracts: conditional state
changes, S3's part rules (EntityTooSmall / InvalidPart / NoSuchUpload)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import (
    Conflict,
    FailedPrecondition,
    GoVaultError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from common.files import validate_file_name as validate_name
from svc_upload.config import UploadRules
from svc_upload.models import (
    ABORTED,
    ACTIVE,
    COMPLETED,
    COMPLETING,
    EXPIRED,
    FAILED,
    UPLOADING,
    Part,
    Session,
)
from svc_upload.rules import composite_checksum, proxy_chunk_size, validate_size
from svc_upload.seams import Deps
from svc_upload.service import UploadService
from tests.fakes.upload import FakeFiles, FakeLedger, FakeObjects

MIB = 1024 * 1024
OWNER = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"


def now() -> datetime:
    return datetime.now(UTC)


RULES = UploadRules(chunk_size_bytes=4 * MIB, max_file_size_bytes=100 * MIB,
                    session_ttl_s=3600, presign_expiry_s=900, completing_lease_s=30,
                    completion_wait_s=5)


@dataclass
class World:
    ledger: FakeLedger
    objects: FakeObjects
    files: FakeFiles
    service: UploadService


@pytest.fixture
def world() -> World:
    ledger, files = FakeLedger(), FakeFiles()
    objects = FakeObjects(min_part=RULES.chunk_size_bytes)  # this test config uses 4 MiB chunks
    return World(ledger, objects, files, UploadService(Deps(ledger, objects, files, RULES)))


class Frames:
    """A gRPC-like stream of data frames that records how much was consumed."""

    def __init__(self, data: bytes, frame: int = 256 * 1024) -> None:
        self.data = data
        self.frame = frame
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.frame):
            piece = self.data[i:i + self.frame]
            self.consumed += len(piece)
            yield piece


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def send(w: World, uid: str, index: int, data: bytes, *, owner: str = OWNER,
               checksum: str | None = None, length: int | None = None) -> object:
    frames = Frames(data)
    return await w.service.upload_chunk(
        owner, uid, index, sha(data) if checksum is None else checksum,
        len(data) if length is None else length, frames.__aiter__())


# validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", " ", "a/b", "a\\b", "a\x00b", "a\nb", "x" * 256, "..",
                                  "a\x7fb"])
def test_bad_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_name(name)


@pytest.mark.parametrize("name", ["report.pdf", "x" * 255, "naïve 😀 file (1).tar.gz"])
def test_good_names_pass(name: str) -> None:
    assert validate_name(name) == name


def test_sizes() -> None:
    with pytest.raises(InvalidArgument):
        validate_size(-1, 10)
    assert validate_size(0, 10) == 0  # an empty file
    with pytest.raises(InvalidArgument) as err:
        validate_size(11, 10)
    assert err.value.code == "FILE_TOO_LARGE"
    assert validate_size(10, 10) == 10


def test_composite_checksum_is_sha256_of_digests_with_count() -> None:
    a, b = b"a" * 10, b"b" * 3
    expected = hashlib.sha256(hashlib.sha256(a).digest() + hashlib.sha256(b).digest())
    assert composite_checksum([sha(a), sha(b)]) == expected.hexdigest() + "-2"


def test_proxy_chunk_size_rule() -> None:
    gib = 1024 * MIB
    assert proxy_chunk_size(None, 5 * MIB, 7 * MIB) == 5 * MIB  # the default
    assert proxy_chunk_size(None, 5 * MIB, 10_000 * 5 * MIB) == 5 * MIB
    # a file that needs more than 10,000 default chunks: the default grows to a MiB multiple
    assert proxy_chunk_size(None, 5 * MIB, 10_000 * 5 * MIB + 1) == 6 * MIB
    for chosen in (5 * MIB, 8 * MIB, 5 * gib):
        assert proxy_chunk_size(chosen, 5 * MIB, MIB) == chosen
    for bad in (0, -1, 5 * MIB - 1, 5 * gib + 1):
        with pytest.raises(InvalidArgument) as err:
            proxy_chunk_size(bad, 5 * MIB, MIB)
        assert err.value.code == "INVALID_ARGUMENT"
    assert proxy_chunk_size(5 * MIB, 5 * MIB, 10_000 * 5 * MIB) == 5 * MIB
    with pytest.raises(InvalidArgument) as err:
        proxy_chunk_size(5 * MIB, 5 * MIB, 10_000 * 5 * MIB + 1)
    assert err.value.code == "CHUNK_OUT_OF_RANGE"


# proxy --------------------------------------------------------------------------------------


async def test_proxy_session_shape(world: World) -> None:
    one = await world.service.create_proxy_session(OWNER, "a.bin", 4 * MIB)
    assert one.session.total_chunks == 1 and one.session.storage_upload_id is None
    three = await world.service.create_proxy_session(OWNER, "b.bin", 8 * MIB + 1)
    assert three.session.total_chunks == 3 and three.session.storage_upload_id
    assert three.session.storage_key == f"users/{OWNER}/{three.session.file_id}"
    assert three.session.part_size_bytes == RULES.chunk_size_bytes
    chosen = await world.service.create_proxy_session(OWNER, "c.bin", 12 * MIB, 5 * MIB)
    assert (chosen.session.part_size_bytes, chosen.session.total_chunks) == (5 * MIB, 3)


async def test_one_chunk_upload_is_registered_once(world: World) -> None:
    data = b"z" * MIB
    s = (await world.service.create_proxy_session(OWNER, "a.txt", len(data))).session
    result = await send(world, s.upload_uuid, 0, data)
    assert result.state == COMPLETED and result.file_id == s.file_id  # type: ignore[attr-defined]
    reg = world.files.registered[s.upload_uuid]
    assert (reg.size_bytes, reg.checksum, reg.mime_type) == (len(data), sha(data), "text/plain")
    assert world.objects.objects[s.storage_key] == data
    assert world.ledger.sessions[s.upload_uuid].state == COMPLETED


async def test_an_empty_file_is_one_empty_chunk_or_part(world: World) -> None:
    proxy = (await world.service.create_proxy_session(OWNER, "empty.txt", 0)).session
    assert (proxy.total_chunks, proxy.storage_upload_id) == (1, None)
    result = await send(world, proxy.upload_uuid, 0, b"")
    assert result.state == COMPLETED  # type: ignore[attr-defined]
    reg = world.files.registered[proxy.upload_uuid]
    assert (reg.size_bytes, reg.checksum) == (0, sha(b""))
    multipart = await world.service.create_multipart_session(OWNER, "empty.bin", 0, 16 * MIB)
    assert multipart.session.total_chunks == 1 and [n for n, _ in multipart.parts] == [1]
    assert multipart.session.part_size_bytes == 16 * MIB
    assert multipart.session.expected_part_size(1) == 0


async def test_checksum_mismatch_keeps_nothing(world: World) -> None:
    data = b"q" * MIB
    s = (await world.service.create_proxy_session(OWNER, "a", len(data))).session
    with pytest.raises(InvalidArgument) as err:
        await send(world, s.upload_uuid, 0, data, checksum=sha(b"other"))
    assert err.value.code == "CHECKSUM_MISMATCH"
    assert world.objects.objects == {} and world.files.calls == 0
    assert world.ledger.parts[s.upload_uuid] == {}
    assert world.ledger.sessions[s.upload_uuid].state in ACTIVE
    assert (await send(world, s.upload_uuid, 0, data)).state == COMPLETED  # type: ignore[attr-defined]


async def test_multi_chunk_checksum_mismatch_forgets_the_chunk(world: World) -> None:
    data = b"1" * (4 * MIB) + b"2" * 10
    s = (await world.service.create_proxy_session(OWNER, "a", len(data))).session
    await send(world, s.upload_uuid, 0, data[:4 * MIB])
    with pytest.raises(InvalidArgument):
        await send(world, s.upload_uuid, 0, b"x" * (4 * MIB), checksum=sha(b"nope"))
    assert 1 not in world.ledger.parts[s.upload_uuid]


async def test_too_long_chunk_stops_reading_early(world: World) -> None:
    s = (await world.service.create_proxy_session(OWNER, "a", 8 * MIB)).session
    frames = Frames(b"x" * (12 * MIB))
    with pytest.raises(InvalidArgument) as err:
        await world.service.upload_chunk(OWNER, s.upload_uuid, 0, "", -1, frames.__aiter__())
    assert err.value.code == "CHUNK_TOO_LARGE"
    assert frames.consumed <= 4 * MIB + frames.frame
    with pytest.raises(InvalidArgument) as err:
        await send(world, s.upload_uuid, 0, b"x" * (5 * MIB))  # declared length
    assert err.value.code == "CHUNK_TOO_LARGE"


async def test_short_chunk_and_out_of_range(world: World) -> None:
    s = (await world.service.create_proxy_session(OWNER, "a", 8 * MIB)).session
    with pytest.raises(InvalidArgument) as err:
        await send(world, s.upload_uuid, 1, b"x" * MIB, length=-1)
    assert err.value.code == "CHUNK_SIZE_MISMATCH"
    for index in (-1, 2):
        with pytest.raises(InvalidArgument) as err:
            await send(world, s.upload_uuid, index, b"x")
        assert err.value.code == "CHUNK_OUT_OF_RANGE"
    assert world.ledger.parts[s.upload_uuid] == {}


async def test_unknown_malformed_and_foreign_sessions(world: World) -> None:
    s = (await world.service.create_proxy_session(OWNER, "a", 10)).session
    with pytest.raises(NotFound):
        await send(world, s.upload_uuid, 0, b"x" * 10, owner=OTHER)
    with pytest.raises(NotFound):
        await world.service.get_status(OTHER, s.upload_uuid)
    with pytest.raises(NotFound):
        await send(world, str(uuid.uuid4()), 0, b"x")
    with pytest.raises(InvalidArgument):
        await send(world, "nope", 0, b"x")


async def test_out_of_order_chunks_complete_with_composite_checksum(world: World) -> None:
    pieces = [bytes([i]) * (4 * MIB) for i in range(2)] + [b"end"]
    s = (await world.service.create_proxy_session(OWNER, "a", sum(map(len, pieces)))).session
    for i in (2, 0):
        assert (await send(world, s.upload_uuid, i, pieces[i])).state == UPLOADING  # type: ignore[attr-defined]
    status = await world.service.get_status(OWNER, s.upload_uuid)
    assert status.received == [0, 2]
    done = await send(world, s.upload_uuid, 1, pieces[1])
    assert done.state == COMPLETED  # type: ignore[attr-defined]
    assert world.objects.objects[s.storage_key] == b"".join(pieces)
    assert world.files.registered[s.upload_uuid].checksum == composite_checksum(
        [sha(p) for p in pieces])


async def test_concurrent_last_chunks_make_one_file(world: World) -> None:
    pieces = [b"a" * (4 * MIB), b"b" * (4 * MIB), b"c"]
    s = (await world.service.create_proxy_session(OWNER, "a", sum(map(len, pieces)))).session
    await send(world, s.upload_uuid, 0, pieces[0])
    results = await asyncio.gather(send(world, s.upload_uuid, 1, pieces[1]),
                                   send(world, s.upload_uuid, 2, pieces[2]),
                                   send(world, s.upload_uuid, 2, pieces[2]))
    completed = [r for r in results if r.state == COMPLETED]  # type: ignore[attr-defined]
    assert completed and {r.file_id for r in completed} == {s.file_id}  # type: ignore[attr-defined]
    assert world.files.calls == 1 and world.objects.completes == 1


async def test_concurrent_single_chunks_one_writer(world: World) -> None:
    data = b"s" * 1000
    s = (await world.service.create_proxy_session(OWNER, "a", len(data))).session
    results = await asyncio.gather(*(send(world, s.upload_uuid, 0, data) for _ in range(4)))
    assert {r.file_id for r in results} == {s.file_id}  # type: ignore[attr-defined]
    assert world.files.calls == 1


async def test_replay_after_completion(world: World) -> None:
    data = b"r" * 100
    s = (await world.service.create_proxy_session(OWNER, "a", len(data))).session
    await send(world, s.upload_uuid, 0, data)
    again = await send(world, s.upload_uuid, 0, data)
    assert again.state == COMPLETED and again.file_id == s.file_id  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        await send(world, s.upload_uuid, 0, b"R" * 100)
    assert world.files.calls == 1


async def test_resent_chunk_newest_wins(world: World) -> None:
    s = (await world.service.create_proxy_session(OWNER, "a", 4 * MIB + 1)).session
    await send(world, s.upload_uuid, 0, b"1" * (4 * MIB))
    await send(world, s.upload_uuid, 0, b"2" * (4 * MIB))
    await send(world, s.upload_uuid, 1, b"!")
    assert world.objects.objects[s.storage_key] == b"2" * (4 * MIB) + b"!"


async def test_registration_failure_is_retried_by_the_next_call(world: World) -> None:
    data = b"f" * 10
    s = (await world.service.create_proxy_session(OWNER, "a", len(data))).session
    world.files.fail_next = 1
    with pytest.raises(Unavailable):
        await send(world, s.upload_uuid, 0, data)
    assert world.ledger.sessions[s.upload_uuid].state == COMPLETING  # object kept, lease lapsed
    result = await send(world, s.upload_uuid, 0, data)  # the client retries: taken over
    assert result.state == COMPLETED and world.files.calls == 2  # type: ignore[attr-defined]
    assert len(world.files.registered) == 1


# multipart ----------------------------------------------------------------------------------


async def test_multipart_session_rules(world: World) -> None:
    one = await world.service.create_multipart_session(OWNER, "a", MIB, 100 * MIB)
    assert one.session.total_chunks == 1 and one.session.part_size_bytes == MIB
    assert [n for n, _ in one.parts] == [1]
    for size, part, code in ((20 * MIB, MIB, "PART_TOO_SMALL"),
                             (99 * MIB, 5 * MIB - 1, "PART_TOO_SMALL"),
                             (20 * MIB, 0, "INVALID_ARGUMENT")):
        with pytest.raises(GoVaultError) as err:
            await world.service.create_multipart_session(OWNER, "a", size, part)
        assert err.value.code == code
    big = UploadService(Deps(world.ledger, world.objects, world.files,
                             RULES.model_copy(update={"max_file_size_bytes": 10**15})))
    with pytest.raises(InvalidArgument) as err:
        await big.create_multipart_session(OWNER, "a", 10_001 * 5 * MIB, 5 * MIB)
    assert err.value.code == "PART_OUT_OF_RANGE"
    with pytest.raises(InvalidArgument):
        await big.create_multipart_session(OWNER, "a", 6 * 1024 * MIB, 6 * 1024 * MIB)


async def multipart(world: World, pieces: list[bytes]) -> Session:
    size = sum(map(len, pieces))
    new = await world.service.create_multipart_session(OWNER, "a.bin", size, len(pieces[0]))
    return new.session


async def put_and_register(world: World, s: Session, number: int, data: bytes,
                           size: int | None = None) -> str:
    assert s.storage_upload_id is not None
    etag = world.objects.client_put(s.storage_upload_id, number, data)
    await world.service.register_part(OWNER, s.upload_uuid, number,
                                      len(data) if size is None else size, f'"{etag}"')
    return etag


async def test_multipart_complete_missing_twice_and_concurrently(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"c" * 7]
    s = await multipart(world, pieces)
    for n in (3, 1):
        await put_and_register(world, s, n, pieces[n - 1])
    await put_and_register(world, s, 3, pieces[2])  # twice: fine
    with pytest.raises(FailedPrecondition) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "PARTS_MISSING" and "parts: 2" in err.value.message
    await put_and_register(world, s, 2, pieces[1])
    results = await asyncio.gather(*(world.service.complete_multipart(OWNER, s.upload_uuid)
                                     for _ in range(5)))
    assert {r.file_id for r in results} == {s.file_id}
    assert world.files.calls == 1 and world.objects.completes == 1
    again = await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert again.file_id == s.file_id and again.result_checksum.endswith("-3")  # type: ignore[union-attr]
    assert again.result_size_bytes == sum(map(len, pieces))


async def test_parts_listed_at_completion_need_no_registration(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"c" * 7]
    s = await multipart(world, pieces)
    assert s.storage_upload_id is not None
    etags = [world.objects.client_put(s.storage_upload_id, n, p)
             for n, p in enumerate(pieces, start=1)]
    await put_and_register(world, s, 2, pieces[1])  # registered and listed alike: fine
    listed = [Part(n, f'"{e}"', len(p), None)
              for n, (e, p) in enumerate(zip(etags, pieces, strict=True), start=1)]
    done = await world.service.complete_multipart(OWNER, s.upload_uuid, listed[::-1])
    assert done.state == COMPLETED and done.result_size_bytes == sum(map(len, pieces))
    assert world.files.calls == 1 and world.objects.completes == 1
    again = await world.service.complete_multipart(OWNER, s.upload_uuid, listed)  # repeated
    assert again.file_id == done.file_id
    with pytest.raises(Conflict) as err:  # after completion: compared with what was completed
        await world.service.complete_multipart(
            OWNER, s.upload_uuid, [Part(3, "other", 7, None)])
    assert err.value.code == "CONFLICT" and "parts 3 " in err.value.message


async def test_listed_parts_that_disagree_with_registered_ones_write_nothing(
        world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b" * 3]
    s = await multipart(world, pieces)
    etag = await put_and_register(world, s, 1, pieces[0])
    with pytest.raises(Conflict) as err:
        await world.service.complete_multipart(
            OWNER, s.upload_uuid, [Part(1, "not-" + etag, 5 * MIB, None), Part(2, "e2", 3, None)])
    assert err.value.code == "CONFLICT" and "parts 1 " in err.value.message
    assert sorted(world.ledger.parts[s.upload_uuid]) == [1]  # part 2 was not recorded
    assert world.ledger.sessions[s.upload_uuid].state == UPLOADING
    with pytest.raises(FailedPrecondition) as missing:  # listing some parts is not all parts
        await world.service.complete_multipart(OWNER, s.upload_uuid, [Part(1, etag, 5 * MIB,
                                                                           None)])
    assert missing.value.code == "PARTS_MISSING"


async def test_listed_parts_are_checked_like_registrations(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b"]
    s = await multipart(world, pieces)
    for listed, code in (([Part(3, "e", 1, None)], "PART_OUT_OF_RANGE"),
                         ([Part(2, "e", 2, None)], "PART_SIZE_MISMATCH"),
                         ([Part(2, '""', 1, None)], "INVALID_ARGUMENT"),
                         ([Part(2, "e", 1, None), Part(2, "f", 1, None)], "INVALID_ARGUMENT")):
        with pytest.raises(InvalidArgument) as err:
            await world.service.complete_multipart(OWNER, s.upload_uuid, listed)
        assert err.value.code == code
    assert world.ledger.parts[s.upload_uuid] == {}
    with pytest.raises(NotFound):
        await world.service.complete_multipart(OTHER, s.upload_uuid, [Part(2, "e", 1, None)])
    await world.service.abort(OWNER, s.upload_uuid)
    with pytest.raises(Conflict) as aborted:
        await world.service.complete_multipart(OWNER, s.upload_uuid, [Part(2, "e", 1, None)])
    assert aborted.value.code == "UPLOAD_ABORTED"


async def test_register_part_validation(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b"]
    s = await multipart(world, pieces)
    for number, size, code in ((0, 1, "PART_OUT_OF_RANGE"), (3, 1, "PART_OUT_OF_RANGE"),
                               (1, 5 * MIB - 1, "PART_SIZE_MISMATCH"),
                               (2, 2, "PART_SIZE_MISMATCH")):
        with pytest.raises(InvalidArgument) as err:
            await world.service.register_part(OWNER, s.upload_uuid, number, size, "e")
        assert err.value.code == code
    with pytest.raises(InvalidArgument):
        await world.service.register_part(OWNER, s.upload_uuid, 2, 1, '""')
    r = await world.service.register_part(OWNER, s.upload_uuid, 2, 1, "one")
    r = await world.service.register_part(OWNER, s.upload_uuid, 2, 1, "two")
    assert r.registered_parts == 1
    assert world.ledger.parts[s.upload_uuid][2].etag == "two"
    with pytest.raises(NotFound):
        await world.service.register_part(OTHER, s.upload_uuid, 2, 1, "x")


async def test_small_part_is_fixable(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b" * 3]
    s = await multipart(world, pieces)
    await put_and_register(world, s, 1, b"a" * MIB, size=5 * MIB)  # lies about the size
    await put_and_register(world, s, 2, pieces[1])
    with pytest.raises(FailedPrecondition) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "PART_TOO_SMALL"
    assert world.ledger.sessions[s.upload_uuid].state == UPLOADING
    await put_and_register(world, s, 1, pieces[0])
    done = await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert done.state == COMPLETED


async def test_unknown_etag_is_part_not_uploaded(world: World) -> None:
    s = await multipart(world, [b"a" * 10])
    await world.service.register_part(OWNER, s.upload_uuid, 1, 10, "made-up")
    with pytest.raises(FailedPrecondition) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "PART_NOT_UPLOADED"
    assert world.ledger.sessions[s.upload_uuid].state == UPLOADING


async def test_size_mismatch_fails_and_deletes(world: World) -> None:
    pieces = [b"a" * (5 * MIB), b"b" * 3]
    s = await multipart(world, pieces)
    await put_and_register(world, s, 1, pieces[0])
    await put_and_register(world, s, 2, b"bb", size=3)  # a short last part
    with pytest.raises(InvalidArgument) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "PART_SIZE_MISMATCH"
    assert world.ledger.sessions[s.upload_uuid].state == FAILED
    assert s.storage_key not in world.objects.objects and world.files.calls == 0
    with pytest.raises(Conflict) as err2:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err2.value.code == "UPLOAD_FAILED"


async def test_abort(world: World) -> None:
    s = await multipart(world, [b"a" * 10])
    await put_and_register(world, s, 1, b"a" * 10)
    await world.service.abort(OWNER, s.upload_uuid)
    await world.service.abort(OWNER, s.upload_uuid)  # idempotent
    assert s.storage_upload_id in world.objects.aborted
    with pytest.raises(Conflict) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "UPLOAD_ABORTED"
    with pytest.raises(Conflict):
        await world.service.register_part(OWNER, s.upload_uuid, 1, 10, "x")
    p = (await world.service.create_proxy_session(OWNER, "a", 10)).session
    await world.service.abort(OWNER, p.upload_uuid)
    with pytest.raises(Conflict) as err:
        await send(world, p.upload_uuid, 0, b"x" * 10)
    assert err.value.code == "UPLOAD_ABORTED"


async def test_stale_completing_claim_is_taken_over(world: World) -> None:
    s = await multipart(world, [b"a" * 10])
    await put_and_register(world, s, 1, b"a" * 10)
    claim = await world.ledger.claim_completing(s.upload_uuid, ACTIVE, 30)
    assert claim is not None  # a holder that crashed here
    with pytest.raises(Conflict) as err:  # fresh claim: wait, then "in progress"
        await UploadService(Deps(world.ledger, world.objects, world.files,
                                 RULES.model_copy(update={"completion_wait_s": 0.1}))
                            ).complete_multipart(
            OWNER, s.upload_uuid)
    assert err.value.code == "UPLOAD_IN_PROGRESS"
    world.ledger.age(s.upload_uuid, claimed_at=now() - timedelta(seconds=60))
    done = await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert done.state == COMPLETED and world.files.calls == 1


async def test_takeover_after_store_completed_but_before_record(world: World) -> None:
    s = await multipart(world, [b"a" * 10])
    await put_and_register(world, s, 1, b"a" * 10)
    claim = await world.ledger.claim_completing(s.upload_uuid, ACTIVE, 30)
    assert claim is not None and claim.storage_upload_id
    await world.objects.complete_multipart(s.storage_key, claim.storage_upload_id,
                                           [(1, world.ledger.parts[s.upload_uuid][1].etag)])
    world.ledger.age(s.upload_uuid, claimed_at=now() - timedelta(seconds=60))
    outcome = await world.service.finish_stuck(world.ledger.sessions[s.upload_uuid])
    assert outcome == COMPLETED and world.files.calls == 1  # NoSuchUpload → stat → register


# expiry -------------------------------------------------------------------------------------


async def test_expire_aborts_only_inactive_sessions(world: World) -> None:
    s = await multipart(world, [b"a" * 10])
    world.ledger.age(s.upload_uuid, expires_at=now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as err:
        await world.service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "UPLOAD_EXPIRED"
    assert (await world.service.get_status(OWNER, s.upload_uuid)).session.state == EXPIRED
    assert await world.service.expire(world.ledger.sessions[s.upload_uuid]) is True
    assert world.ledger.sessions[s.upload_uuid].state == EXPIRED
    assert not await world.objects.multipart_exists(s.storage_key, s.storage_upload_id or "")

    busy = await multipart(world, [b"b" * 10])
    await world.ledger.claim_completing(busy.upload_uuid, ACTIVE, 30)
    assert await world.service.expire(world.ledger.sessions[busy.upload_uuid]) is False
    assert await world.objects.multipart_exists(busy.storage_key, busy.storage_upload_id or "")
    assert world.ledger.sessions[busy.upload_uuid].state == COMPLETING
    assert ABORTED not in {x.state for x in world.ledger.sessions.values()}


async def _taken_over_and_given_back(world: World, upload_uuid: str) -> None:
    """What a slow holder's lapsed lease allows: another caller takes the claim over and gives it
    back to `uploading` (nothing to finish yet, or the client must fix something)."""
    taken = await world.ledger.claim_completing(upload_uuid, (), -1.0)  # lease lapsed
    assert taken is not None and taken.claim_token is not None
    await world.ledger.release_claim(upload_uuid, taken.claim_token, UPLOADING)


async def test_a_one_chunk_writer_whose_claim_was_taken_over_registers_nothing(
        world: World) -> None:
    """The claim lapses while the bytes stream (a slow store) and the reaper takes it over and
    gives it back (no part recorded yet). The first writer must not register a file: the session
    may now be aborted or expire, and its object be deleted under the row (fault injection)."""
    data = b"q" * MIB
    s = (await world.service.create_proxy_session(OWNER, "slow.bin", len(data))).session
    put = world.objects.put_object_stream

    async def slow_put(key: str, length: int, body: AsyncIterator[bytes]) -> str:
        etag = await put(key, length, body)
        await _taken_over_and_given_back(world, s.upload_uuid)
        return etag

    world.objects.put_object_stream = slow_put  # type: ignore[method-assign]
    with pytest.raises(Conflict) as caught:
        await send(world, s.upload_uuid, 0, data)
    assert caught.value.code == "UPLOAD_IN_PROGRESS"
    assert world.files.registered == {}
    assert world.ledger.sessions[s.upload_uuid].state == UPLOADING
    world.objects.put_object_stream = put  # type: ignore[method-assign]
    result = await send(world, s.upload_uuid, 0, data)  # the client's retry completes it
    assert result.state == COMPLETED  # type: ignore[attr-defined]
    assert world.files.registered[s.upload_uuid]


async def test_a_completion_whose_claim_was_taken_over_registers_nothing(world: World) -> None:
    """Multipart: the store's complete outlasts the lease; another caller takes the claim over
    and gives it back (the client must fix something). The first holder must not register a
    file for a session that is active again (its object may yet be replaced or deleted)."""
    s = await multipart(world, [b"a" * 10])
    await put_and_register(world, s, 1, b"a" * 10)
    complete = world.objects.complete_multipart

    async def slow_complete(key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        etag = await complete(key, upload_id, parts)
        await asyncio.sleep(0.1)  # longer than the lease below
        await _taken_over_and_given_back(world, s.upload_uuid)
        return etag

    world.objects.complete_multipart = slow_complete  # type: ignore[method-assign]
    short_lease = UploadService(Deps(world.ledger, world.objects, world.files,
                                     RULES.model_copy(update={"completing_lease_s": 0.05})))
    with pytest.raises(FailedPrecondition):  # the session is active again: re-check, retry
        await short_lease.complete_multipart(OWNER, s.upload_uuid)
    assert world.files.registered == {}
    assert world.ledger.sessions[s.upload_uuid].state == UPLOADING
