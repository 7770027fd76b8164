"""Every code of the error catalog, provoked over HTTP against the real stack: the status the
client gets is the code's entry in `common.errors.CODES`, whichever process raised it and
however many hops it crossed. The codes no client request can provoke say why, and the test
that they are all accounted for keeps the list honest.

Besides the session's stack, two extra edges on its services: one whose files service is down
(UNAVAILABLE), whose upload service never answers (TIMEOUT), with a tiny rate limit for the web
page (RATE_LIMITED) and trusting X-Forwarded-For, so the failed logins here count against an
address of their own rather than every test's 127.0.0.1; one that admits no call at all
(OVERLOADED). Session states that take time or a race to reach (expired, failed, completing) are
set in the upload database directly."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import psycopg
import pytest

from common.errors import CODES
from compose import Stack
from svc_auth.tokens import key_id, load_private_key
from tests.support.files import upload_file, upload_one_part
from tests.support.processes import Process, black_hole_server, free_port, start_edge
from tests.support.quotas import set_quota
from tests.support.tus import BASE, OCTETS, checksum, create, expire_now, patch, tus, upload_uuid
from tests.support.tus import Answer as TusAnswer
from tests.support.users import PASSWORD, User, new_user

MIB = 1024 * 1024
Answer = tuple[int, dict[str, Any]]

# Codes a client's request cannot make the stack answer, and why. Each is still checked: the
# generic ones by tests/unit/common/test_errors.py (a bare gRPC status), the rest where named.
NOT_PROVOKED = {
    "REQUEST_TIMEOUT": "a body that stalls for 10 s: tests/e2e/test_slow_clients.py",
    "CLIENT_CLOSED": "logged for a client that hung up, which reads no answer: "
                     "tests/e2e/test_slow_clients.py",
    "TOO_MANY_STREAMS": "16 chunk streams held open by one account: "
                        "tests/e2e/test_silent_client_attack.py",
    "FILE_TOO_LARGE": "a deployment's lower GOVAULT_UPLOAD_MAX_FILE_SIZE_BYTES: at the default "
                      "(50 GiB) /openapi.json's maximum refuses a larger size first, "
                      "INVALID_ARGUMENT (tests/e2e/test_edge_protocol.py); the rule: "
                      "tests/unit/upload/test_upload_service.py",
    "TOO_MANY_RECIPIENTS": "a deployment's lower GOVAULT_FILES_MAX_SHARE_RECIPIENTS: at the "
                           "default (10) /openapi.json's maxItems refuses an 11th first, "
                           "INVALID_ARGUMENT (tests/e2e/test_files_flows.py); the rule: "
                           "tests/unit/files/test_files_service.py",
    "STORAGE_FULL": "an object store out of space (a stack of its own on a small tmpfs): "
                    "tests/faults/test_store_and_database.py",
    "UPLOAD_LOCKED": "a tus PATCH while a stalled one of the same upload holds it: "
                     "tests/e2e/test_tus_protocol.py",
    "FAILED_PRECONDITION": "generic: a bare gRPC status; every refusal of this kind names a code",
    "NOT_FOUND": "generic: a bare gRPC status (raised only by the operator's quota command)",
    "ALREADY_EXISTS": "generic: raised only on internal calls (RegisterFile, ReserveQuota)",
    "CANCELLED": "the client has gone: the edge logs the answer nobody reads",
    "INTERNAL": "a defect: tests/unit/edge/test_status_table.py (details never sent)",
}


@dataclass
class World:
    http: aiohttp.ClientSession
    base: str  # the session stack's edge
    stack: Stack
    alice: User
    bob: User
    faulty: str  # the extra edge: files down, upload hung, tiny web-page rate limit
    refusing: str  # the extra edge that admits no upstream call

    async def call(self, method: str, url: str, user: User | None = None,
                   **kwargs: Any) -> Answer:
        headers = {**(user.auth if user else {}), **kwargs.pop("headers", {})}
        async with self.http.request(method, url, headers=headers, **kwargs) as response:
            if response.content_type != "application/json":
                await response.read()
                return response.status, {}
            return response.status, await response.json()

    async def api(self, method: str, path: str, user: User | None = None, **kwargs: Any
                  ) -> Answer:
        return await self.call(method, self.base + path, user, **kwargs)

    async def ok(self, method: str, path: str, user: User | None = None, **kwargs: Any
                 ) -> dict[str, Any]:
        status, body = await self.api(method, path, user, **kwargs)
        assert status in (200, 201, 204), (path, status, body)
        return body

    async def proxy_session(self, size: int, chunk_size: int | None = None) -> str:
        told = {"chunk_size_bytes": chunk_size} if chunk_size else {}
        body = await self.ok("POST", "/api/upload/proxy/session", self.alice,
                             json={"file_name": "c.bin", "file_size_bytes": size, **told})
        return str(body["upload_uuid"])

    async def multipart_session(self, size: int, part_size: int = 5 * MIB) -> str:
        body = await self.ok("POST", "/api/upload/multipart/session", self.alice,
                             json={"file_name": "m.bin", "file_size_bytes": size,
                                   "part_size_bytes": part_size})
        return str(body["upload_uuid"])

    async def chunk(self, upload_uuid: str, index: int, data: bytes,
                    checksum: str | None = None) -> Answer:
        headers = {"Upload-UUID": upload_uuid, "Content-Type": "application/octet-stream",
                   **({"Checksum": checksum} if checksum else {})}
        return await self.api("POST", f"/api/upload/proxy/chunk?id={index}", self.alice,
                              headers=headers, data=data)

    def set_session(self, upload_uuid: str, assignments: str) -> None:
        """Moves a session the way time or a concurrent request would (`SET ...`)."""
        with psycopg.connect(self.stack.database_urls["upload"], autocommit=True) as conn:
            conn.execute(f"UPDATE upload_sessions SET {assignments} WHERE upload_uuid = %s",
                         (upload_uuid,))

    async def shared_file(self) -> str:
        """A file of alice's that bob may see (viewer)."""
        file_id = await upload_file(self.http, self.base, self.alice, b"shared")
        await self.ok("POST", f"/api/files/f/{file_id}/shares", self.alice,
                      json={"recipients": [{"email": self.bob.email,
                                            "permission": "viewer"}]})
        return file_id


