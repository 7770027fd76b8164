"""The Helm chart installed on a real one-node Kubernetes cluster (issue 25), driven from this
host through the edge's NodePort Service; presigned URLs point at SeaweedFS's NodePort (the
chart's `s3.publicEndpoint`). The tests run in order on one release (conftest.py):

1. the install: two ready replicas of every process, each database migrated exactly once;
2. a user's journey: sign-up, login, proxy and multipart uploads, list, byte-exact downloads, a
   share, a public link;
3. pod kills under load (4 uploading clients, unary calls each sent once): one pod of auth,
   upload, files and edge deleted with `--grace-period=0 --force`, then one edge pod deleted
   gracefully; per kill the failed unary calls, the refusals by kind (503 with Retry-After…),
   the time until the replacement is Ready; afterwards every confirmed upload is listed and
   byte-exact, no session is left after a reaper pass, no orphan object, no open multipart
   upload (tests/faults/checks.py);
4. a rolling upgrade under the same load (`helm upgrade` to a new image tag and a changed
   environment value): the failed requests are reported, the ready replicas never drop below
   two (maxUnavailable 0), no migration runs again; then the PodDisruptionBudgets refuse the
   second of two back-to-back evictions;
5. the reaper and the janitor: abandoned sessions expire, and the objects of files deleted while
   the store did not answer are removed by the janitor, each exactly once across the two
   replicas (their counters summed over the pods; the advisory lock leaves each pass to one
   replica);
6. `helm test` passes; `helm uninstall` leaves no object of the release.

Figures go to the run's summary and $GOVAULT_K8S_REPORT (conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
import pytest
from minio import Minio

from tests.faults.checks import (
    PASSWORD,
    assert_nothing_lost_nothing_left,
    first_success,
    listed,
    new_account,
)
from tests.faults.workload import (
    MIB,
    FaultClient,
    Observations,
    keep_uploading,
    refusal_kind,
)
from tests.k8s.conftest import FIGURES
from tests.k8s.release import (
    CHART,
    DEPS_NS,
    NS,
    PROCESSES,
    RELEASE,
    SERVICES,
    Release,
    metric_sum,
    pod_names,
)

MIGRATIONS = {s: len(list((CHART.parents[2] / f"svc_{s}" / "migrations").glob("*.sql")))
              for s in SERVICES}
READY_TIMEOUT_S = 240
RECOVERY_LIMIT_S = 180  # a login and an upload succeed again (a busy two-core node)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        yield session


async def client(http: aiohttp.ClientSession, release: Release,
                 seen: Observations | None = None) -> FaultClient:
    account = await new_account(http, release.edge_url)
    fault_client = FaultClient(http, release.edge_url, account, seen or Observations())
    await fault_client.login()
    return fault_client


# ----------------------------------------------------------------------------- 1. install
def test_install_runs_two_ready_replicas_and_migrates_each_database_once(
        release: Release) -> None:
    for process in PROCESSES:
        assert len(release.ready_pods(process)) == 2, process
    for service in SERVICES:
        with psycopg.connect(release.database_urls[service]) as conn:
            rows = conn.execute("SELECT version, count(*) FROM schema_migrations"
                                " GROUP BY version").fetchall()
        assert len(rows) == MIGRATIONS[service] and all(n == 1 for _, n in rows), rows
        # both replicas started together; the advisory lock let one of them apply everything
        applied = [line for pod in pod_names(release.pods(service))
                   for line in release.logs(pod).splitlines() if "migration_applied" in line]
        assert len(applied) == MIGRATIONS[service], applied
    FIGURES["install"] = {"migrations_applied_once": MIGRATIONS}


# ----------------------------------------------------------------------------- 2. journey
async def test_user_journey_through_the_edge_service(release: Release,
                                                     http: aiohttp.ClientSession) -> None:
    alice = await client(http, release)
    bob = await client(http, release)
    files = {}
    for method, size in (("proxy", 5 * MIB + 12345), ("multipart", 5 * MIB + 777)):
        data = os.urandom(size)
        stored = await alice.upload(data, method)
        files[stored.file_id] = data
    assert await listed(alice) == set(files)

    for file_id, data in files.items():
        status, link = await alice.call("GET", f"/api/files/f/{file_id}/download")
        assert status == 200, link
        # the presigned URL names the store's public endpoint, which this host reaches
        assert link["download_url"].startswith(release.s3_endpoint + "/"), link
        async with http.get(link["download_url"]) as answer:
            assert answer.status == 200
            assert hashlib.sha256(await answer.read()).digest() == \
                hashlib.sha256(data).digest()

    shared_id, data = next(iter(files.items()))
    status, body = await alice.call("POST", f"/api/files/f/{shared_id}/shares", json={
        "recipients": [{"email": bob.account.email, "permission": "viewer"}]})
    assert status == 201, body
    status, page = await bob.call("GET", "/api/files/me/shared")
    assert status == 200 and [f["file_id"] for f in page["files"]] == [shared_id], page

    status, public = await alice.call("POST", f"/api/files/f/{shared_id}/public")
    assert status == 201, public
    # the public link is the edge's NodePort address (files.publicBaseUrl)
    assert public["public_url"] == f"{release.edge_url}/api/files/f/{shared_id}", public
    status, summary = await alice.call("GET", public["public_url"], auth=False)
    assert status == 200 and summary["is_public"] is True, summary
    status, link = await alice.call("GET", public["public_url"] + "/download", auth=False)
    assert status == 200, link
    async with http.get(link["download_url"]) as answer:
        assert answer.status == 200 and await answer.read() == data


# ----------------------------------------------------------------------------- load
@dataclass
class UnaryLog:
    """Unary calls through the edge, each sent once (never retried): when each ended, and the
    failures with their kind."""

    ended_at: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)

    def between(self, start: float, end: float) -> tuple[int, int]:
        calls = sum(1 for t in self.ended_at if start <= t < end)
        return calls, sum(1 for t, _ in self.failures if start <= t < end)


async def keep_calling(caller: FaultClient, calls: list[tuple[str, str, Any]], log: UnaryLog,
                       stop: asyncio.Event) -> None:
    turn = 0
    while not stop.is_set():
        method, path, body = calls[turn % len(calls)]
        turn += 1
        headers = {"Authorization": f"Bearer {caller.account.token}"}
        retry_after = None
        try:
            async with caller.http.request(method, caller.base + path, headers=headers,
                                           json=body,
                                           timeout=aiohttp.ClientTimeout(total=20)) as answer:
                await answer.read()
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        now = time.monotonic()
        log.ended_at.append(now)
        if status != 200:
            kind = refusal_kind(status, retry_after) if status in (0, 429, 502, 503, 504) \
                else str(status)
            log.refusals[kind] += 1
            log.failures.append((now, f"{kind} {method} {path}"))
        await asyncio.sleep(0.05)


@dataclass
class Load:
    workers: list[FaultClient]
    probe: FaultClient
    seen: Observations
    unary: UnaryLog
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def start_load(http: aiohttp.ClientSession, release: Release) -> Load:
    """4 clients uploading (2 proxy, 2 multipart) and 3 streams of unary calls (profile and
    listing reads, logins)."""
    seen = Observations()
    workers = [await client(http, release, seen) for _ in range(4)]
    probe = await client(http, release)
    caller = await client(http, release)
    stop = asyncio.Event()
    unary = UnaryLog()
    tasks = [asyncio.create_task(keep_uploading(w, method, stop))
             for w, method in zip(workers, ["proxy", "multipart"] * 2, strict=True)]
    reads = [("GET", "/auth/me", None), ("GET", "/api/files/me/owned?limit=5", None)]
    logins = [("POST", "/auth/login", {"email": caller.account.email, "password": PASSWORD})]
    tasks += [asyncio.create_task(keep_calling(caller, calls, unary, stop))
              for calls in (reads, reads, logins)]
    return Load(workers, probe, seen, unary, stop, tasks)


async def calls_after(unary: UnaryLog, since: float, count: int, timeout_s: float) -> None:
    """Waits until `count` unary calls ended after `since` (traffic flows again)."""
    deadline = time.monotonic() + timeout_s
    while sum(1 for t in unary.ended_at if t >= since) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} unary calls in {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


# ----------------------------------------------------------------------------- 3. pod kills
KILLS = [("auth", True), ("upload", True), ("files", True), ("edge", True), ("edge", False)]


async def test_pod_kills_under_load_lose_nothing(release: Release,
                                                 http: aiohttp.ClientSession) -> None:
    load = await start_load(http, release)
    figures: dict[str, dict[str, Any]] = {}
    windows: dict[str, tuple[float, float]] = {}
    try:
        await calls_after(load.unary, time.monotonic(), 20, 60)
        for component, force in KILLS:
            victim = release.ready_pods(component)[0]["metadata"]["name"]
            transient_before = Counter(load.seen.refusals)
            unary_refusals_before = Counter(load.unary.refusals)
            killed_at = time.monotonic()
            args = ["--grace-period=0", "--force"] if force else []
            await asyncio.to_thread(release.cluster.kubectl, "-n", NS, "delete", "pod", victim,
                                    "--wait=false", *args)
            replaced_s = await asyncio.to_thread(
                release.wait_ready_replicas, component, 2, READY_TIMEOUT_S,
                frozenset({victim}))
            recovered_s = await first_success(load.probe, killed_at, RECOVERY_LIMIT_S)
            await calls_after(load.unary, time.monotonic(), 20, 60)
            window_end = time.monotonic()
            calls, failed = load.unary.between(killed_at, window_end)
            name = f"{'force' if force else 'graceful'} delete {component}"
            windows[name] = (killed_at, window_end)
            figures[name] = {
                "unary_calls": calls, "unary_calls_failed": failed,
                "unary_failures_by_kind": dict(load.unary.refusals - unary_refusals_before),
                "upload_requests_refused_by_kind": dict(load.seen.refusals
                                                        - transient_before),
                "replacement_ready_s": round(replaced_s, 1),
                "first_login_and_upload_after_s": round(recovered_s, 1),
            }
    finally:
        await load.finish()
    report = {"kills": figures, "uploads_confirmed": len(load.seen.stored),
              "uploads_given_up": load.seen.gave_up, "unary_calls": len(load.unary.ended_at),
              "unary_failures": load.unary.failures[:30],
              "server_errors": load.seen.server_errors[:10]}
    FIGURES["pod_kills"] = report
    print("\npod kills:", json.dumps(report, indent=2))

    assert load.seen.server_errors == [] and load.probe.seen.server_errors == [], report
    assert len(load.seen.stored) >= 8, report
    assert all(f["unary_calls"] > 0 for f in figures.values()), report
    # a service replica's death is absorbed by the edge's channels (a call safe to repeat is
    # retried on the other replica): no read through the edge fails for it. A login is never
    # repeated by the edge (it issues a refresh token): one in flight on the killed replica may
    # be answered 503 with Retry-After, which the client honours.
    for name, (start, end) in windows.items():
        if not name.endswith("edge"):
            reads = [f for t, f in load.unary.failures if start <= t < end
                     and not f.startswith("503 with Retry-After POST /auth/login")]
            assert reads == [], (name, report)
    reaped = await assert_nothing_lost_nothing_left(release, http, load.workers, load.seen,
                                                    release.command)
    FIGURES["pod_kills"]["reaper_pass_after"] = reaped


# ----------------------------------------------------------------------------- 4. upgrade
class ReadyWatch:
    """Samples the ready replicas of every process in a thread while the upgrade runs."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.minimum = dict.fromkeys(PROCESSES, 99)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = self.release.cluster.get_json("pods", "-n", NS, "-l",
                                                 f"app.kubernetes.io/instance={RELEASE}")
            for process in PROCESSES:
                ready = [p for p in pods["items"]
                         if p["metadata"]["labels"].get("app.kubernetes.io/component")
                         == process and self.release.ready(p)]
                self.minimum[process] = min(self.minimum[process], len(ready))
            self.samples += 1
            self._stop.wait(0.5)

    def __enter__(self) -> ReadyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


