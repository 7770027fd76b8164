"""Domain types shared by the service, the store and the server (plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum


class Access(IntEnum):
    """What a caller may do with a file; ordered, so `access >= Access.EDITOR` reads naturally.
    Values match `govault.files.v1.Access`."""

    NONE = 0
    PUBLIC = 1
    VIEWER = 2
    EDITOR = 3
    OWNER = 4


VIEWER = "viewer"
EDITOR = "editor"
PERMISSIONS = (VIEWER, EDITOR)


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    owner_id: str
    name: str
    mime_type: str
    size_bytes: int
    checksum: str
    storage_key: str
    created_at: datetime
    is_public: bool = False


@dataclass(frozen=True)
class FileGrant:
    """A live file and what one caller holds on it (share permission, if any)."""

    file: FileRecord
    share_permission: str | None = None


@dataclass(frozen=True)
class FileView:
    """A file as shown to a caller: the record plus the caller's access."""

    file: FileRecord
    access: Access


@dataclass(frozen=True)
class Share:
    user_id: str
    email: str
    permission: str
    created_at: datetime


@dataclass(frozen=True)
class ShareGrant:
    user_id: str
    email: str
    permission: str


@dataclass(frozen=True)
class Shortcut:
    shortcut_id: str
    file_id: str
    created_at: datetime


@dataclass(frozen=True)
class Page:
    files: list[FileView]
    page: int
    has_more: bool


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime
    file_name: str


@dataclass(frozen=True)
class PendingDelete:
    id: int
    storage_key: str
    attempts: int


@dataclass(frozen=True)
class ResolvedUser:
    user_id: str
    email: str  # normalised


@dataclass(frozen=True)
class Usage:
    """A user's storage: bytes of their live files (copies count, shares do not), bytes
    reserved by their open upload sessions, and their effective quota (0 = unlimited;
    `quota_is_default`: no quota of their own, the service default applies)."""

    user_id: str
    used_bytes: int
    reserved_bytes: int
    quota_bytes: int
    files: int
    quota_is_default: bool = True

    @property
    def free_bytes(self) -> int | None:
        """What still fits (None: unlimited)."""
        if self.quota_bytes == 0:
            return None
        return max(0, self.quota_bytes - self.used_bytes - self.reserved_bytes)


@dataclass(frozen=True)
class UsageDrift:
    """One user whose counters differ from what their rows say (the quota audit)."""

    user_id: str
    recorded: Usage
    used_bytes: int
    reserved_bytes: int
    files: int
