"""The files rules: who may do what with a file, validation, and the order of side effects.

Access matrix (`access_for`): owner → OWNER; a share → EDITOR or VIEWER; a public file → PUBLIC;
anyone else (and anonymous callers of private files) → NONE.

| operation                        | needs            | otherwise                         |
|----------------------------------|------------------|-----------------------------------|
| GetFile, GetDownloadUrl          | PUBLIC (anon ok) | 404 FILE_NOT_FOUND                |
| CopyFile, CreateShortcut         | PUBLIC + a user  | 404                               |
| RenameFile                       | EDITOR           | 403 if visible, else 404          |
| DeleteFile, shares, public link  | OWNER            | 403 if visible, else 404          |
| DeleteShortcut                   | a user           | idempotent: 204 whatever existed  |

No grpc, psycopg or minio here: the store, the object store and the user directory are the small
Protocols below, so the rules are unit-tested with in-memory fakes.
"""

from __future__ import annotations

import mimetypes
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from common.logging import get_logger
from svc_files.config import Rules
from svc_files.errors import file_not_found, share_not_found
from svc_files.models import (
    EDITOR,
    PERMISSIONS,
    Access,
    DownloadLink,
    FileGrant,
    FileRecord,
    FileView,
    NewFile,
    Page,
    ResolvedUser,
    Share,
    ShareGrant,
    Shortcut,
)

log = get_logger(__name__)

DEFAULT_MIME = "application/octet-stream"
MAX_NAME_CHARS = 255
MAX_EMAIL_CHARS = 320


class FileStore(Protocol):
    async def register_file(self, new: NewFile) -> tuple[FileRecord, bool]: ...
    async def insert_file(self, new: NewFile) -> FileRecord: ...
    async def get_grant(self, file_id: str, user_id: str | None) -> FileGrant | None: ...
    async def list_owned(self, owner_id: str, limit: int, offset: int) -> list[FileRecord]: ...
    async def list_shared(self, user_id: str, limit: int, offset: int) -> list[FileGrant]: ...
    async def list_shortcuts(self, user_id: str, limit: int, offset: int) -> list[FileGrant]: ...
    async def rename(self, file_id: str, name: str) -> bool: ...
    async def soft_delete(self, file_id: str) -> int | None: ...
    async def enqueue_delete(self, storage_key: str) -> int: ...
    async def finish_delete(self, pending_id: int) -> None: ...
    async def upsert_shares(self, file_id: str, grants: Sequence[ShareGrant]) -> list[Share]: ...
    async def list_shares(self, file_id: str) -> list[Share]: ...
    async def update_share(self, file_id: str, user_id: str, permission: str) -> bool: ...
    async def remove_share(self, file_id: str, user_id: str) -> bool: ...
    async def set_public(self, file_id: str, public: bool) -> None: ...
    async def add_shortcut(self, file_id: str, user_id: str, shortcut_id: str) -> Shortcut: ...
    async def remove_shortcut(self, file_id: str, user_id: str) -> None: ...


class ObjectStore(Protocol):
    async def copy(self, source_key: str, target_key: str) -> None: ...
    async def remove(self, key: str) -> None: ...
    def presign_get(self, key: str, ttl: timedelta, file_name: str, mime_type: str) -> str: ...


class Directory(Protocol):
    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        """Normalised email → user, for the emails that have an account."""
        ...


# ----------------------------------------------------------------------------------- pure rules
def access_for(grant: FileGrant, caller_id: str | None) -> Access:
    file = grant.file
    if caller_id is not None and caller_id == file.owner_id:
        return Access.OWNER
    if caller_id is not None and grant.share_permission == EDITOR:
        return Access.EDITOR
    if caller_id is not None and grant.share_permission is not None:
        return Access.VIEWER
    if file.is_public:
        return Access.PUBLIC
    return Access.NONE


def require_access(grant: FileGrant | None, caller_id: str | None, needed: Access) -> FileView:
    """The caller's view of the file, or 404 when they may not see it / 403 when they may see it
    but not do this."""
    if grant is None:
        raise file_not_found()
    access = access_for(grant, caller_id)
    if access == Access.NONE:
        raise file_not_found()
    if access < needed:
        raise PermissionDenied(
            "only the owner may do this" if needed == Access.OWNER
            else "you may view this file but not change it"
        )
    return FileView(grant.file, access)


