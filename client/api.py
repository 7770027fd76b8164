"""`GoVaultClient`: one method per REST operation (docs/design.md §3), typed results, one exception
type for error answers. Authenticated calls carry the access token; a 401 refreshes the tokens
once (tokens.py) and repeats the call. Whole-file transfers live in uploads.py/downloads.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from client.errors import AuthError
from client.http import Body, RetryPolicy, Transport
from client.models import (
    ChunkResult,
    Completed,
    DownloadLink,
    FileSummary,
    MultipartSession,
    Page,
    PresignedParts,
    ProxySession,
    Share,
    Shortcut,
    Tokens,
    UploadStatus,
    Usage,
    User,
)
from client.tokens import MemoryTokenStore, TokenKeeper, TokenStore

LISTS = ("owned", "shared", "shortcuts")


def _file(file_id: str) -> str:
    return f"/api/files/f/{quote(file_id, safe='')}"


class GoVaultClient:
    def __init__(self, server: str, *, store: TokenStore | None = None,
                 retry: RetryPolicy | None = None, max_connections: int = 16,
                 timeout_s: float = 120.0) -> None:
        self.server = server.rstrip("/")
        self.transport = Transport(self.server, retry=retry, max_connections=max_connections,
                                   timeout_s=timeout_s)
        self.keeper = TokenKeeper(store or MemoryTokenStore(), self._rotate)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> GoVaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def call(self, method: str, path: str, *, idempotent: bool, json: Any = None,
             body: Body = None, headers: Mapping[str, str] | None = None,
             params: Mapping[str, str] | None = None, anonymous: bool = False
             ) -> httpx.Response:
        """One authenticated request (anonymous=True: without a token); on 401 the tokens are
        refreshed once and the request repeated."""
        if anonymous:
            return self.transport.request(method, path, idempotent=idempotent, json=json,
                                          body=body, headers=headers, params=params)
        tokens = self.keeper.require()
        for refreshed in (False, True):
            try:
                return self.transport.request(
                    method, path, idempotent=idempotent, json=json, body=body, params=params,
                    headers={**(headers or {}), "Authorization": f"Bearer {tokens.access_token}"})
            except AuthError as exc:
                if exc.status != 401 or refreshed:
                    raise
                tokens = self.keeper.refresh(tokens.access_token)
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, *, idempotent: bool, json: Any = None,
              params: Mapping[str, str] | None = None, anonymous: bool = False) -> Any:
        response = self.call(method, path, idempotent=idempotent, json=json, params=params,
                             anonymous=anonymous)
        return response.json()

    def _rotate(self, refresh_token: str) -> Tokens:
        body = self.transport.request("POST", "/auth/refresh", idempotent=False,
                                      json={"refresh_token": refresh_token}).json()
        return Tokens(str(body["token"]), str(body["refresh_token"]))

    # ------------------------------------------------------------------ auth
    def signup(self, username: str, email: str, password: str) -> str:
        """The new account's user id."""
        body = self.transport.request("POST", "/auth/signup", idempotent=False, json={
            "username": username, "email": email, "password": password}).json()
        return str(body.get("user_id", ""))

    def login(self, email: str, password: str) -> Tokens:
        body = self.transport.request("POST", "/auth/login", idempotent=False,
                                      json={"email": email, "password": password}).json()
        tokens = Tokens(str(body["token"]), str(body["refresh_token"]),
                        str(body.get("user_id", "")), str(body.get("username", "")),
                        str(body.get("email", "")))
        self.keeper.set(tokens)
        return tokens

    def logout(self) -> None:
        """Revokes the refresh token (its whole family) and forgets the tokens."""
        tokens = self.keeper.tokens
        try:
            if tokens is not None and tokens.refresh_token:
                self.transport.request("POST", "/auth/logout", idempotent=True,
                                       json={"refresh_token": tokens.refresh_token})
        finally:
            self.keeper.set(None)

    def me(self) -> User:
        return User.from_json(self._json("GET", "/auth/me", idempotent=True))

    def usage(self) -> Usage:
        """Storage used, reserved by open uploads, the quota (0 = unlimited), files owned. An
        upload or copy that does not fit is refused with 413 QUOTA_EXCEEDED (an ApiError)."""
        return Usage.from_json(self._json("GET", "/api/files/me/usage", idempotent=True))

    # ------------------------------------------------------------------ files
    def list_files(self, which: str = "owned", page: int = 1, limit: int = 0) -> Page:
        if which not in LISTS:
            raise ValueError(f"which must be one of {', '.join(LISTS)}")
        params = {"page": str(page), **({"limit": str(limit)} if limit else {})}
        return Page.from_json(self._json("GET", f"/api/files/me/{which}", idempotent=True,
                                         params=params))

    def iter_files(self, which: str = "owned", limit: int = 0) -> Iterable[FileSummary]:
        page = 1
        while True:
            result = self.list_files(which, page, limit)
            yield from result.files
            if not result.has_more or not result.files:
                return
            page += 1

    def get_file(self, file_id: str, *, anonymous: bool = False) -> FileSummary:
        return FileSummary.from_json(self._json("GET", _file(file_id), idempotent=True,
                                                anonymous=anonymous))

    def download_link(self, file_id: str, *, anonymous: bool = False) -> DownloadLink:
        return DownloadLink.from_json(self._json("GET", f"{_file(file_id)}/download",
                                                 idempotent=True, anonymous=anonymous))

    def rename(self, file_id: str, name: str) -> None:
        self.call("PATCH", _file(file_id), idempotent=True, json={"name": name})

    def delete(self, file_id: str) -> None:
        self.call("DELETE", _file(file_id), idempotent=True)

    def copy(self, file_id: str, name: str = "") -> str:
        """The copy's file id."""
        body = self._json("POST", f"{_file(file_id)}/copy", idempotent=False,
                          json={"name": name} if name else {})
        return str(body["file_id"])

    def share(self, file_id: str, email: str, permission: str) -> list[Share]:
        body = self._json("POST", f"{_file(file_id)}/shares", idempotent=True,
                          json={"recipients": [{"email": email, "permission": permission}]})
        return [Share.from_json(s) for s in body.get("shares") or []]

    def shares(self, file_id: str) -> list[Share]:
        return [Share.from_json(s) for s in
                self._json("GET", f"{_file(file_id)}/shares", idempotent=True)]

    def update_share(self, file_id: str, user_id: str, permission: str) -> None:
        self.call("PATCH", f"{_file(file_id)}/shares/{quote(user_id, safe='')}",
                  idempotent=True, json={"permission": permission})

    def unshare(self, file_id: str, user_id: str) -> None:
        self.call("DELETE", f"{_file(file_id)}/shares/{quote(user_id, safe='')}",
                  idempotent=True)

    def make_public(self, file_id: str) -> str:
        """The public link."""
        return str(self._json("POST", f"{_file(file_id)}/public", idempotent=True)["public_url"])

    def make_private(self, file_id: str) -> None:
        self.call("DELETE", f"{_file(file_id)}/public", idempotent=True)

    def add_shortcut(self, file_id: str) -> Shortcut:
        return Shortcut.from_json(self._json("POST", f"{_file(file_id)}/shortcut",
                                             idempotent=True))

    def remove_shortcut(self, file_id: str) -> None:
        self.call("DELETE", f"{_file(file_id)}/shortcut", idempotent=True)

    # ------------------------------------------------------------------ upload steps
    def proxy_session(self, file_name: str, size_bytes: int,
                      chunk_size_bytes: int = 0) -> ProxySession:
        """`chunk_size_bytes` is a wish the server may ignore: always cut the file by the
        session's `chunk_size_bytes`."""
        request: dict[str, Any] = {"file_name": file_name, "file_size_bytes": size_bytes}
        if chunk_size_bytes:
            request["chunk_size_bytes"] = chunk_size_bytes
        return ProxySession.from_json(self._json("POST", "/api/upload/proxy/session",
                                                 idempotent=False, json=request))

    def send_chunk(self, upload_uuid: str, index: int, body: Body, sha256_hex: str,
                   length: int) -> ChunkResult:
        """Chunk `index` (0-based); re-sending a chunk is harmless, so it is retried."""
        response = self.call("POST", "/api/upload/proxy/chunk", idempotent=True, body=body,
                             params={"id": str(index)},
                             headers={"Upload-UUID": upload_uuid, "Checksum": sha256_hex,
                                      "Content-Type": "application/octet-stream",
                                      "Content-Length": str(length)})
        return ChunkResult.from_json(response.json())

    def upload_status(self, upload_uuid: str) -> UploadStatus:
        return UploadStatus.from_json(self._json("GET", "/api/upload/status", idempotent=True,
                                                 params={"upload_uuid": upload_uuid}))

    def multipart_session(self, file_name: str, size_bytes: int,
                          part_size_bytes: int) -> MultipartSession:
        body = self._json("POST", "/api/upload/multipart/session", idempotent=False, json={
            "file_name": file_name, "file_size_bytes": size_bytes,
            "part_size_bytes": part_size_bytes})
        return MultipartSession.from_json(body, part_size_bytes)

    def register_part(self, upload_uuid: str, part_number: int, size_bytes: int,
                      etag: str) -> None:
        self.call("POST", "/api/upload/multipart/part", idempotent=True, json={
            "upload_uuid": upload_uuid, "part_number": part_number, "size_bytes": size_bytes,
            "etag": etag})

    def presign_parts(self, upload_uuid: str, part_numbers: list[int]) -> PresignedParts:
        return PresignedParts.from_json(self._json(
            "POST", "/api/upload/multipart/presign", idempotent=True,
            json={"upload_uuid": upload_uuid, "part_numbers": part_numbers}))

    def complete_multipart(self, upload_uuid: str,
                           parts: Sequence[tuple[int, str, int]] = ()) -> Completed:
        """`parts`: (part number, ETag, size) of parts not registered with `register_part`,
        listed instead (they must agree with the registered ones: 409 otherwise)."""
        body: dict[str, Any] = {"upload_uuid": upload_uuid}
        if parts:
            body["parts"] = [{"part_number": n, "etag": etag, "size_bytes": size}
                             for n, etag, size in parts]
        return Completed.from_json(self._json("POST", "/api/upload/multipart/complete",
                                              idempotent=True, json=body))

    def abort_upload(self, upload_uuid: str) -> None:
        self.call("POST", "/api/upload/abort", idempotent=True, json={"upload_uuid": upload_uuid})

    def put_part(self, url: str, body: Body, length: int) -> str:
        """PUT one part to its presigned S3 URL (no token); returns the part's ETag."""
        response = self.transport.request("PUT", url, idempotent=True, body=body,
                                          headers={"Content-Length": str(length)})
        return str(response.headers.get("ETag", "")).strip()
