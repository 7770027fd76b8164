"""Which open S3 multipart uploads the reaper aborts (svc_upload.rules.orphaned, issue 22): the
ledger names every session's storage key before any S3 call, so an upload is kept only while a
live session may still use it."""

from __future__ import annotations

import pytest

from svc_upload.models import (
    ABORTED,
    COMPLETED,
    COMPLETING,
    EXPIRED,
    FAILED,
    PENDING,
    UPLOADING,
)
from svc_upload.rules import orphaned


@pytest.mark.parametrize(("state", "recorded", "expected"), [
    (PENDING, None, False),  # being created, or its write failed: swept when it ends
    (UPLOADING, "upload-1", False),  # its own
    (COMPLETING, "upload-1", False),  # being completed
    (PENDING, "upload-2", True),  # not the one it recorded
    (COMPLETING, "upload-2", True),
    (FAILED, None, True),  # the store answered after the service gave up
    (EXPIRED, None, True),
    (ABORTED, "upload-1", True),
    (COMPLETED, "upload-1", True),
])
def test_an_upload_is_kept_only_while_its_live_session_may_use_it(
        state: str, recorded: str | None, expected: bool) -> None:
    assert orphaned("upload-1", state, recorded) is expected


def test_an_upload_at_a_key_no_session_names_is_orphaned() -> None:
    assert orphaned("upload-1", None, None)