async def test_rolling_upgrade_under_load(release: Release, http: aiohttp.ClientSession) -> None:
    migrations_before = {}
    for service in SERVICES:
        with psycopg.connect(release.database_urls[service]) as conn:
            migrations_before[service] = conn.execute(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    old_pods = {p: pod_names(release.pods(p)) for p in PROCESSES}
    next_repository, next_tag = release.images.app_next.rsplit(":", 1)
    load = await start_load(http, release)
    try:
        await calls_after(load.unary, time.monotonic(), 20, 60)
        started = time.monotonic()
        with ReadyWatch(release) as watch:
            await asyncio.to_thread(
                release.helm, "upgrade", RELEASE, str(CHART), "--namespace", NS, "-f",
                str(release.values_file), "--set", f"image.tag={next_tag}",
                "--set", "rpcTimeoutSeconds=12", "--wait", "--timeout", "10m", timeout=700)
            upgraded_s = time.monotonic() - started
            await calls_after(load.unary, time.monotonic(), 20, 60)
        ended = time.monotonic()
    finally:
        await load.finish()
    calls, failed = load.unary.between(started, ended)
    report = {"upgrade_s": round(upgraded_s, 1), "unary_calls": calls,
              "unary_calls_failed": failed, "unary_failures": load.unary.failures[:20],
              "upload_requests_refused_by_kind": dict(load.seen.refusals),
              "uploads_confirmed": len(load.seen.stored), "uploads_given_up": load.seen.gave_up,
              "min_ready_replicas_during_upgrade": watch.minimum, "samples": watch.samples,
              "server_errors": load.seen.server_errors[:10]}
    FIGURES["rolling_upgrade"] = report
    print("\nrolling upgrade:", json.dumps(report, indent=2))

    for process in PROCESSES:
        pods = release.ready_pods(process)
        assert len(pods) == 2 and not pod_names(pods) & old_pods[process], process
        assert all(c["image"] == f"{next_repository}:{next_tag}"
                   for p in pods for c in p["spec"]["containers"]), process
        # readiness gated the rollout: never fewer than two ready replicas (maxUnavailable 0)
        assert watch.minimum[process] >= 2, report
    for service in SERVICES:
        with psycopg.connect(release.database_urls[service]) as conn:
            after = conn.execute(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
        assert after == migrations_before[service], service  # nothing applied again
        for pod in pod_names(release.ready_pods(service)):  # the new pods found them done
            assert "migration_applied" not in release.logs(pod), pod
    assert load.seen.server_errors == [], report
    await assert_nothing_lost_nothing_left(release, http, load.workers, load.seen,
                                           release.command)


def not_ready_story(release: Release, pod: dict[str, Any]) -> dict[str, Any]:
    """What a pod that is not Ready says about it: its conditions, the kubelet's recent events,
    and for an edge pod its own /ready answer (which upstream it could not reach). Never
    raises: it only documents a moment."""
    name = pod["metadata"]["name"]
    story: dict[str, Any] = {"pod": name, "conditions": [
        {k: c.get(k) for k in ("type", "status", "reason", "lastTransitionTime")}
        for c in pod.get("status", {}).get("conditions", [])]}
    try:
        events = json.loads(release.cluster.kubectl(
            "-n", NS, "get", "events", "--field-selector", f"involvedObject.name={name}",
            "-o", "json", check=False).stdout or "{}")
        story["events"] = [f"{e.get('reason')}: {str(e.get('message'))[:160]}"
                           for e in events.get("items", [])[-5:]]
        if pod["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "edge":
            port = next((p["containerPort"] for c in pod["spec"]["containers"]
                         for p in c.get("ports", []) if p.get("name") == "http"), 9000)
            probe = ("import urllib.request, urllib.error\n"
                     f"try:\n print(urllib.request.urlopen('http://127.0.0.1:{port}/ready',"
                     " timeout=5).read().decode())\n"
                     "except urllib.error.HTTPError as e:\n print(e.code, e.read().decode())")
            story["ready_answer"] = release.cluster.kubectl(
                "-n", NS, "exec", name, "--", "python", "-c", probe, check=False,
                timeout=30).stdout.strip()[:300]
    except Exception as exc:  # a diagnostic must not turn a pass into a failure
        story["error"] = repr(exc)[:200]
    return story


def test_disruption_budgets_refuse_a_second_eviction(release: Release) -> None:
    """Two back-to-back evictions of one process's pods (a drain): the budget (maxUnavailable
    1) lets the first through and refuses the second until the replacement is ready."""
    outcomes, waited, not_ready = {}, {}, {}
    for process in PROCESSES:
        # The budget counts an unready pod as disrupted: both replicas must be Ready first (a
        # run found one process with a single Ready pod here, just after the rolling upgrade;
        # what such a pod says is kept in the figures).
        pods = release.pods(process)
        if sum(release.ready(p) for p in pods) < 2:
            not_ready[process] = [not_ready_story(release, p) for p in pods
                                  if not release.ready(p)]
        waited[process] = round(release.wait_ready_replicas(process, 2, READY_TIMEOUT_S), 1)
        first, second = (p["metadata"]["name"] for p in release.ready_pods(process)[:2])
        answers = []
        for pod in (first, second):
            eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": pod, "namespace": NS}}
            result = release.cluster.kubectl(
                "create", "--raw", f"/api/v1/namespaces/{NS}/pods/{pod}/eviction", "-f", "-",
                input_text=json.dumps(eviction), check=False)
            answers.append((result.returncode, (result.stderr or result.stdout).strip()[:200]))
        outcomes[process] = answers
        assert answers[0][0] == 0, answers
        assert answers[1][0] != 0 and "disruption budget" in answers[1][1], answers
        release.wait_ready_replicas(process, 2, READY_TIMEOUT_S, frozenset({first}))
    FIGURES["disruption_budgets"] = {p: {"waited_for_two_ready_s": waited[p],
                                         "not_ready_at_start": not_ready.get(p, []),
                                         "answers": [a[1][:80] or "evicted" for a in answers]}
                                     for p, answers in outcomes.items()}


# ----------------------------------------------------------------------------- 5. jobs
@contextlib.asynccontextmanager
async def store_stopped(release: Release, http: aiohttp.ClientSession) -> AsyncIterator[None]:
    """The store's Deployment scaled to zero while inside (its data, on a hostPath, stays):
    connections to it are refused (kube-proxy rejects a Service without endpoints). Waits
    until this host sees it refuse, and at the end until it answers again."""
    async def answers() -> bool:
        try:  # a fresh connection each time: an open one would outlive the endpoints
            async with aiohttp.ClientSession() as fresh, fresh.get(
                    f"{release.s3_endpoint}/healthz",
                    timeout=aiohttp.ClientTimeout(total=3)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def scale(replicas: int) -> None:
        await asyncio.to_thread(release.cluster.kubectl, "-n", DEPS_NS, "scale",
                                "deployment/s3", f"--replicas={replicas}")
        deadline = time.monotonic() + 120
        while await answers() != bool(replicas):
            assert time.monotonic() < deadline, f"the store is not {'up' if replicas else 'down'}"
            await asyncio.sleep(0.2)

    await scale(0)
    try:
        yield
    finally:
        await scale(1)


async def test_reaper_and_janitor_work_is_done_once_across_replicas(
        release: Release, http: aiohttp.ClientSession) -> None:
    user = await client(http, release)
    upload_before = release.metrics("upload")
    files_before = release.metrics("files")
    assert len(upload_before) == len(files_before) == 2

    # abandoned sessions: created, never sent; they expire after SESSION_TTL_S
    abandoned = []
    for _ in range(6):
        status, body = await user.call("POST", "/api/upload/proxy/session", json={
            "file_name": f"abandoned-{uuid.uuid4().hex[:6]}.bin", "file_size_bytes": 1000})
        assert status == 200, body
        abandoned.append(body["upload_uuid"])
    # files deleted while the store does not answer: the rows go, the objects are left to the
    # janitor (the files service removes an object at once when it can)
    stored = [await user.upload(os.urandom(2048), "proxy") for _ in range(4)]
    deleted = [s.file_id for s in stored]
    async with store_stopped(release, http):
        answers = await asyncio.gather(*(user.call("DELETE", f"/api/files/f/{file_id}")
                                         for file_id in deleted))
    assert [status for status, _ in answers] == [204] * len(deleted), answers

    deadline = time.monotonic() + 120
    while True:
        with psycopg.connect(release.database_urls["upload"]) as conn:
            states: dict[str, str] = dict(conn.execute(
                "SELECT upload_uuid::text, state FROM upload_sessions"
                " WHERE upload_uuid::text = ANY(%s)", (abandoned,)).fetchall())
        with psycopg.connect(release.database_urls["files"]) as conn:
            pending = conn.execute("SELECT count(*) FROM pending_deletes").fetchone()
        if set(states.values()) == {"expired"} and pending and pending[0] == 0:
            break
        assert time.monotonic() < deadline, (states, pending)
        await asyncio.sleep(1)
    upload_after = release.metrics("upload")
    files_after = release.metrics("files")
    assert set(upload_after) == set(upload_before) and set(files_after) == set(files_before)

    def delta(before: dict[str, str], after: dict[str, str], name: str,
              labels: dict[str, str] | None = None) -> float:
        return metric_sum(after, name, labels) - metric_sum(before, name, labels)

    expired = delta(upload_before, upload_after, "govault_upload_sessions_total",
                    {"outcome": "expired"})
    settled = delta(files_before, files_after, "govault_files_janitor_settled_total")
    passes = {
        job: {pod: {o: metric_sum({pod: after[pod]}, "govault_background_passes_total",
                                  {"job": job, "outcome": o})
                    - metric_sum({pod: before[pod]}, "govault_background_passes_total",
                                 {"job": job, "outcome": o})
                    for o in ("ran", "skipped")} for pod in after}
        for job, before, after in (("upload.reaper", upload_before, upload_after),
                                   ("files.janitor", files_before, files_after))}
    FIGURES["jobs"] = {"sessions_expired": expired, "objects_settled": settled,
                       "passes_per_replica": passes}
    # each abandoned session expired once and each object was removed once, over both replicas
    assert expired == len(abandoned), FIGURES["jobs"]
    assert settled == len(deleted), FIGURES["jobs"]
    s3 = Minio(release.s3_endpoint.split("://", 1)[1], access_key=release.s3_access_key,
               secret_key=release.s3_secret_key, secure=False)
    owner = (await user.call("GET", "/auth/me"))[1]["user_id"]
    keys = {o.object_name for o in s3.list_objects(release.s3_bucket, prefix=f"users/{owner}/",
                                                    recursive=True)}
    assert not any(file_id in key for key in keys for file_id in deleted), keys
    for job, per_pod in passes.items():
        assert sum(p["ran"] for p in per_pod.values()) > 0, (job, per_pod)


# ----------------------------------------------------------------------------- 6. helm
def test_helm_test_hook_passes(release: Release) -> None:
    # (the pod is deleted once it succeeded: hook-delete-policy; a failed one stays, with logs)
    result = release.helm("test", RELEASE, "--namespace", NS, "--timeout", "3m", timeout=240,
                          check=False)
    logs = release.cluster.kubectl("-n", NS, "logs", f"{RELEASE}-test-ready",
                                   check=False).stdout
    assert result.returncode == 0, result.stdout + result.stderr + logs
    assert re.search(r"Phase:\s+Succeeded", result.stdout), result.stdout


def test_helm_uninstall_leaves_no_object_of_the_release(release: Release) -> None:
    started = time.monotonic()
    release.helm("uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "3m",
                 timeout=240)
    # the pods go after their grace period (the Deployments' garbage collection)
    deadline = time.monotonic() + 120
    while left := release.objects_of_release():
        assert time.monotonic() < deadline, left
        time.sleep(1)
    FIGURES["uninstall_until_no_object_s"] = round(time.monotonic() - started, 1)
    secrets = release.cluster.kubectl("-n", NS, "get", "secrets", "-o", "name").stdout.split()
    assert [s for s in secrets if "sh.helm.release" in s or RELEASE in s] == [], secrets
    pods = release.cluster.kubectl("-n", NS, "get", "pods", "-o", "name").stdout.split()
    assert pods == [], pods
