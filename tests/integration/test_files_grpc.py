"""The files gRPC server in-process against real PostgreSQL and SeaweedFS: metadata handling
(service credential, bearer tokens), status codes and stable error codes over the wire."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from govault.files.v1 import files_pb2, files_pb2_grpc

from common.db import DatabaseSettings, open_pool
from common.errors import ERROR_CODE_KEY, QuotaExceeded
from common.grpc.server import ObservabilityInterceptor
from common.migrations import apply_migrations
from common.tokens import AUDIENCE, ISSUER, TokenVerifier
from svc_files.config import Rules, S3Settings
from svc_files.models import ResolvedUser
from svc_files.s3 import S3Objects
from svc_files.server import FilesServicer, registrar
from svc_files.service import FilesService
from svc_files.store import PgCatalog
from svc_upload.files_client import GrpcFilesRegistry

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "svc_files" / "migrations"
SERVICE_TOKEN = "files-grpc-test-token"
KID = "test-kid"


def uid() -> str:
    return str(uuid.uuid4())


class Directory:
    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        return {}


class Keys:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.pem = self.private.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    async def load(self) -> dict[str, str]:
        return {KID: self.pem}

    def token(self, user_id: str) -> str:
        now = int(time.time())
        pem = self.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return jwt.encode({"sub": user_id, "user_id": user_id, "iat": now, "exp": now + 300,
                           "jti": uid(), "aud": AUDIENCE, "iss": ISSUER},
                          pem, algorithm="EdDSA", headers={"kid": KID})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
async def stub(stack_deps, keys: Keys) -> AsyncIterator[files_pb2_grpc.FilesServiceAsyncStub]:  # type: ignore[no-untyped-def]
    url = stack_deps.create_database(f"files_grpc_{uuid.uuid4().hex[:10]}")
    await apply_migrations(url, MIGRATIONS)
    pool = await open_pool(DatabaseSettings(url=url, pool_min=1,
                                            pool_max=4, pool_timeout_s=2.0), "files-grpc-it")
    s3 = S3Settings(endpoint=stack_deps.s3_endpoint, access_key=stack_deps.s3_access_key,
                    secret_key=stack_deps.s3_secret_key, bucket=stack_deps.s3_bucket,
                    region=stack_deps.s3_region, timeout_s=10.0)
    service = FilesService(PgCatalog(pool, QUOTA), S3Objects(s3), Directory(), Rules())
    servicer = FilesServicer(service, TokenVerifier(keys.load), SERVICE_TOKEN)
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("files")])
    registrar(servicer)(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield files_pb2_grpc.FilesServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(0)
        await pool.close()


def register_request(owner: str, upload_id: str | None = None) -> files_pb2.RegisterFileRequest:
    file_id = uid()
    return files_pb2.RegisterFileRequest(
        upload_id=upload_id or uid(), file_id=file_id, owner_id=owner, name="notes.md",
        size_bytes=12, checksum="ab" * 32, storage_key=f"users/{owner}/{file_id}")


SERVICE_MD = (("x-govault-service", SERVICE_TOKEN),)
QUOTA = 1000  # the default quota of this module's files service (bytes)


def bearer(keys: Keys, user: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {keys.token(user)}"),)


def error_code(exc: grpc.aio.AioRpcError) -> str | None:
    return dict(exc.trailing_metadata() or ()).get(ERROR_CODE_KEY)


async def test_register_twice_is_one_file(stub: files_pb2_grpc.FilesServiceAsyncStub,
                                          keys: Keys) -> None:
    owner = uid()
    request = register_request(owner)
    first = await stub.RegisterFile(request, metadata=SERVICE_MD, timeout=5)
    again = await stub.RegisterFile(request, metadata=SERVICE_MD, timeout=5)
    assert first.created and not again.created
    assert first.file.file_id == again.file.file_id == request.file_id
    assert first.file.mime_type == "text/markdown"
    owned = await stub.ListOwned(files_pb2.ListOwnedRequest(), metadata=bearer(keys, owner),
                                 timeout=5)
    assert [f.file_id for f in owned.files] == [request.file_id]
    assert owned.files[0].access == files_pb2.ACCESS_OWNER and owned.page == 1


@pytest.mark.parametrize("metadata,status", [
    ((), grpc.StatusCode.UNAUTHENTICATED),
    ((("x-govault-service", "wrong"),), grpc.StatusCode.PERMISSION_DENIED),
])
async def test_register_needs_the_service_credential(
    stub: files_pb2_grpc.FilesServiceAsyncStub, keys: Keys,
    metadata: tuple[tuple[str, str], ...], status: grpc.StatusCode,
) -> None:
    owner = uid()
    request = register_request(owner)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await stub.RegisterFile(request, metadata=metadata, timeout=5)
    assert e.value.code() == status
    with pytest.raises(grpc.aio.AioRpcError):  # a user token is not a service credential
        await stub.RegisterFile(request, metadata=bearer(keys, owner), timeout=5)
    owned = await stub.ListOwned(files_pb2.ListOwnedRequest(), metadata=bearer(keys, owner),
                                 timeout=5)
    assert list(owned.files) == []


async def test_status_codes_and_error_codes(stub: files_pb2_grpc.FilesServiceAsyncStub,
                                            keys: Keys) -> None:
    owner, stranger = uid(), uid()
    request = register_request(owner)
    await stub.RegisterFile(request, metadata=SERVICE_MD, timeout=5)
    cases: list[tuple[Awaitable[object], grpc.StatusCode, str]] = [
        (stub.GetFile(files_pb2.GetFileRequest(file_id=request.file_id),
                      metadata=bearer(keys, stranger), timeout=5),
         grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND"),
        (stub.GetFile(files_pb2.GetFileRequest(file_id=request.file_id), timeout=5),
         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),  # anonymous: sign in
        (stub.GetDownloadUrl(files_pb2.GetDownloadUrlRequest(file_id=str(uuid.uuid4())),
                             timeout=5),
         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),  # missing looks the same
        (stub.GetFile(files_pb2.GetFileRequest(file_id="nope"), metadata=bearer(keys, owner),
                      timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (stub.RenameFile(files_pb2.RenameFileRequest(file_id=request.file_id, name="a/b"),
                         metadata=bearer(keys, owner), timeout=5),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (stub.ListOwned(files_pb2.ListOwnedRequest(), timeout=5),
         grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (stub.ListOwned(files_pb2.ListOwnedRequest(),
                        metadata=(("authorization", "Bearer garbage"),), timeout=5),
         grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN"),
        (stub.UpdateShare(files_pb2.UpdateShareRequest(
            file_id=request.file_id, user_id=stranger, permission=files_pb2.PERMISSION_EDITOR),
            metadata=bearer(keys, owner), timeout=5),
         grpc.StatusCode.NOT_FOUND, "SHARE_NOT_FOUND"),
    ]
    for call, status, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call
        assert (e.value.code(), error_code(e.value)) == (status, code)


async def test_public_file_for_anonymous(stub: files_pb2_grpc.FilesServiceAsyncStub,
                                         keys: Keys) -> None:
    owner = uid()
    request = register_request(owner)
    await stub.RegisterFile(request, metadata=SERVICE_MD, timeout=5)
    link = await stub.CreatePublicLink(files_pb2.CreatePublicLinkRequest(file_id=request.file_id),
                                       metadata=bearer(keys, owner), timeout=5)
    assert link.public_url.endswith(f"/api/files/f/{request.file_id}")
    got = await stub.GetFile(files_pb2.GetFileRequest(file_id=request.file_id), timeout=5)
    assert got.file.is_public and got.file.access == files_pb2.ACCESS_PUBLIC
    url = await stub.GetDownloadUrl(files_pb2.GetDownloadUrlRequest(file_id=request.file_id),
                                    timeout=5)
    assert url.file_name == "notes.md" and url.expires_at.seconds > time.time()


async def test_quota_reservations_over_grpc(stub: files_pb2_grpc.FilesServiceAsyncStub,
                                            keys: Keys) -> None:
    """The upload service's seam (GrpcFilesRegistry) against the real files service: reserve,
    QUOTA_EXCEEDED with what is free, convert on registration, release, GetUsage."""
    owner, upload = uid(), uid()
    registry = GrpcFilesRegistry(stub, SERVICE_TOKEN, 5.0)
    await registry.reserve_quota(owner, upload, 600)
    await registry.reserve_quota(owner, upload, 600)  # idempotent
    with pytest.raises(QuotaExceeded) as refused:
        await registry.reserve_quota(owner, uid(), 401)
    assert "400 bytes) free" in refused.value.message
    usage = (await stub.GetUsage(files_pb2.GetUsageRequest(), metadata=bearer(keys, owner),
                                 timeout=5)).usage
    assert (usage.used_bytes, usage.reserved_bytes, usage.quota_bytes, usage.files) == (
        0, 600, QUOTA, 0)
    request = register_request(owner, upload)  # 12 bytes measured: the reservation converts
    await stub.RegisterFile(request, metadata=SERVICE_MD, timeout=5)
    assert await registry.release_quota(upload) == 0
    other = uid()
    await registry.reserve_quota(owner, other, 100)
    assert await registry.release_quota(other) == 100
    usage = (await stub.GetUsage(files_pb2.GetUsageRequest(), metadata=bearer(keys, owner),
                                 timeout=5)).usage
    assert (usage.used_bytes, usage.reserved_bytes, usage.files) == (12, 0, 1)


@pytest.mark.parametrize("call", ["ReserveQuota", "ReleaseQuota"])
async def test_quota_rpcs_need_the_service_credential(
        stub: files_pb2_grpc.FilesServiceAsyncStub, keys: Keys, call: str) -> None:
    request = (files_pb2.ReserveQuotaRequest(user_id=uid(), upload_uuid=uid(), bytes=1)
               if call == "ReserveQuota" else files_pb2.ReleaseQuotaRequest(upload_uuid=uid()))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await getattr(stub, call)(request, metadata=bearer(keys, uid()), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
