"""Quota reservations as the upload rules make them (svc_upload/service.py, completion.py),
against the in-memory fakes: reserved at session creation before any S3 work, released when a
session ends without a file, converted (by RegisterFile) when it completes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import InvalidArgument, QuotaExceeded, Unavailable
from svc_upload.config import UploadRules
from svc_upload.models import FAILED
from svc_upload.seams import Deps
from svc_upload.service import UploadService
from tests.fakes.upload import FakeFiles, FakeLedger, FakeObjects

OWNER = "11111111-1111-4111-8111-111111111111"
RULES = UploadRules(chunk_size_bytes=5 * 1024 * 1024, max_file_size_bytes=10**9,
                    session_ttl_s=3600, presign_expiry_s=900, completing_lease_s=30,
                    completion_wait_s=5)


def make(quota: int) -> tuple[UploadService, FakeLedger, FakeObjects, FakeFiles]:
    ledger, objects, files = FakeLedger(), FakeObjects(), FakeFiles(quota)
    return UploadService(Deps(ledger, objects, files, RULES)), ledger, objects, files


async def frames(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_session_reserves_its_size_and_completion_converts_it() -> None:
    service, _, _, files = make(quota=100)
    new = await service.create_proxy_session(OWNER, "a.txt", 60)
    assert files.held(OWNER) == 60
    data = b"x" * 60
    await service.upload_chunk(OWNER, new.session.upload_uuid, 0,
                               hashlib.sha256(data).hexdigest(), 60, frames(data))
    assert files.held(OWNER) == 0 and files.used[OWNER] == 60


async def test_over_quota_is_refused_before_any_store_work() -> None:
    service, ledger, objects, files = make(quota=100)
    await service.create_multipart_session(OWNER, "a.bin", 60, 60)
    uploads_before = len(objects.uploads)
    with pytest.raises(QuotaExceeded) as err:
        await service.create_multipart_session(OWNER, "b.bin", 41, 41)
    assert err.value.code == "QUOTA_EXCEEDED" and "40 bytes free" in err.value.message
    assert len(objects.uploads) == uploads_before  # no S3 multipart upload for it
    refused = [s for s in ledger.sessions.values() if s.file_name == "b.bin"]
    assert [s.state for s in refused] == [FAILED]
    assert files.held(OWNER) == 60
    await service.create_proxy_session(OWNER, "c.txt", 40)  # exactly what is left fits


async def test_abort_and_expiry_release_the_reservation() -> None:
    service, ledger, _, files = make(quota=100)
    aborted = (await service.create_multipart_session(OWNER, "a.bin", 50, 50)).session
    expired = (await service.create_proxy_session(OWNER, "b.txt", 50)).session
    await service.abort(OWNER, aborted.upload_uuid)
    ledger.age(expired.upload_uuid, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await service.expire(ledger.sessions[expired.upload_uuid])
    assert files.held(OWNER) == 0
    assert {aborted.upload_uuid, expired.upload_uuid} <= set(files.released)


async def test_more_bytes_than_declared_fail_keep_nothing_and_release() -> None:
    service, ledger, objects, files = make(quota=100)
    s = (await service.create_multipart_session(OWNER, "a.bin", 10, 10)).session
    assert s.storage_upload_id is not None
    etag = objects.client_put(s.storage_upload_id, 1, b"y" * 12)  # sent 12, declared 10
    await service.register_part(OWNER, s.upload_uuid, 1, 10, f'"{etag}"')
    with pytest.raises(InvalidArgument) as err:
        await service.complete_multipart(OWNER, s.upload_uuid)
    assert err.value.code == "PART_SIZE_MISMATCH"
    assert ledger.sessions[s.upload_uuid].state == FAILED
    assert s.storage_key not in objects.objects and not files.registered
    assert files.held(OWNER) == 0 and files.used.get(OWNER, 0) == 0


async def test_a_failed_reservation_fails_the_session_and_releases_what_it_may_have_held(
) -> None:
    service, ledger, _, files = make(quota=0)

    async def down(user_id: str, upload_uuid: str, size_bytes: int) -> None:
        files.reserved[upload_uuid] = (user_id, size_bytes)  # recorded, then the answer lost
        raise Unavailable("files service down")

    files.reserve_quota = down  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await service.create_proxy_session(OWNER, "a.txt", 10)
    assert [s.state for s in ledger.sessions.values()] == [FAILED]
    assert files.held(OWNER) == 0
