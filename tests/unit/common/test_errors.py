"""The error catalog (`common.errors.CODES`) is the one source of every code's statuses: a
service's error travels with its code's gRPC status, the edge answers its code's HTTP status, and
a calling service gets the same kind and code back. Every named constructor raises its code with
the code's kind, and no raise site outside an `errors.py` spells a code. (Over the real stack:
tests/e2e/test_error_catalog.py.)"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import grpc
import pytest

from common import errors as common_errors
from common.errors import (
    CODES,
    ERROR_CODE_KEY,
    GENERIC,
    KINDS,
    Conflict,
    FailedPrecondition,
    GoVaultError,
    InvalidArgument,
    kind_of,
)
from common.grpc.client import rpc_error_to_domain
from common.grpc.server import grpc_status_for
from edge.errors import from_rpc_error
from svc_auth import errors as auth_errors
from svc_files import errors as files_errors
from svc_upload import errors as upload_errors

ROOT = Path(__file__).resolve().parents[3]
# every code some kind of domain error is sent with (not the edge's own, not TIMEOUT/CANCELLED)
SENT_BY_SERVICES = sorted(code for code, entry in CODES.items()
                          if entry.grpc in {CODES[kind.default_code].grpc for kind in KINDS})
# what a calling service keeps as the callee's answer (the rest is Unavailable to it)
CALLERS_FAULT = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "ALREADY_EXISTS",
                 "ABORTED", "RESOURCE_EXHAUSTED"}


def _rpc_error(exc: GoVaultError) -> grpc.aio.AioRpcError:
    status, details, trailers = grpc_status_for(exc)
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers),
                                details=details)


@pytest.mark.parametrize("code", SENT_BY_SERVICES)
def test_a_service_error_reaches_the_client_with_the_catalog_statuses(code: str) -> None:
    exc = kind_of(code)("it failed", code)
    status, _, trailers = grpc_status_for(exc)
    assert status.name == CODES[code].grpc
    assert (ERROR_CODE_KEY, code) in trailers
    answer = from_rpc_error(_rpc_error(exc))
    assert answer.status == CODES[code].http
    assert answer.code == code


@pytest.mark.parametrize("code", SENT_BY_SERVICES)
def test_a_calling_service_gets_the_same_kind_and_code_back(code: str) -> None:
    exc = kind_of(code)("it failed", code)
    back = rpc_error_to_domain(_rpc_error(exc), "files")
    if CODES[code].grpc in CALLERS_FAULT:
        assert (type(back), back.code) == (type(exc), code)
    else:
        assert back.code == "UNAVAILABLE"


def test_a_bare_status_stands_for_its_one_generic_code() -> None:
    generic = [entry.grpc for entry in CODES.values() if entry.generic]
    assert len(generic) == len(set(generic)) == len(GENERIC)
    for status, code in GENERIC.items():
        if status in ("INTERNAL", "CANCELLED"):
            continue  # bare, it is a call broken in transport: 503 (test_status_table.py)
        bare = grpc.aio.AioRpcError(grpc.StatusCode[status], grpc.aio.Metadata(),
                                    grpc.aio.Metadata(), details="x")
        assert (from_rpc_error(bare).status, from_rpc_error(bare).code) == (
            CODES[code].http, code)


def test_every_kind_has_a_generic_default_code_but_the_two_of_space() -> None:
    """The user's quota and the store's disk: neither helped by waiting, each its own kind."""
    for kind in KINDS:
        assert kind_of(kind.default_code) is kind
        assert CODES[kind.default_code].generic or kind.default_code in ("QUOTA_EXCEEDED",
                                                                         "STORAGE_FULL")


def test_a_code_raised_with_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="UPLOAD_NOT_ACTIVE cannot be raised as Conflict"):
        Conflict("the upload is already complete", "UPLOAD_NOT_ACTIVE")
    assert kind_of("UPLOAD_NOT_ACTIVE") is FailedPrecondition
    with pytest.raises(ValueError, match="INVALID_JSON cannot be raised"):
        InvalidArgument("bad JSON", "INVALID_JSON")  # the edge's own
    with pytest.raises(ValueError, match="MADE_UP cannot be raised"):
        FailedPrecondition("x", "MADE_UP")
    with pytest.raises(ValueError, match="no service raises TIMEOUT"):
        kind_of("TIMEOUT")


def _constructors(module: ModuleType) -> list[Callable[..., GoVaultError]]:
    return [fn for name, fn in vars(module).items()
            if inspect.isfunction(fn) and fn.__module__ == module.__name__
            and not name.startswith("_") and name != "kind_of"]


SAMPLES: dict[str, object] = {"str": "x", "int": 1, "bool": True, "Iterable[str]": ["a@b.c"]}


@pytest.mark.parametrize("constructor", [
    fn for module in (common_errors, auth_errors, files_errors, upload_errors)
    for fn in _constructors(module)], ids=lambda fn: f"{fn.__module__}.{fn.__name__}")
def test_every_named_constructor_raises_its_code_with_the_code_kind(
        constructor: Callable[..., GoVaultError]) -> None:
    parameters = inspect.signature(constructor).parameters.values()
    error = constructor(*(SAMPLES[str(p.annotation)] for p in parameters
                          if p.default is inspect.Parameter.empty))
    assert error.code in CODES
    assert isinstance(error, kind_of(error.code))


def test_no_raise_site_spells_a_code_outside_an_errors_module() -> None:
    """Codes are raised through the named constructors of each service's errors.py."""
    kinds = {kind.__name__ for kind in KINDS}
    spelled = []
    for package in ("common", "edge", "svc_auth", "svc_upload", "svc_files"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in kinds
                        and any(isinstance(arg, ast.Constant) and arg.value in CODES
                                for arg in [*node.args[1:], *(k.value for k in node.keywords)])):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert spelled == []
