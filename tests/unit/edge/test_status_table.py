"""The one gRPC → HTTP status table (edge/errors.py), tested as a table, and the mapping of a
service's error (status + trailing metadata) into the client's error body and headers."""

from __future__ import annotations

import grpc
import pytest

from common.errors import ERROR_CODE_KEY, RETRY_AFTER_KEY
from edge.errors import from_rpc_error, http_status_for

TABLE = [
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.FAILED_PRECONDITION, 400),
    (grpc.StatusCode.UNAUTHENTICATED, 401),
    (grpc.StatusCode.PERMISSION_DENIED, 403),
    (grpc.StatusCode.NOT_FOUND, 404),
    (grpc.StatusCode.ALREADY_EXISTS, 409),
    (grpc.StatusCode.ABORTED, 409),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.CANCELLED, 499),
    (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    (grpc.StatusCode.INTERNAL, 500),  # with the service's INTERNAL code; bare: see below
    (grpc.StatusCode.UNKNOWN, 500),
    (grpc.StatusCode.UNIMPLEMENTED, 500),
    (grpc.StatusCode.DATA_LOSS, 500),
]


@pytest.mark.parametrize(("code", "status"), TABLE, ids=[c.name for c, _ in TABLE])
def test_status_table(code: grpc.StatusCode, status: int) -> None:
    assert http_status_for(code) == status


def _rpc_error(code: grpc.StatusCode, details: str, *trailers: tuple[str, str]
               ) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers),
                                details=details)


def test_stable_code_from_trailers_is_kept() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.ALREADY_EXISTS, "email taken",
                                      (ERROR_CODE_KEY, "EMAIL_TAKEN")))
    assert (error.status, error.code, error.message) == (409, "EMAIL_TAKEN", "email taken")


def test_unknown_or_missing_code_falls_back_to_the_status_default() -> None:
    assert from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "x",
                                     (ERROR_CODE_KEY, "MADE_UP"))).code == "NOT_FOUND"
    assert from_rpc_error(_rpc_error(grpc.StatusCode.ABORTED, "x")).code == "CONFLICT"


def test_429_carries_retry_after_from_the_service() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down",
                                      (ERROR_CODE_KEY, "TOO_MANY_ATTEMPTS"),
                                      (RETRY_AFTER_KEY, "42")))
    assert (error.status, error.code, error.headers["Retry-After"]) == (
        429, "TOO_MANY_ATTEMPTS", "42")


def test_401_about_the_token_carries_a_bearer_challenge() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.UNAUTHENTICATED, "bad",
                                      (ERROR_CODE_KEY, "TOKEN_EXPIRED")))
    assert error.status == 401
    assert error.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_password_is_400_without_a_bearer_challenge() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad",
                                      (ERROR_CODE_KEY, "INVALID_CREDENTIALS")))
    assert (error.status, error.code) == (400, "INVALID_CREDENTIALS")
    assert "WWW-Authenticate" not in error.headers


def test_internal_details_are_never_sent() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.INTERNAL, "psycopg exploded at line 3",
                                      (ERROR_CODE_KEY, "INTERNAL")))
    assert (error.status, error.code, error.message) == (500, "INTERNAL", "internal error")


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                                  grpc.StatusCode.CANCELLED])
def test_a_call_broken_in_transport_is_unavailable_and_retryable(code: grpc.StatusCode) -> None:
    """A service always names its error code; a bare INTERNAL/UNKNOWN/CANCELLED means the call
    broke (the upload service was killed while a chunk streamed, a files replica went away with
    a listing in flight): 503 UNAVAILABLE + Retry-After, never a 499 to a client still there."""
    error = from_rpc_error(_rpc_error(code, "Received RST_STREAM with error code 2"))
    assert (error.status, error.code) == (503, "UNAVAILABLE")
    assert error.headers["Retry-After"] == "1" and "RST_STREAM" not in error.message


def test_unavailable_message_is_opaque_and_retryable() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, "connect to 10.0.0.3 failed"))
    assert error.status == 503 and "10.0.0.3" not in error.message
    assert error.headers["Retry-After"] == "1"


def test_a_store_out_of_space_is_507_without_retry_after() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "out of space",
                                      (ERROR_CODE_KEY, "STORAGE_FULL")))
    assert (error.status, error.code) == (507, "STORAGE_FULL")
    assert "Retry-After" not in error.headers


def test_a_quota_refusal_is_413_without_retry_after() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "3 bytes free",
                                      (ERROR_CODE_KEY, "QUOTA_EXCEEDED")))
    assert (error.status, error.code, error.message) == (413, "QUOTA_EXCEEDED", "3 bytes free")
    assert "Retry-After" not in error.headers
