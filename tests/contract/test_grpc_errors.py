"""Errors between services, over real gRPC: what the callee raises (a domain error, mapped to a
status by the server interceptor) is what the caller's client raises (common.grpc.client
.rpc_error_to_domain), for the service-to-service calls: upload → files RegisterFile,
ReserveQuota and ReleaseQuota, and files → auth ResolveUsers. Failure paths: refusals keep
their class and stable code; an unreachable callee, a missed deadline, a crash or a wrong
service credential are Unavailable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest
from govault.auth.v1 import auth_pb2, auth_pb2_grpc
from govault.files.v1 import files_pb2, files_pb2_grpc

from common.errors import (
    AlreadyExists,
    FailedPrecondition,
    GoVaultError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from common.files import NewFile
from common.grpc.client import open_channel
from common.grpc.metadata import Context
from common.grpc.server import ObservabilityInterceptor
from svc_files.directory import AuthDirectory
from svc_upload.files_client import GrpcFilesRegistry

Raise = Callable[[], BaseException]


@dataclass
class Behaviour:
    """What the fake callee does on its next call."""

    fail: Raise | None = None
    delay_s: float = 0.0


class Files(files_pb2_grpc.FilesServiceServicer):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def RegisterFile(self, request: files_pb2.RegisterFileRequest,
                           context: Context) -> files_pb2.RegisterFileResponse:
        await asyncio.sleep(self.behaviour.delay_s)
        if self.behaviour.fail is not None:
            raise self.behaviour.fail()
        return files_pb2.RegisterFileResponse(file=files_pb2.FileSummary(file_id=request.file_id),
                                              created=True)

    async def ReserveQuota(self, request: files_pb2.ReserveQuotaRequest,
                           context: Context) -> files_pb2.ReserveQuotaResponse:
        await asyncio.sleep(self.behaviour.delay_s)
        if self.behaviour.fail is not None:
            raise self.behaviour.fail()
        return files_pb2.ReserveQuotaResponse(usage=files_pb2.Usage(reserved_bytes=request.bytes))

    async def ReleaseQuota(self, request: files_pb2.ReleaseQuotaRequest,
                           context: Context) -> files_pb2.ReleaseQuotaResponse:
        await asyncio.sleep(self.behaviour.delay_s)
        if self.behaviour.fail is not None:
            raise self.behaviour.fail()
        return files_pb2.ReleaseQuotaResponse(released_bytes=3)


class Auth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def ResolveUsers(self, request: auth_pb2.ResolveUsersRequest,
                           context: Context) -> auth_pb2.ResolveUsersResponse:
        await asyncio.sleep(self.behaviour.delay_s)
        if self.behaviour.fail is not None:
            raise self.behaviour.fail()
        return auth_pb2.ResolveUsersResponse(users=[
            auth_pb2.ResolvedUser(email=e, user_id="u-" + e, normalized_email=e.lower())
            for e in request.emails])


@dataclass
class Callee:
    behaviour: Behaviour
    address: str


@pytest.fixture
async def callee() -> AsyncIterator[Callee]:
    behaviour = Behaviour()
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("contract")])
    files_pb2_grpc.add_FilesServiceServicer_to_server(Files(behaviour), server)  # type: ignore[abstract]
    auth_pb2_grpc.add_AuthServiceServicer_to_server(Auth(behaviour), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield Callee(behaviour, f"127.0.0.1:{port}")
    finally:
        await server.stop(0)


def registration() -> NewFile:
    file_id, owner = str(uuid.uuid4()), str(uuid.uuid4())
    return NewFile(upload_id=str(uuid.uuid4()), file_id=file_id, owner_id=owner,
                            name="a.txt", mime_type="text/plain", size_bytes=3, checksum="c",
                            storage_key=f"users/{owner}/{file_id}")


async def register(address: str, timeout_s: float = 5.0) -> str:
    channel = open_channel(address)
    try:
        registry = GrpcFilesRegistry(files_pb2_grpc.FilesServiceStub(channel), "token",
                                     timeout_s)
        return await registry.register_file(registration())
    finally:
        await channel.close()


async def reserve(address: str, timeout_s: float = 5.0) -> str:
    channel = open_channel(address)
    try:
        registry = GrpcFilesRegistry(files_pb2_grpc.FilesServiceStub(channel), "token",
                                     timeout_s)
        await registry.reserve_quota(str(uuid.uuid4()), str(uuid.uuid4()), 3)
        return "reserved"
    finally:
        await channel.close()


async def release(address: str, timeout_s: float = 5.0) -> int:
    channel = open_channel(address)
    try:
        registry = GrpcFilesRegistry(files_pb2_grpc.FilesServiceStub(channel), "token",
                                     timeout_s)
        return await registry.release_quota(str(uuid.uuid4()))
    finally:
        await channel.close()


async def resolve(address: str, timeout_s: float = 5.0) -> list[str]:
    channel = open_channel(address)
    try:
        directory = AuthDirectory(auth_pb2_grpc.AuthServiceStub(channel), "token", timeout_s)
        return sorted(u.user_id for u in (await directory.resolve(["A@x.io"])).values())
    finally:
        await channel.close()


CALLS = {"upload→files RegisterFile": register, "upload→files ReserveQuota": reserve,
         "upload→files ReleaseQuota": release, "files→auth ResolveUsers": resolve}

# (what the callee raises, what the caller gets, the stable code the caller keeps)
REFUSALS: list[tuple[Raise, type[GoVaultError], str]] = [
    (lambda: InvalidArgument("name too long"), InvalidArgument, "INVALID_ARGUMENT"),
    (lambda: InvalidArgument("who?", "UNKNOWN_RECIPIENTS"), InvalidArgument,
     "UNKNOWN_RECIPIENTS"),
    (lambda: FailedPrecondition("not yet", "PARTS_MISSING"), FailedPrecondition,
     "PARTS_MISSING"),
    (lambda: NotFound("gone", "FILE_NOT_FOUND"), NotFound, "FILE_NOT_FOUND"),
    (lambda: AlreadyExists("taken"), AlreadyExists, "ALREADY_EXISTS"),
]
# Not the end client's fault, and may pass on a retry: Unavailable.
FAULTS: list[Raise] = [
    lambda: Unavailable("database busy"),
    lambda: Unauthenticated("a service credential is required"),
    lambda: PermissionDenied("invalid service credential"),
    lambda: RuntimeError("bug in the callee"),
]


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_successful_call_returns_the_callees_answer(callee: Callee, call) -> None:  # type: ignore[no-untyped-def]
    assert await call(callee.address)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize(("raised", "expected", "code"), REFUSALS)
async def test_a_refusal_keeps_its_class_and_stable_code(  # type: ignore[no-untyped-def]
        callee: Callee, call, raised: Raise, expected: type[GoVaultError], code: str) -> None:
    callee.behaviour.fail = raised
    with pytest.raises(GoVaultError) as caught:
        await call(callee.address)
    assert type(caught.value) is expected
    assert caught.value.code == code


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("raised", FAULTS)
async def test_a_callee_fault_is_unavailable(callee: Callee, call, raised: Raise) -> None:  # type: ignore[no-untyped-def]
    callee.behaviour.fail = raised
    with pytest.raises(Unavailable) as caught:
        await call(callee.address)
    assert caught.value.code == "UNAVAILABLE"


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_busy_callee_passes_its_retry_after_on(callee: Callee, call) -> None:  # type: ignore[no-untyped-def]
    callee.behaviour.fail = lambda: ResourceExhausted("slow down", "OVERLOADED", retry_after_s=7)
    with pytest.raises(ResourceExhausted) as caught:
        await call(callee.address)
    assert (caught.value.code, caught.value.retry_after_s) == ("OVERLOADED", 7)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_missed_deadline_is_unavailable(callee: Callee, call) -> None:  # type: ignore[no-untyped-def]
    callee.behaviour.delay_s = 2.0
    with pytest.raises(Unavailable):
        await call(callee.address, timeout_s=0.2)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_an_unreachable_callee_is_unavailable(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unavailable):
        await call("127.0.0.1:9", timeout_s=2.0)


async def test_a_quota_refusal_reaches_the_caller_as_quota_exceeded_with_its_message(
        callee: Callee) -> None:
    """Not a rate limit: no retry-after, and the end client sees the files service's message
    (how much is free), answered 413 by the edge."""
    callee.behaviour.fail = lambda: QuotaExceeded("storage quota exceeded: 3 bytes free")
    with pytest.raises(QuotaExceeded) as caught:
        await reserve(callee.address)
    assert caught.value.code == "QUOTA_EXCEEDED"
    assert caught.value.message == "storage quota exceeded: 3 bytes free"