Scenario = Callable[[World], Awaitable[list[Answer]]]
SCENARIOS: dict[str, Scenario] = {}


def provokes(code: str) -> Callable[[Scenario], Scenario]:
    def register(scenario: Scenario) -> Scenario:
        SCENARIOS[code] = scenario
        return scenario
    return register


def _forwarded() -> dict[str, str]:
    """A client address of its own (the faulty edge trusts X-Forwarded-For)."""
    return {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}, 10.0.0.1"}


# -- the edge's own answers about the HTTP request -------------------------------------------
@provokes("INVALID_ARGUMENT")
async def _invalid_argument(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/signup", json={"username": "x", "email": "x@y.z",
                                                       "password": PASSWORD})]


@provokes("INVALID_JSON")
async def _invalid_json(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/login", data=b"{",
                        headers={"Content-Type": "application/json"})]


@provokes("UNSUPPORTED_MEDIA_TYPE")
async def _unsupported_media_type(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/login", data=b"email=a", headers={
        "Content-Type": "application/x-www-form-urlencoded"})]


@provokes("PAYLOAD_TOO_LARGE")
async def _payload_too_large(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/login", json={"email": "a" * 200_000,  # over 128 KiB
                                                     "password": PASSWORD})]


@provokes("ROUTE_NOT_FOUND")
async def _route_not_found(w: World) -> list[Answer]:
    return [await w.api("GET", "/api/no/such/route")]


@provokes("METHOD_NOT_ALLOWED")
async def _method_not_allowed(w: World) -> list[Answer]:
    return [await w.api("DELETE", "/auth/login")]


# -- tokens -------------------------------------------------------------------------------------
@provokes("UNAUTHENTICATED")
async def _unauthenticated(w: World) -> list[Answer]:
    file_id = await upload_file(w.http, w.base, w.alice, b"private")
    return [await w.api("GET", "/api/files/me/owned"),  # the edge's answer
            await w.api("GET", f"/api/files/f/{file_id}")]  # the files service's


