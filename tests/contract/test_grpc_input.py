"""Issue 10, defect 5: a NUL character in any string of any request (at any depth) is invalid
input, refused by the server boundary of every service before a rule or a query runs
(PostgreSQL refuses NUL in text: the auth service answered INTERNAL to such a login)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from govault.auth.v1 import auth_pb2, auth_pb2_grpc
from govault.files.v1 import files_pb2, files_pb2_grpc
from govault.upload.v1 import upload_pb2, upload_pb2_grpc

from common.errors import ERROR_CODE_KEY
from common.grpc.client import open_channel
from common.grpc.metadata import Context
from common.grpc.server import ObservabilityInterceptor

CALLED: list[str] = []


class Auth(auth_pb2_grpc.AuthServiceServicer):
    async def Login(self, request: auth_pb2.LoginRequest,
                    context: Context) -> auth_pb2.LoginResponse:
        CALLED.append("Login")
        return auth_pb2.LoginResponse(access_token="t")


class Files(files_pb2_grpc.FilesServiceServicer):
    async def AddShares(self, request: files_pb2.AddSharesRequest,
                        context: Context) -> files_pb2.AddSharesResponse:
        CALLED.append("AddShares")
        return files_pb2.AddSharesResponse()


class Upload(upload_pb2_grpc.UploadServiceServicer):
    async def CreateProxySession(self, request: upload_pb2.CreateProxySessionRequest,
                                 context: Context) -> upload_pb2.CreateProxySessionResponse:
        CALLED.append("CreateProxySession")
        return upload_pb2.CreateProxySessionResponse(upload_uuid="u")


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("contract")])
    auth_pb2_grpc.add_AuthServiceServicer_to_server(Auth(), server)  # type: ignore[abstract]
    files_pb2_grpc.add_FilesServiceServicer_to_server(Files(), server)  # type: ignore[abstract]
    upload_pb2_grpc.add_UploadServiceServicer_to_server(Upload(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    ch = open_channel(f"127.0.0.1:{port}")
    try:
        yield ch
    finally:
        await ch.close()
        await server.stop(0)


async def login(ch: grpc.aio.Channel, email: str) -> object:
    return await auth_pb2_grpc.AuthServiceStub(ch).Login(
        auth_pb2.LoginRequest(email=email, password="whatever12"), timeout=5)


async def share(ch: grpc.aio.Channel, email: str) -> object:
    return await files_pb2_grpc.FilesServiceStub(ch).AddShares(files_pb2.AddSharesRequest(
        file_id="f", recipients=[files_pb2.ShareRecipient(email="ok@example.com"),
                                 files_pb2.ShareRecipient(email=email)]), timeout=5)


async def create(ch: grpc.aio.Channel, name: str) -> object:
    return await upload_pb2_grpc.UploadServiceStub(ch).CreateProxySession(
        upload_pb2.CreateProxySessionRequest(file_name=name, file_size_bytes=1), timeout=5)


CALLS = {"Login": (login, "email"), "AddShares": (share, "recipients.email"),
         "CreateProxySession": (create, "file_name")}


@pytest.mark.parametrize("rpc", CALLS)
async def test_a_nul_anywhere_is_invalid_input_before_the_handler(
        channel: grpc.aio.Channel, rpc: str) -> None:
    call, field = CALLS[rpc]
    CALLED.clear()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(channel, "a\x00@example.com")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(refused.value.trailing_metadata() or ())[ERROR_CODE_KEY] == "INVALID_ARGUMENT"
    assert field in (refused.value.details() or "")
    assert CALLED == []
    await call(channel, "a@example.com")  # the same request without the NUL is served
    assert CALLED == [rpc]