def validate_name(name: str, field: str = "name") -> str:
    if not name or not name.strip():
        raise InvalidArgument(f"{field} must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument(f"{field} must be at most {MAX_NAME_CHARS} characters")
    if "/" in name or "\\" in name:
        raise InvalidArgument(f"{field} must not contain / or \\")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidArgument(f"{field} must not contain control characters")
    if name in {".", ".."}:
        raise InvalidArgument(f"{field} must not be . or ..")
    return name


def validate_uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidArgument(f"{field} must be a UUID") from None


def guess_mime(name: str, declared: str) -> str:
    """The declared type when it looks like one (`type/subtype[; params]`), else a guess from the
    name, else application/octet-stream. Never an error: a registration must not fail over it."""
    declared = declared.strip()
    if (declared and len(declared) <= 255 and "/" in declared.split(";", 1)[0]
            and not any(unicodedata.category(ch) == "Cc" for ch in declared)):
        return declared
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_MIME


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    local, at, domain = normalized.partition("@")
    if not at or not local or not domain or len(normalized) > MAX_EMAIL_CHARS:
        raise InvalidArgument(f"not an email address: {email!r}")
    return normalized


def validate_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise InvalidArgument("permission must be viewer or editor")
    return permission


def storage_key_for(owner_id: str, file_id: str) -> str:
    return f"users/{owner_id}/{file_id}"


# ----------------------------------------------------------------------------------- the service
class FilesService:
    def __init__(
        self, store: FileStore, objects: ObjectStore, directory: Directory, rules: Rules
    ) -> None:
        self._store = store
        self._objects = objects
        self._directory = directory
        self._rules = rules

    # -- helpers
    async def _view(self, file_id: str, caller_id: str | None, needed: Access) -> FileView:
        file_id = validate_uuid(file_id, "file_id")
        return require_access(await self._store.get_grant(file_id, caller_id), caller_id, needed)

    @staticmethod
    def _user(caller_id: str | None) -> str:
        if caller_id is None:
            raise Unauthenticated("an access token is required")
        return caller_id

    def _window(self, page: int, limit: int) -> tuple[int, int, int]:
        page = max(page, 1)
        if limit < 0:
            raise InvalidArgument("limit must not be negative")
        limit = min(limit or self._rules.page_size_default, self._rules.page_size_max)
        if page > 1_000_000:
            raise InvalidArgument("page is out of range")
        return page, limit, (page - 1) * limit

    # -- internal
    async def register_file(
        self,
        *,
        upload_id: str,
        file_id: str,
        owner_id: str,
        name: str,
        mime_type: str,
        size_bytes: int,
        checksum: str,
        storage_key: str,
    ) -> tuple[FileView, bool]:
        new = NewFile(
            upload_id=validate_uuid(upload_id, "upload_id"),
            file_id=validate_uuid(file_id, "file_id"),
            owner_id=validate_uuid(owner_id, "owner_id"),
            name=validate_name(name),
            mime_type=guess_mime(name, mime_type),
            size_bytes=size_bytes,
            checksum=checksum.strip(),
            storage_key=storage_key.strip(),
        )
        if size_bytes < 0:
            raise InvalidArgument("size_bytes must not be negative")
        if not new.storage_key or len(new.storage_key) > 1024:
            raise InvalidArgument("storage_key must be 1–1024 characters")
        record, created = await self._store.register_file(new)
        return FileView(record, Access.OWNER), created

    # -- lists
    async def list_owned(self, caller_id: str | None, page: int, limit: int) -> Page:
        user = self._user(caller_id)
        page, limit, offset = self._window(page, limit)
        rows = await self._store.list_owned(user, limit + 1, offset)
        views = [FileView(r, Access.OWNER) for r in rows[:limit]]
        return Page(views, page, len(rows) > limit)

    async def list_shared(self, caller_id: str | None, page: int, limit: int) -> Page:
        user = self._user(caller_id)
        page, limit, offset = self._window(page, limit)
        rows = await self._store.list_shared(user, limit + 1, offset)
        views = [FileView(g.file, access_for(g, user)) for g in rows[:limit]]
        return Page(views, page, len(rows) > limit)

    async def list_shortcuts(self, caller_id: str | None, page: int, limit: int) -> Page:
        user = self._user(caller_id)
        page, limit, offset = self._window(page, limit)
        rows = await self._store.list_shortcuts(user, limit + 1, offset)
        views = [FileView(g.file, access_for(g, user)) for g in rows[:limit]]
        return Page(views, page, len(rows) > limit)

    # -- one file
    async def get_file(self, caller_id: str | None, file_id: str) -> FileView:
        return await self._view(file_id, caller_id, Access.PUBLIC)

    async def download_link(self, caller_id: str | None, file_id: str) -> DownloadLink:
        view = await self._view(file_id, caller_id, Access.PUBLIC)
        ttl = timedelta(seconds=self._rules.download_url_ttl_s)
        expires_at = datetime.now(UTC) + ttl
        url = self._objects.presign_get(
            view.file.storage_key, ttl, view.file.name, view.file.mime_type
        )
        return DownloadLink(url, expires_at, view.file.name)

    async def rename(self, caller_id: str | None, file_id: str, name: str) -> None:
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.EDITOR)
        name = validate_name(name)
        if not await self._store.rename(view.file.file_id, name):
            raise file_not_found()  # deleted meanwhile

    async def delete(self, caller_id: str | None, file_id: str) -> None:
        """The row leaves every list and a pending delete is queued in one transaction; the
        object is then removed at once, or by the janitor when S3 fails now."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.OWNER)
        pending_id = await self._store.soft_delete(view.file.file_id)
        if pending_id is None:
            raise file_not_found()  # deleted meanwhile
        await self._remove_now(pending_id, view.file.storage_key)

    async def _remove_now(self, pending_id: int, key: str) -> None:
        try:
            await self._objects.remove(key)
            await self._store.finish_delete(pending_id)
        except Exception as exc:  # the janitor retries; the caller's request has succeeded
            log.warning("object_delete_deferred", storage_key=key, error=str(exc))

    async def copy(self, caller_id: str | None, file_id: str, name: str = "") -> FileView:
        """Object first, then the row; when the row cannot be written the copied object is
        removed (or queued for removal)."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.PUBLIC)
        new_name = validate_name(name) if name else view.file.name
        new_id = str(uuid.uuid4())
        target_key = storage_key_for(user, new_id)
        await self._objects.copy(view.file.storage_key, target_key)
        new = NewFile(
            upload_id=None,
            file_id=new_id,
            owner_id=user,
            name=new_name,
            mime_type=view.file.mime_type,
            size_bytes=view.file.size_bytes,
            checksum=view.file.checksum,
            storage_key=target_key,
        )
        try:
            record = await self._store.insert_file(new)
        except BaseException:
            await self._discard_object(target_key)
            raise
        return FileView(record, Access.OWNER)

    async def _discard_object(self, key: str) -> None:
        try:
            await self._objects.remove(key)
            return
        except Exception as exc:
            log.warning("copy_cleanup_failed", storage_key=key, error=str(exc))
        try:
            await self._store.enqueue_delete(key)
        except Exception as exc:  # the audit reports it as an orphan object
            log.error("copy_cleanup_not_queued", storage_key=key, error=str(exc))

    # -- shares
    async def add_shares(
        self, caller_id: str | None, file_id: str, recipients: Sequence[tuple[str, str]]
    ) -> list[Share]:
        """All or nothing: every email must resolve, or nothing is written."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.OWNER)
        if not recipients:
            raise InvalidArgument("at least one recipient is required")
        limit = self._rules.max_share_recipients
        if len(recipients) > limit:
            raise InvalidArgument(
                f"at most {limit} recipients per request", "TOO_MANY_RECIPIENTS"
            )
        wanted: dict[str, str] = {}
        for email, permission in recipients:
            normalized = normalize_email(email)
            validate_permission(permission)
            if normalized in wanted:
                raise InvalidArgument(f"recipient listed twice: {normalized}")
            wanted[normalized] = permission
        found = await self._directory.resolve(list(wanted))
        unknown = [email for email in wanted if email not in found]
        if unknown:
            raise InvalidArgument(
                "no account for: " + ", ".join(sorted(unknown)), "UNKNOWN_RECIPIENTS"
            )
        grants = []
        for email, permission in wanted.items():
            resolved = found[email]
            if resolved.user_id == user:
                raise InvalidArgument("you cannot share a file with yourself",
                                      "CANNOT_SHARE_WITH_SELF")
            grants.append(ShareGrant(resolved.user_id, resolved.email, permission))
        return await self._store.upsert_shares(view.file.file_id, grants)

    async def list_shares(self, caller_id: str | None, file_id: str) -> list[Share]:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        return await self._store.list_shares(view.file.file_id)

    async def update_share(
        self, caller_id: str | None, file_id: str, user_id: str, permission: str
    ) -> None:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        user_id = validate_uuid(user_id, "user_id")
        validate_permission(permission)
        if not await self._store.update_share(view.file.file_id, user_id, permission):
            raise share_not_found()

    async def remove_share(self, caller_id: str | None, file_id: str, user_id: str) -> None:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        user_id = validate_uuid(user_id, "user_id")
        if not await self._store.remove_share(view.file.file_id, user_id):
            raise share_not_found()

    # -- public links
    async def create_public_link(self, caller_id: str | None, file_id: str) -> str:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        await self._store.set_public(view.file.file_id, True)
        return f"{self._rules.public_base_url}/api/files/f/{view.file.file_id}"

    async def delete_public_link(self, caller_id: str | None, file_id: str) -> None:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        await self._store.set_public(view.file.file_id, False)

    # -- shortcuts
    async def create_shortcut(self, caller_id: str | None, file_id: str) -> Shortcut:
        """Idempotent: creating a shortcut that exists returns the existing one."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.PUBLIC)
        return await self._store.add_shortcut(view.file.file_id, user, str(uuid.uuid4()))

    async def delete_shortcut(self, caller_id: str | None, file_id: str) -> None:
        """Idempotent, and allowed after access was lost (a revoked share's shortcut)."""
        user = self._user(caller_id)
        await self._store.remove_shortcut(validate_uuid(file_id, "file_id"), user)
