"""Pure rules of the client and CLI: retry timing, error classification, exit statuses, part
sizes, download segments and their recorded prefix, size parsing. Everything that talks to a
server is tested against the real stack in the other modules here."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli.app import EXIT_AUTH, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_SERVER, exit_code
from cli.transfer_commands import parse_bytes
from client.downloads import _Frontier, _Prefix, segment_bytes
from client.errors import (
    AuthError,
    NotFoundError,
    ServerError,
    TransportError,
    error_from_response,
)
from client.http import RetryPolicy, retry_after_seconds
from client.uploads import MIB, choose_method, part_size_for


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Fri, 27 Nov 2026 10:00:05 GMT",
                               now=1795773600.0) == pytest.approx(5.0)
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=5, base_delay_s=1.0, max_delay_s=10.0)
    assert policy.delay_s(1, 4.0) == 4.0
    assert policy.delay_s(1, 60.0) == 10.0
    assert 4.0 <= policy.delay_s(4, None) <= 8.0  # 1 × 2³, half of it jittered


@pytest.mark.parametrize(("status", "body", "cls", "code", "exit_status"), [
    (401, {"error": "expired", "code": "TOKEN_EXPIRED", "request_id": "r1"}, AuthError,
     "TOKEN_EXPIRED", EXIT_AUTH),
    # a wrong password: 401 today, 400 once the hardening work lands; both are auth errors
    (400, {"error": "wrong", "code": "INVALID_CREDENTIALS"}, AuthError, "INVALID_CREDENTIALS",
     EXIT_AUTH),
    (404, {"error": "no", "code": "FILE_NOT_FOUND"}, NotFoundError, "FILE_NOT_FOUND",
     EXIT_NOT_FOUND),
    (503, None, ServerError, "UNAVAILABLE", EXIT_SERVER),
    (403, "<Error><Code>AccessDenied</Code></Error>", None, "PERMISSION_DENIED", EXIT_ERROR),
])
def test_error_answers_become_one_exception_with_code_status_and_request_id(
        status: int, body: object, cls: type | None, code: str, exit_status: int) -> None:
    error = error_from_response(status, body, "header-id")
    assert error.status == status and error.code == code
    assert error.request_id == (body.get("request_id", "header-id") if isinstance(body, dict)
                                else "header-id")
    if cls is not None:
        assert isinstance(error, cls)
    assert exit_code(error) == exit_status
    assert f"code={code}" in str(error) and "request_id=" in str(error)


def test_network_errors_exit_like_server_errors() -> None:
    assert exit_code(TransportError("connection refused")) == EXIT_SERVER


def test_auto_picks_proxy_for_small_files_and_multipart_above_the_threshold() -> None:
    assert choose_method("auto", 16 * MIB, 16 * MIB) == "proxy"
    assert choose_method("auto", 16 * MIB + 1, 16 * MIB) == "multipart"
    assert choose_method("proxy", 10**12, 16 * MIB) == "proxy"
    with pytest.raises(ValueError):
        choose_method("ftp", 1, 1)


def test_part_size_grows_so_a_file_fits_in_ten_thousand_parts() -> None:
    assert part_size_for(1024 * MIB, 16 * MIB) == 16 * MIB
    assert part_size_for(10 * MIB, 1) == 5 * MIB
    huge = 200 * 1024 * MIB  # 200 GiB at 16 MiB would be 12,800 parts
    part = part_size_for(huge, 16 * MIB)
    assert part % MIB == 0 and -(-huge // part) <= 10_000


def test_sizes_parse_with_binary_units() -> None:
    assert parse_bytes("16MiB") == 16 * MIB
    assert parse_bytes("512k") == 512 * 1024
    assert parse_bytes("1048576") == MIB
    assert parse_bytes("1.5M") == int(1.5 * MIB)
    with pytest.raises(click.BadParameter):
        parse_bytes("lots")


def test_download_segments_grow_with_the_file_from_8_to_64_mib() -> None:
    assert segment_bytes(1, 4) == 8 * MIB
    assert segment_bytes(64 * MIB, 4) == 8 * MIB
    assert segment_bytes(256 * MIB, 4) == 32 * MIB
    assert segment_bytes(100 * MIB + 1, 1) == 51 * MIB  # whole MiB
    assert segment_bytes(1024 * MIB, 4) == 64 * MIB


def test_the_recorded_prefix_is_what_is_on_disk_from_the_start(tmp_path: Path) -> None:
    """Segments of 16 MiB from 1 MiB (resumed there) of a 41 MiB file; each is written front to
    back, in any order relative to the others. (Records are also spaced in time; not here.)"""
    sidecar = _Prefix(tmp_path / "partial")

    def recorded() -> int:
        return int(sidecar.path.read_text())

    frontier = _Frontier(MIB, 41 * MIB, 16 * MIB, sidecar, every_s=0)
    frontier.written(17 * MIB, 16 * MIB)  # the second segment, whole: not a prefix yet
    assert frontier.prefix == MIB and not sidecar.path.exists()
    frontier.written(MIB, 4 * MIB)
    assert frontier.prefix == 5 * MIB and not sidecar.path.exists()  # recorded every 8 MiB
    frontier.written(MIB, 9 * MIB)
    assert frontier.prefix == 10 * MIB and recorded() == 10 * MIB
    frontier.written(33 * MIB, 2 * MIB)
    frontier.written(MIB, 16 * MIB)  # through the finished second segment into the third
    assert frontier.prefix == 35 * MIB and recorded() == 35 * MIB
    frontier.written(33 * MIB, 8 * MIB)
    assert frontier.prefix == 41 * MIB and recorded() == 41 * MIB