@provokes("INVALID_TOKEN")
async def _invalid_token(w: World) -> list[Answer]:
    return [await w.api("GET", "/auth/me", headers={"Authorization": "Bearer not.a.token"})]


@provokes("TOKEN_EXPIRED")
async def _token_expired(w: World) -> list[Answer]:
    key = load_private_key(str(w.stack.jwt_private_key_file))
    now = int(time.time())
    claims = {**jwt.decode(w.alice.token, options={"verify_signature": False}),
              "iat": now - 3600, "exp": now - 600, "jti": uuid.uuid4().hex}
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": key_id(key)})
    return [await w.api("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})]


# -- auth ---------------------------------------------------------------------------------------
@provokes("INVALID_CREDENTIALS")
async def _invalid_credentials(w: World) -> list[Answer]:
    return [await w.call("POST", f"{w.faulty}/auth/login", headers=_forwarded(),
                         json={"email": w.alice.email, "password": "Wrong@1234"})]


@provokes("TOO_MANY_ATTEMPTS")
async def _too_many_attempts(w: World) -> list[Answer]:
    user = await new_user(w.http, w.base, "cat_throttle")
    address = _forwarded()
    for _ in range(10):  # GOVAULT_LOGIN_MAX_FAILURES_PER_EMAIL
        status, _body = await w.call("POST", f"{w.faulty}/auth/login", headers=address,
                                     json={"email": user.email, "password": "Wrong@1234"})
        assert status == CODES["INVALID_CREDENTIALS"].http
    return [await w.call("POST", f"{w.faulty}/auth/login", headers=address,
                         json={"email": user.email, "password": PASSWORD})]


@provokes("EMAIL_TAKEN")
async def _email_taken(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/signup", json={
        "username": f"other_{uuid.uuid4().hex[:8]}", "email": w.alice.email,
        "password": PASSWORD})]


