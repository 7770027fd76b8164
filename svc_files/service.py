"""The files service: the entry point of every files operation and the order of its side
effects (object first then row for copies; row + pending delete in one transaction, then the
object, for deletes). The access matrix and validators it applies are in rules.py; the
database, the bucket and the user directory are the Protocols in seams.py, so these operations
are unit-tested with in-memory fakes. No grpc, psycopg or minio here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from common.errors import InvalidArgument, QuotaExceeded, Unauthenticated
from common.files import NewFile, guess_mime, storage_key, validate_uuid
from common.files import validate_file_name as validate_name
from common.logging import get_logger
from svc_files import errors, metrics
from svc_files.config import Rules
from svc_files.models import (
    Access,
    DownloadLink,
    FileView,
    Page,
    Share,
    ShareGrant,
    Shortcut,
    Usage,
)
from svc_files.rules import (
    access_for,
    fits,
    normalize_email,
    quota_exceeded,
    require_access,
    validate_permission,
)
from svc_files.seams import Catalog, Directory, Objects

log = get_logger(__name__)


class FilesService:
    def __init__(
        self, store: Catalog, objects: Objects, directory: Directory, rules: Rules
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
    async def register_file(self, registration: NewFile) -> tuple[FileView, bool]:
        new = replace(
            registration,
            upload_id=validate_uuid(registration.upload_id or "", "upload_id"),
            file_id=validate_uuid(registration.file_id, "file_id"),
            owner_id=validate_uuid(registration.owner_id, "owner_id"),
            name=validate_name(registration.name),
            mime_type=guess_mime(registration.name, registration.mime_type),
            checksum=registration.checksum.strip(),
            storage_key=registration.storage_key.strip(),
        )
        if new.size_bytes < 0:
            raise InvalidArgument("size_bytes must not be negative")
        if not new.storage_key or len(new.storage_key) > 1024:
            raise InvalidArgument("storage_key must be 1–1024 characters")
        record, created = await self._store.register_file(new)
        return FileView(record, Access.OWNER), created

    async def reserve_quota(self, user_id: str, upload_uuid: str, size: int) -> Usage:
        """An upload session's declared size held against its owner's quota (QUOTA_EXCEEDED
        when it does not fit). RegisterFile converts it; release_quota gives it back."""
        user_id = validate_uuid(user_id, "user_id")
        upload_uuid = validate_uuid(upload_uuid, "upload_uuid")
        if size < 0:
            raise InvalidArgument("bytes must not be negative")
        try:
            return await self._store.reserve(user_id, upload_uuid, size)
        except QuotaExceeded:
            metrics.quota_rejected("upload")
            raise

    async def release_quota(self, upload_uuid: str) -> int:
        return await self._store.release(validate_uuid(upload_uuid, "upload_uuid"))

    async def usage(self, caller_id: str | None) -> Usage:
        return await self._store.usage(self._user(caller_id))

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
            raise errors.file_not_found()  # deleted meanwhile

    async def delete(self, caller_id: str | None, file_id: str) -> None:
        """The row leaves every list and a pending delete is queued in one transaction; the
        object is then removed at once, or by the janitor when S3 fails now."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.OWNER)
        pending_id = await self._store.soft_delete(view.file.file_id)
        if pending_id is None:
            raise errors.file_not_found()  # deleted meanwhile
        await self._remove_now(pending_id, view.file.storage_key)

    async def _remove_now(self, pending_id: int, key: str) -> None:
        try:
            await self._objects.remove(key)
            await self._store.finish_delete(pending_id)
        except Exception as exc:  # the janitor retries; the caller's request has succeeded
            log.warning("object_delete_deferred", storage_key=key, error=str(exc))

    async def copy(self, caller_id: str | None, file_id: str, name: str = "") -> FileView:
        """Object first, then the row (with the caller's quota charged in its transaction); when
        the row cannot be written (QUOTA_EXCEEDED included) the copied object is removed (or
        queued for removal). A quota that clearly cannot hold the copy refuses it before any
        S3 work."""
        user = self._user(caller_id)
        view = await self._view(file_id, user, Access.PUBLIC)
        new_name = validate_name(name) if name else view.file.name
        usage = await self._store.usage(user)
        if not fits(usage, view.file.size_bytes):
            metrics.quota_rejected("copy")
            raise quota_exceeded(usage, view.file.size_bytes)
        new_id = str(uuid.uuid4())
        target_key = storage_key(user, new_id)
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
            record = await self._store.insert_file(new)  # charged to the caller's quota
        except BaseException as exc:
            if isinstance(exc, QuotaExceeded):
                metrics.quota_rejected("copy")
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
            raise errors.too_many_recipients(limit)
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
            raise errors.unknown_recipients(unknown)
        grants = []
        for email, permission in wanted.items():
            resolved = found[email]
            if resolved.user_id == user:
                raise errors.cannot_share_with_self()
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
            raise errors.share_not_found()

    async def remove_share(self, caller_id: str | None, file_id: str, user_id: str) -> None:
        view = await self._view(file_id, self._user(caller_id), Access.OWNER)
        user_id = validate_uuid(user_id, "user_id")
        if not await self._store.remove_share(view.file.file_id, user_id):
            raise errors.share_not_found()

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
