"""Typed results of the REST API (docs/design.md §3), built from its JSON bodies. Unknown fields
are ignored, so a newer server with extra fields keeps working."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Self


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    return int(value) if isinstance(value, int | float | str) and str(value).strip() else 0


def _bool(body: dict[str, Any], key: str) -> bool:
    return bool(body.get(key))


_READERS = {"str": _str, "int": _int, "bool": _bool}


class _Plain:
    """A dataclass of str/int/bool fields named as the JSON body's."""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Self:
        return cls(**{f.name: _READERS[str(f.type)](body, f.name)
                      for f in fields(cls)})  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        values: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return values


@dataclass(frozen=True)
class Tokens(_Plain):
    access_token: str
    refresh_token: str
    user_id: str = ""
    username: str = ""
    email: str = ""


@dataclass(frozen=True)
class User(_Plain):
    user_id: str
    username: str
    email: str
    created_at: str


@dataclass(frozen=True)
class Usage(_Plain):
    """The caller's storage (GET /api/files/me/usage): bytes of their files, bytes held by their
    open uploads, their quota (0 = unlimited) and how many files they own."""

    used_bytes: int
    reserved_bytes: int
    quota_bytes: int
    files: int

    @property
    def free_bytes(self) -> int | None:
        """What an upload or a copy may still take (None: unlimited)."""
        if self.quota_bytes == 0:
            return None
        return max(0, self.quota_bytes - self.used_bytes - self.reserved_bytes)


@dataclass(frozen=True)
class FileSummary(_Plain):
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    created_at: str
    is_public: bool
    access: str = ""


@dataclass(frozen=True)
class Page:
    files: list[FileSummary]
    page: int
    has_more: bool

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Page:
        return cls([FileSummary.from_json(f) for f in body.get("files") or []],
                   _int(body, "page"), bool(body.get("has_more")))


@dataclass(frozen=True)
class Share(_Plain):
    user_id: str
    email: str
    permission: str
    created_at: str


@dataclass(frozen=True)
class DownloadLink(_Plain):
    download_url: str
    expires_at: str
    file_name: str


@dataclass(frozen=True)
class ProxySession(_Plain):
    upload_uuid: str
    total_chunks: int
    chunk_size_bytes: int
    expires_at: str


def _part_urls(body: dict[str, Any]) -> dict[int, str]:
    return {_int(p, "part_number"): _str(p, "url") for p in body.get("parts") or []}


@dataclass(frozen=True)
class MultipartSession:
    upload_uuid: str
    total_chunks: int
    part_size_bytes: int
    urls: dict[int, str] = field(repr=False)
    urls_expire_at: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any], part_size_bytes: int) -> MultipartSession:
        return cls(_str(body, "upload_uuid"), _int(body, "total_chunks"),
                   _int(body, "part_size_bytes") or part_size_bytes, _part_urls(body),
                   _str(body, "urls_expire_at") or _str(body, "expires_at"))


@dataclass(frozen=True)
class PresignedParts:
    urls: dict[int, str]
    expires_at: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> PresignedParts:
        return cls(_part_urls(body), _str(body, "expires_at"))


@dataclass(frozen=True)
class UploadStatus:
    upload_uuid: str
    status: str  # pending, uploading, completing, completed, failed, aborted, expired
    upload_method: str  # proxy or multipart
    total_chunks: int
    received: frozenset[int]  # chunk indexes (proxy, 0-based) or part numbers (multipart)
    file_id: str
    expires_at: str
    chunk_size_bytes: int

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UploadStatus:
        return cls(_str(body, "upload_uuid"), _str(body, "status"), _str(body, "upload_method"),
                   _int(body, "total_chunks"),
                   frozenset(int(n) for n in body.get("received") or []),
                   _str(body, "file_id"), _str(body, "expires_at"),
                   _int(body, "chunk_size_bytes"))


@dataclass(frozen=True)
class ChunkResult(_Plain):
    status: str
    file_id: str


@dataclass(frozen=True)
class Completed(_Plain):
    file_id: str
    size_bytes: int
    checksum: str


@dataclass(frozen=True)
class Shortcut(_Plain):
    shortcut_id: str
    file_id: str
    created_at: str

