"""The operator's quota commands (there is no admin API): `python -m svc_files quota set | show |
list | audit`, wired in __main__.py. Each returns a JSON-ready dict.

Users are named by email (`--email`, resolved by auth `ResolveUsers` with the service
credential, as sharing does: the files database holds user ids only and never reads auth's
tables) or by id (`--user-id`, no auth call).
"""

from __future__ import annotations

from common.errors import NotFound
from common.files import validate_uuid
from svc_files.models import Usage, UsageDrift
from svc_files.rules import format_bytes, normalize_email, parse_size
from svc_files.seams import Directory, QuotaAdmin


def usage_dict(usage: Usage, email: str | None = None) -> dict[str, object]:
    data: dict[str, object] = {"user_id": usage.user_id}
    if email:
        data["email"] = email
    data.update(
        quota_bytes=usage.quota_bytes, quota_is_default=usage.quota_is_default,
        used_bytes=usage.used_bytes, reserved_bytes=usage.reserved_bytes, files=usage.files,
        free_bytes=usage.free_bytes,
        summary=(f"{format_bytes(usage.used_bytes)} used, "
                 f"{format_bytes(usage.reserved_bytes)} reserved of "
                 + ("unlimited" if usage.quota_bytes == 0 else format_bytes(usage.quota_bytes))
                 + (" (default)" if usage.quota_is_default else "")),
    )
    return data


def _drift_dict(drift: UsageDrift) -> dict[str, object]:
    return {
        "user_id": drift.user_id,
        "recorded": {"used_bytes": drift.recorded.used_bytes,
                     "reserved_bytes": drift.recorded.reserved_bytes,
                     "files": drift.recorded.files},
        "from_rows": {"used_bytes": drift.used_bytes, "reserved_bytes": drift.reserved_bytes,
                      "files": drift.files},
    }


def parse_quota(text: str) -> int | None:
    """`--bytes`: a size (`50GiB`, `1073741824`), `0`/`unlimited`, or `default` (None)."""
    if text.strip().lower() == "default":
        return None
    return parse_size(text)


class QuotaCommands:
    def __init__(self, admin: QuotaAdmin, directory: Directory | None) -> None:
        self._admin = admin
        self._directory = directory

    async def _user(self, email: str | None, user_id: str | None) -> tuple[str, str | None]:
        if user_id:
            return validate_uuid(user_id, "--user-id"), None
        assert email is not None and self._directory is not None
        normalized = normalize_email(email)
        found = await self._directory.resolve([normalized])
        if normalized not in found:
            raise NotFound(f"no account for {normalized}")
        return found[normalized].user_id, normalized

    async def set(self, email: str | None, user_id: str | None,
                  quota: int | None) -> dict[str, object]:
        user, normalized = await self._user(email, user_id)
        return usage_dict(await self._admin.set_quota(user, quota), normalized)

    async def show(self, email: str | None, user_id: str | None) -> dict[str, object]:
        user, normalized = await self._user(email, user_id)
        return usage_dict(await self._admin.usage(user), normalized)

    async def list(self) -> dict[str, object]:
        users = await self._admin.list_usage()
        return {"users": [usage_dict(u) for u in users]}

    async def audit(self, fix: bool, stale_after_s: float) -> dict[str, object]:
        """Counters vs rows, and reservations older than `stale_after_s` (their session ended
        but the release was lost); `fix` releases those and corrects the counters."""
        stale = await self._admin.stale_reservations(stale_after_s)
        if fix:
            for upload, _, _ in stale:
                await self._admin.release(upload)
        checked, drifts = await self._admin.audit_usage(fix=fix)
        return {"users_checked": checked, "drifted": len(drifts),
                "stale_reservations": len(stale), "fixed": fix and bool(drifts or stale),
                "drift": [_drift_dict(d) for d in drifts],
                "stale": [{"upload_uuid": u, "user_id": user, "bytes": n}
                          for u, user, n in stale[:100]]}
