"""Unit tests of the janitor (owed object deletions, audit) and the S3 helpers that need no
server (content disposition, presigning without a network call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import REGISTRY

from svc_files.config import S3Settings
from svc_files.janitor import Janitor, backoff_s
from svc_files.models import PendingDelete
from svc_files.s3 import S3Objects, content_disposition

OLD = datetime(2020, 1, 1, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.pending: dict[int, PendingDelete] = {}
        self.live: set[str] = set()
        self.failures: list[tuple[int, float]] = []

    async def due_deletes(self, limit: int) -> list[PendingDelete]:
        return list(self.pending.values())[:limit]

    async def key_is_live(self, storage_key: str) -> bool:
        return storage_key in self.live

    async def finish_delete(self, pending_id: int) -> None:
        del self.pending[pending_id]

    async def delete_failed(self, pending_id: int, error: str, retry_in_s: float) -> None:
        item = self.pending[pending_id]
        self.pending[pending_id] = PendingDelete(item.id, item.storage_key, item.attempts + 1)
        self.failures.append((pending_id, retry_in_s))

    async def count_pending(self) -> int:
        return len(self.pending)

    async def audit_keys(self) -> tuple[set[str], set[str]]:
        return set(self.live), {p.storage_key for p in self.pending.values()}

    async def usage_totals(self) -> tuple[int, int]:
        return 0, 0


class Objects:
    def __init__(self) -> None:
        self.objects: dict[str, datetime] = {}
        self.broken: set[str] = set()

    async def remove(self, key: str) -> None:
        if key in self.broken:
            raise OSError("connection refused")
        self.objects.pop(key, None)

    async def list_objects(self, prefix: str = "users/") -> dict[str, datetime]:
        return dict(self.objects)


async def test_janitor_retries_until_success_and_spares_live_keys() -> None:
    store, objects = Store(), Objects()
    objects.objects = {"users/a/1": OLD, "users/a/2": OLD, "users/a/3": OLD}
    store.pending = {1: PendingDelete(1, "users/a/1", 0), 2: PendingDelete(2, "users/a/2", 0),
                     3: PendingDelete(3, "users/a/3", 0)}
    store.live = {"users/a/3"}  # re-used by a live row: never removed
    objects.broken = {"users/a/2"}
    janitor = Janitor(store, objects)
    assert await janitor.run_once() == 2
    assert set(objects.objects) == {"users/a/2", "users/a/3"}
    assert list(store.pending) == [2] and store.failures == [(2, 2.0)]
    objects.broken.clear()
    assert await janitor.run_once() == 1
    assert store.pending == {} and set(objects.objects) == {"users/a/3"}


def test_backoff_is_capped() -> None:
    assert backoff_s(1) == 2 and backoff_s(3) == 8 and backoff_s(50) == 300


async def test_audit_counts_orphans_missing_and_pending() -> None:
    store, objects = Store(), Objects()
    now = datetime.now(UTC)
    store.live = {"users/a/live", "users/a/missing"}
    store.pending = {1: PendingDelete(1, "users/a/queued", 0)}
    objects.objects = {"users/a/live": OLD, "users/a/orphan": OLD, "users/a/queued": OLD,
                       "users/a/fresh": now}
    report = await Janitor(store, objects).audit(grace_s=60)
    assert (report.rows, report.objects, report.orphan_objects, report.missing_objects,
            report.pending_deletes) == (2, 4, 1, 1, 1)
    assert report.orphan_keys == ["users/a/orphan"] and report.missing_keys == ["users/a/missing"]
    assert REGISTRY.get_sample_value("govault_audit_orphan_objects") == 1
    assert REGISTRY.get_sample_value("govault_audit_missing_objects") == 1
    assert REGISTRY.get_sample_value("govault_files_objects_pending_delete") == 1
    strict = await Janitor(store, objects).audit(grace_s=0)
    assert strict.orphan_objects == 2
    assert REGISTRY.get_sample_value("govault_audit_orphan_objects") == 2
    assert set(strict.as_dict()) >= {"rows", "objects", "orphan_objects", "missing_objects",
                                     "pending_deletes"}


def test_content_disposition_is_safe_and_exact() -> None:
    header = content_disposition('naïve "quote"\\;x.txt')
    assert header.startswith('attachment; filename="na_ve _quote__;x.txt"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == 'naïve "quote"\\;x.txt'
    assert " " not in encoded and '"' not in encoded


def test_presign_uses_public_endpoint_without_network() -> None:
    settings = S3Settings(endpoint="http://127.0.0.1:1", public_endpoint="https://files.example:8443",
                          access_key="k", secret_key="s", bucket="bkt", region="us-east-1",
                          timeout_s=1.0)
    url = S3Objects(settings).presign_get("users/u/f", timedelta(seconds=90), "ü.bin",
                                            "application/octet-stream")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "files.example:8443",
                                                        "/bkt/users/u/f")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["90"]
    assert query["response-content-disposition"][0].endswith("filename*=UTF-8''%C3%BC.bin")
