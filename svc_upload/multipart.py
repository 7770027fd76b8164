"""Multipart uploads: the client PUTs parts straight to S3 at presigned URLs and registers each
one here; completing makes S3 join exactly the registered parts.

Creating the session (and its first URLs) is in service.py with the proxy's session creation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.errors import Conflict, InvalidArgument
from common.files import ETAG_SPACE
from svc_upload import errors
from svc_upload.completion import Completion
from svc_upload.models import ACTIVE, COMPLETED, COMPLETING, MULTIPART, Part, Session
from svc_upload.rules import (
    list_numbers,
    now,
    presign_expiry_s,
    require_all_parts,
    state_error,
)
from svc_upload.seams import Deps


@dataclass(frozen=True)
class RegisteredPart:
    upload_uuid: str
    part_number: int
    registered_parts: int
    total_chunks: int


@dataclass(frozen=True)
class PresignedParts:
    parts: list[tuple[int, str]]
    expires_at: datetime


def clean_etag(etag: str) -> str | None:
    """The ETag a client reported, unquoted; None when empty or implausibly long."""
    clean = etag.strip(ETAG_SPACE + '"')
    return clean if clean and len(clean) <= 128 else None


def checked_part(session: Session, part_number: int, size_bytes: int, etag: str) -> Part:
    """A part as a client reports it (registered or listed at completion), checked against the
    session: its number in range, its size the one expected, an ETag present."""
    if not 1 <= part_number <= session.total_chunks:
        raise errors.part_out_of_range(
            f"part_number must be between 1 and {session.total_chunks}")
    expected = session.expected_part_size(part_number)
    if size_bytes != expected:
        raise errors.part_size_mismatch(f"part {part_number} must be {expected} bytes")
    clean = clean_etag(etag)
    if clean is None:
        raise InvalidArgument("etag is required (the ETag header S3 returned for the part)")
    return Part(part_number, clean, size_bytes, None)


def require_multipart(session: Session) -> None:
    if session.method != MULTIPART:
        raise errors.upload_not_active("this session is a proxy upload: send chunks instead")


class MultipartParts:
    """Part registration, more presigned URLs and completion of a session already checked to
    be the caller's."""

    def __init__(self, deps: Deps, completion: Completion) -> None:
        self._deps = deps
        self._completion = completion

    async def register_part(self, session: Session, part_number: int, size_bytes: int,
                            etag: str) -> RegisteredPart:
        require_multipart(session)
        clean = checked_part(session, part_number, size_bytes, etag).etag
        if session.state in (COMPLETING, COMPLETED):
            existing = await self._deps.ledger.get_part(session.upload_uuid, part_number)
            if session.state == COMPLETED and existing is not None and existing.etag == clean:
                return RegisteredPart(session.upload_uuid, part_number, session.total_chunks,
                                      session.total_chunks)
            message = "the upload is already completing or complete"
            raise (errors.upload_in_progress(message) if session.state == COMPLETING
                   else Conflict(message))
        error = state_error(session, now())
        if error is not None:
            raise error
        count = await self._deps.ledger.record_part(session.upload_uuid,
                                                    Part(part_number, clean, size_bytes, None))
        if count is None:
            current = await self._deps.ledger.get_session(session.upload_uuid)
            assert current is not None
            raise state_error(current, now()) or errors.upload_in_progress(
                "the upload is already completing or complete")
        return RegisteredPart(session.upload_uuid, part_number, count, session.total_chunks)

    async def record_listed(self, session: Session, listed: list[Part]) -> None:
        """The parts a client lists at completion instead of registering each one: checked as
        registrations are, then recorded, unless one disagrees with a part registered before
        (409, nothing written). A session completing or complete only compares them with its
        parts; one no longer active is left for `complete` to say why."""
        require_multipart(session)
        twice = sorted(n for n, times in Counter(p.part_number for p in listed).items()
                       if times > 1)
        if twice:
            raise InvalidArgument(f"parts listed more than once: {list_numbers(twice)}")
        parts = [checked_part(session, p.part_number, p.size_bytes, p.etag) for p in listed]
        if session.state in (COMPLETING, COMPLETED):
            recorded = await self._deps.ledger.list_parts(session.upload_uuid)
            have = {p.part_number: p for p in recorded}
            conflicts = [p.part_number for p in parts
                         if (p.part_number not in have or (have[p.part_number].etag,
                             have[p.part_number].size_bytes) != (p.etag, p.size_bytes))]
        else:
            conflicts = await self._deps.ledger.record_listed_parts(
                session.upload_uuid, parts) or []
        if conflicts:
            raise Conflict(f"parts {list_numbers(conflicts)} were registered with another ETag "
                           "or size: list them as registered, or register them again")

    async def presign_parts(self, session: Session, part_numbers: list[int]) -> PresignedParts:
        require_multipart(session)
        error = state_error(session, now())
        if error is not None:
            raise error
        if session.state not in ACTIVE:
            raise errors.upload_not_active("the upload is already completing or complete")
        if not part_numbers:  # all parts not yet registered
            have = {p.part_number for p in await self._deps.ledger.list_parts(session.upload_uuid)}
            part_numbers = [n for n in range(1, session.total_chunks + 1) if n not in have]
        numbers = sorted(set(part_numbers))
        bad = [n for n in numbers if not 1 <= n <= session.total_chunks]
        if bad:
            raise errors.part_out_of_range(f"part numbers out of range 1..{session.total_chunks}"
                                           f": {list_numbers(bad)}")
        assert session.storage_upload_id is not None
        expiry = presign_expiry_s(self._deps.rules)
        urls = await self._deps.objects.presign_parts(
            session.storage_key, session.storage_upload_id, numbers, expiry)
        return PresignedParts(list(zip(numbers, urls, strict=True)),
                              now() + timedelta(seconds=expiry))

    async def complete(self, session: Session) -> Session:
        require_multipart(session)
        if session.state == COMPLETED:
            return session
        error = state_error(session, now())
        if error is not None:
            raise error
        if session.state in ACTIVE:
            parts = await self._deps.ledger.list_parts(session.upload_uuid)
            require_all_parts(session, parts)
        claim = await self._deps.ledger.claim_completing(session.upload_uuid, ACTIVE,
                                                         self._deps.rules.completing_lease_s)
        if claim is None:
            return await self._completion.await_completion(session)
        return await self._completion.finish(claim)
