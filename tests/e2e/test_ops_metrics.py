"""Every metric the Grafana dashboards query exists in the running processes, and label values
stay bounded (route templates, never raw paths, ids or tokens).

Traffic first: counters and histograms with labels appear only after their first use, so the
test signs up, logs in, refreshes, uploads (proxy and multipart), aborts, lists and misses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from compose import Stack
from tests.support.files import upload_file, upload_one_part
from tests.support.users import User, new_user
from tests.tooling.test_dashboards import documented_metrics, used_metrics

PROCESSES = ("edge", "auth", "upload", "files")
HEX = "[0-9a-fA-F]"
UUID = re.compile(f"{HEX}{{8}}-?{HEX}{{4}}-?{HEX}{{4}}-?{HEX}{{4}}-?{HEX}{{12}}")
LONG_HEX = re.compile(r"[0-9a-fA-F]{16,}")
ROUTE = re.compile(r"^(unmatched|/[A-Za-z0-9_./{}-]*)$")
# label -> what its values may look like
BOUNDED = {
    "method": re.compile(r"^([A-Z]+|[A-Z][A-Za-z]+|proxy|multipart|tus)$"),
    "status": re.compile(r"^\d{3}$"),
    "code": re.compile(r"^[A-Z_]+$"),
    "service": re.compile(r"^[a-z_]+$"),
    "state": re.compile(r"^(size|available|max)$"),
    "outcome": re.compile(r"^[a-z_]+$"),
    "operation": re.compile(r"^[a-z_]+$"),
    "group": re.compile(r"^(auth|upload|files|default)$"),
    "upstream": re.compile(r"^(auth|upload|files)$"),
    "dependency": re.compile(r"^(database|object_store)$"),
    "reason": re.compile(r"^(upload|copy)$"),  # quota rejections
    "kind": re.compile(r"^(used|reserved)$"),  # usage bytes
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as client:
        yield client


async def _ok(response: aiohttp.ClientResponse, *statuses: int) -> dict[str, object]:
    body = await response.json() if response.content_type == "application/json" else {}
    assert response.status in (statuses or (200,)), (response.url, response.status, body)
    return body


async def drive_traffic(session: aiohttp.ClientSession, base: str) -> User:
    user = await new_user(session, base, "metrics")
    async with session.post(f"{base}/auth/refresh",
                            json={"refresh_token": user.refresh_token}) as r:
        await _ok(r)
    async with session.get(f"{base}/auth/me", headers=user.auth) as r:
        await _ok(r)
    async with session.post(f"{base}/auth/login",
                            json={"email": user.email, "password": "wrong-password"}) as r:
        await _ok(r, 400)  # INVALID_CREDENTIALS
    file_id = await upload_file(session, base, user, b"metrics" * 1000, "metrics.bin")
    # multipart: one small part straight to S3, then complete
    await upload_one_part(session, base, user, b"m" * 4096, "mp.bin")
    # an aborted proxy session
    async with session.post(f"{base}/api/upload/proxy/session", headers=user.auth,
                            json={"file_name": "gone.bin", "file_size_bytes": 10}) as r:
        aborted = await _ok(r)
    async with session.post(f"{base}/api/upload/abort", headers=user.auth,
                            json={"upload_uuid": aborted["upload_uuid"]}) as r:
        await _ok(r, 204)
    for path in ("/api/files/me/owned", f"/api/files/f/{file_id}",
                 f"/api/files/f/{file_id}/download"):
        async with session.get(f"{base}{path}", headers=user.auth) as r:
            await _ok(r)
    # ids in paths the server does not know: must not become label values
    async with session.get(f"{base}/api/files/f/{uuid.uuid4()}", headers=user.auth) as r:
        await _ok(r, 404)
    async with session.get(f"{base}/no/such/{uuid.uuid4()}/{user.user_id}") as r:
        await _ok(r, 404)
    return user


async def scrape(session: aiohttp.ClientSession, port: int) -> list[tuple[str, dict[str, str]]]:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    return [(sample.name, dict(sample.labels))
            for family in text_string_to_metric_families(text) for sample in family.samples]


async def test_dashboard_metrics_exist_and_labels_are_bounded(
    stack: Stack, session: aiohttp.ClientSession,
) -> None:
    user = await drive_traffic(session, stack.edge_url)
    samples = {name: await scrape(session, stack.metrics_ports[name]) for name in PROCESSES}
    names = {name: {sample for sample, _ in found} for name, found in samples.items()}
    every = set().union(*names.values())

    catalog = documented_metrics()
    missing = []
    for metric, boards in sorted(used_metrics().items()):
        expected = f"{metric}_bucket" if catalog[metric]["histogram"] else metric
        if expected not in every:
            missing.append(f"{expected} (used by {', '.join(sorted(boards))})")
    assert not missing, "dashboard metrics not exported by any process:\n" + "\n".join(missing)

    for process in PROCESSES:
        assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names[process]
    assert "govault_http_requests_total" in names["edge"]
    for service in ("auth", "upload", "files"):
        assert {"govault_grpc_server_handled_total", "govault_grpc_server_handling_seconds_bucket",
                "govault_db_pool_connections", "govault_db_pool_requests_waiting"} <= names[
                    service], service

    secrets = {user.token, user.refresh_token, user.user_id, user.email}
    for process, found in samples.items():
        for sample, labels in found:
            if not sample.startswith("govault_"):
                continue
            for label, value in labels.items():
                where = f"{process}: {sample}{{{label}={value!r}}}"
                assert not UUID.search(value) and not LONG_HEX.search(value), where
                assert value not in secrets, where
                if label == "route":
                    assert ROUTE.match(value), where
                elif label in BOUNDED:
                    assert BOUNDED[label].match(value), where
                elif label != "le":
                    raise AssertionError(f"undocumented label {where}")
    routes = {labels["route"] for sample, labels in samples["edge"]
              if sample == "govault_http_requests_total"}
    assert "/api/files/f/{id}" in routes or any("{" in route for route in routes), routes
    assert "unmatched" in routes