@provokes("USERNAME_TAKEN")
async def _username_taken(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/signup", json={
        "username": w.alice.username, "email": f"other-{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD})]


@provokes("INVALID_REFRESH_TOKEN")
async def _invalid_refresh_token(w: World) -> list[Answer]:
    return [await w.api("POST", "/auth/refresh", json={"refresh_token": "not-a-token"})]


@provokes("REFRESH_TOKEN_REUSED")
async def _refresh_token_reused(w: World) -> list[Answer]:
    user = await new_user(w.http, w.base, "cat_reuse")
    await w.ok("POST", "/auth/refresh", json={"refresh_token": user.refresh_token})
    return [await w.api("POST", "/auth/refresh", json={"refresh_token": user.refresh_token})]


# -- saturation and dependencies (the extra edges) ------------------------------------------
@provokes("RATE_LIMITED")
async def _rate_limited(w: World) -> list[Answer]:
    address = _forwarded()
    answers = [await w.call("GET", f"{w.faulty}/", headers=address) for _ in range(2)]
    return answers[1:]  # the first one took the only token


@provokes("UNAVAILABLE")
async def _unavailable(w: World) -> list[Answer]:
    return [await w.call("GET", f"{w.faulty}/api/files/me/owned", w.alice)]


@provokes("TIMEOUT")
async def _timeout(w: World) -> list[Answer]:
    return [await w.call("GET", f"{w.faulty}/api/upload/status?upload_uuid={uuid.uuid4()}",
                         w.alice)]


@provokes("OVERLOADED")
async def _overloaded(w: World) -> list[Answer]:
    return [await w.call("GET", f"{w.refusing}/api/files/me/owned", w.alice)]


# -- uploads ------------------------------------------------------------------------------------
@provokes("UPLOAD_NOT_FOUND")
async def _upload_not_found(w: World) -> list[Answer]:
    return [await w.api("GET", f"/api/upload/status?upload_uuid={uuid.uuid4()}", w.alice)]


@provokes("CHECKSUM_MISMATCH")
async def _checksum_mismatch(w: World) -> list[Answer]:
    upload_uuid = await w.proxy_session(10)
    return [await w.chunk(upload_uuid, 0, b"0123456789",
                          hashlib.sha256(b"something else").hexdigest())]


def _chunk_for_ten_bytes(index: int, data: bytes) -> Scenario:
    """Chunk `index` holding `data`, sent to a new proxy session of a 10-byte file whose client
    said its chunk size (one chunk; a session not told learns it from the first chunk)."""
    async def scenario(w: World) -> list[Answer]:
        return [await w.chunk(await w.proxy_session(10, 5 * MIB), index, data)]
    return scenario


SCENARIOS["CHUNK_OUT_OF_RANGE"] = _chunk_for_ten_bytes(5, b"0123456789")
SCENARIOS["CHUNK_TOO_LARGE"] = _chunk_for_ten_bytes(0, b"0123456789!")
SCENARIOS["CHUNK_SIZE_MISMATCH"] = _chunk_for_ten_bytes(0, b"01234")


@provokes("UPLOAD_NOT_ACTIVE")
async def _upload_not_active(w: World) -> list[Answer]:
    multipart = await w.multipart_session(10)
    done = await upload_one_part(w.http, w.base, w.alice, b"complete")
    return [await w.chunk(multipart, 0, b"0123456789"),  # the other method's session
            await w.api("POST", "/api/upload/multipart/presign", w.alice,  # a complete one
                        json={"upload_uuid": done["upload_uuid"], "part_numbers": [1]})]


@provokes("UPLOAD_ABORTED")
async def _upload_aborted(w: World) -> list[Answer]:
    upload_uuid = await w.proxy_session(10)
    await w.ok("POST", "/api/upload/abort", w.alice, json={"upload_uuid": upload_uuid})
    return [await w.chunk(upload_uuid, 0, b"0123456789")]


@provokes("UPLOAD_EXPIRED")
async def _upload_expired(w: World) -> list[Answer]:
    upload_uuid = await w.proxy_session(10)
    w.set_session(upload_uuid, "expires_at = now() - interval '1 second'")
    return [await w.chunk(upload_uuid, 0, b"0123456789")]


@provokes("UPLOAD_FAILED")
async def _upload_failed(w: World) -> list[Answer]:
    upload_uuid = await w.proxy_session(10)
    w.set_session(upload_uuid, "state = 'failed', failure_reason = 'the test failed it'")
    return [await w.chunk(upload_uuid, 0, b"0123456789")]


@provokes("UPLOAD_IN_PROGRESS")
async def _upload_in_progress(w: World) -> list[Answer]:
    upload_uuid = await w.multipart_session(10)
    w.set_session(upload_uuid, "state = 'completing', claim_token = gen_random_uuid(), "
                               "claimed_at = now()")
    return [await w.api("POST", "/api/upload/abort", w.alice, json={"upload_uuid": upload_uuid})]


@provokes("CONFLICT")
async def _conflict(w: World) -> list[Answer]:
    done = await upload_one_part(w.http, w.base, w.alice, b"complete")
    return [await w.api("POST", "/api/upload/abort", w.alice,
                        json={"upload_uuid": done["upload_uuid"]})]


@provokes("PART_OUT_OF_RANGE")
async def _part_out_of_range(w: World) -> list[Answer]:
    upload_uuid = await w.multipart_session(10)
    return [await w.api("POST", "/api/upload/multipart/part", w.alice, json={
        "upload_uuid": upload_uuid, "part_number": 2, "size_bytes": 10, "etag": "abc"})]


@provokes("PART_SIZE_MISMATCH")
async def _part_size_mismatch(w: World) -> list[Answer]:
    upload_uuid = await w.multipart_session(10)
    return [await w.api("POST", "/api/upload/multipart/part", w.alice, json={
        "upload_uuid": upload_uuid, "part_number": 1, "size_bytes": 9, "etag": "abc"})]


@provokes("PART_TOO_SMALL")
async def _part_too_small(w: World) -> list[Answer]:
    return [await w.api("POST", "/api/upload/multipart/session", w.alice, json={
        "file_name": "m.bin", "file_size_bytes": 20 * MIB, "part_size_bytes": MIB})]


@provokes("PARTS_MISSING")
async def _parts_missing(w: World) -> list[Answer]:
    upload_uuid = await w.multipart_session(10)
    return [await w.api("POST", "/api/upload/multipart/complete", w.alice,
                        json={"upload_uuid": upload_uuid})]


@provokes("PART_NOT_UPLOADED")
async def _part_not_uploaded(w: World) -> list[Answer]:
    session = await w.ok("POST", "/api/upload/multipart/session", w.alice, json={
        "file_name": "m.bin", "file_size_bytes": 10, "part_size_bytes": 5 * MIB})
    upload_uuid = session["upload_uuid"]
    async with w.http.put(session["parts"][0]["url"], data=b"0123456789") as stored:
        assert stored.status == 200, await stored.text()
    await w.ok("POST", "/api/upload/multipart/part", w.alice, json={  # not the store's ETag
        "upload_uuid": upload_uuid, "part_number": 1, "size_bytes": 10,
        "etag": "0123456789abcdef0123456789abcdef"})
    return [await w.api("POST", "/api/upload/multipart/complete", w.alice,
                        json={"upload_uuid": upload_uuid})]


@provokes("QUOTA_EXCEEDED")
async def _quota_exceeded(w: World) -> list[Answer]:
    user = await new_user(w.http, w.base, "cat_quota")
    set_quota(w.stack, user.email, "1KiB")
    return [await w.api("POST", "/api/upload/proxy/session", user,
                        json={"file_name": "big.bin", "file_size_bytes": 2048})]


# -- files --------------------------------------------------------------------------------------
@provokes("FILE_NOT_FOUND")
async def _file_not_found(w: World) -> list[Answer]:
    return [await w.api("GET", f"/api/files/f/{uuid.uuid4()}", w.alice)]


@provokes("PERMISSION_DENIED")
async def _permission_denied(w: World) -> list[Answer]:
    file_id = await w.shared_file()
    return [await w.api("PATCH", f"/api/files/f/{file_id}", w.bob, json={"name": "mine.bin"})]


@provokes("SHARE_NOT_FOUND")
async def _share_not_found(w: World) -> list[Answer]:
    file_id = await upload_file(w.http, w.base, w.alice, b"unshared")
    return [await w.api("DELETE", f"/api/files/f/{file_id}/shares/{w.bob.user_id}", w.alice)]


def _recipients(*emails: str) -> dict[str, Any]:
    return {"recipients": [{"email": email, "permission": "viewer"} for email in emails]}


@provokes("UNKNOWN_RECIPIENTS")
async def _unknown_recipients(w: World) -> list[Answer]:
    file_id = await upload_file(w.http, w.base, w.alice, b"to share")
    return [await w.api("POST", f"/api/files/f/{file_id}/shares", w.alice,
                        json=_recipients(f"nobody-{uuid.uuid4().hex[:8]}@example.com"))]


@provokes("CANNOT_SHARE_WITH_SELF")
async def _cannot_share_with_self(w: World) -> list[Answer]:
    file_id = await upload_file(w.http, w.base, w.alice, b"to share")
    return [await w.api("POST", f"/api/files/f/{file_id}/shares", w.alice,
                        json=_recipients(w.alice.email))]


# -- tus 1.0 (/api/upload/tus/) ----------------------------------------------------------------
def _tus(answer: TusAnswer) -> Answer:
    return answer.status, answer.body if isinstance(answer.body, dict) else {}


@provokes("TUS_VERSION_UNSUPPORTED")
async def _tus_version_unsupported(w: World) -> list[Answer]:
    return [_tus(await tus(w.http, "POST", w.base + BASE, w.alice,
                           {"Tus-Resumable": "2.0.0", "Upload-Length": "1"}))]


@provokes("UPLOAD_LENGTH_MISSING")
async def _upload_length_missing(w: World) -> list[Answer]:
    return [_tus(await tus(w.http, "POST", w.base + BASE, w.alice, {}))]


@provokes("UPLOAD_METADATA_INVALID")
async def _upload_metadata_invalid(w: World) -> list[Answer]:
    return [_tus(await tus(w.http, "POST", w.base + BASE, w.alice,
                           {"Upload-Length": "1", "Upload-Metadata": "filename ***"}))]


@provokes("UPLOAD_LENGTH_EXCEEDED")
async def _upload_length_exceeded(w: World) -> list[Answer]:
    url = await create(w.http, w.base, w.alice, 10)
    return [_tus(await patch(w.http, url, w.alice, 0, b"0123456789!"))]


@provokes("LENGTH_REQUIRED")
async def _length_required(w: World) -> list[Answer]:
    async def chunked() -> AsyncIterator[bytes]:
        yield b"0123456789"

    url = await create(w.http, w.base, w.alice, 10)
    return [await w.call("PATCH", url, w.alice, data=chunked(),
                         headers={"Tus-Resumable": "1.0.0", **OCTETS, "Upload-Offset": "0"})]


@provokes("CHECKSUM_ALGORITHM_UNSUPPORTED")
async def _checksum_algorithm_unsupported(w: World) -> list[Answer]:
    url = await create(w.http, w.base, w.alice, 10)
    return [_tus(await patch(w.http, url, w.alice, 0, b"0123456789",
                             **{"Upload-Checksum": "md5 " + "A" * 22 + "=="}))]


@provokes("UPLOAD_CHECKSUM_MISMATCH")
async def _upload_checksum_mismatch(w: World) -> list[Answer]:
    url = await create(w.http, w.base, w.alice, 10)
    return [_tus(await patch(w.http, url, w.alice, 0, b"0123456789",
                             **{"Upload-Checksum": checksum("sha256", b"other")}))]


@provokes("UPLOAD_OFFSET_MISMATCH")
async def _upload_offset_mismatch(w: World) -> list[Answer]:
    url = await create(w.http, w.base, w.alice, 10)
    return [_tus(await patch(w.http, url, w.alice, 5, b"56789"))]


@provokes("UPLOAD_GONE")
async def _upload_gone(w: World) -> list[Answer]:
    url = await create(w.http, w.base, w.alice, 10)
    expire_now(w.stack, upload_uuid(url))
    return [_tus(await patch(w.http, url, w.alice, 0, b"0123456789"))]


# -- the stack and the test ------------------------------------------------------------------
@pytest.fixture(scope="module")
def extra_edges(stack: Stack, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[str, str]]:
    logs = tmp_path_factory.mktemp("catalog-edges")
    edges: list[Process] = []
    with black_hole_server() as hung:
        try:
            faulty, faulty_url = start_edge(
                stack.service_env("edge"), logs / "faulty.log",
                files_addr=f"127.0.0.1:{free_port()}", upload_addr=hung, rpc_timeout_s="2",
                trust_forwarded_for="true", rate_default_ip="1/m:1")
            edges.append(faulty)
            refusing, refusing_url = start_edge(stack.service_env("edge"),
                                                logs / "refusing.log",
                                                upstream_max_in_flight="0")
            edges.append(refusing)
            yield faulty_url, refusing_url
        finally:
            for edge in edges:
                edge.stop()


@pytest.fixture(scope="module")
async def world(stack: Stack, extra_edges: tuple[str, str]) -> AsyncIterator[World]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        base = str(stack.edge_url)
        alice = await new_user(http, base, "cat_alice")
        bob = await new_user(http, base, "cat_bob")
        yield World(http, base, stack, alice, bob, *extra_edges)


def test_every_code_is_provoked_here_or_explained() -> None:
    assert set(SCENARIOS) | set(NOT_PROVOKED) == set(CODES)
    assert not set(SCENARIOS) & set(NOT_PROVOKED)


@pytest.mark.parametrize("code", sorted(SCENARIOS))
async def test_the_client_gets_the_catalog_status(world: World, code: str) -> None:
    for status, body in await SCENARIOS[code](world):
        assert (status, body.get("code")) == (CODES[code].http, code), body
        assert set(body) == {"error", "code", "request_id"}, body

