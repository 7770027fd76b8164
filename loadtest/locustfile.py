"""The seed's k6 virtual-user loop on Locust (FastHttpUser), one strategy per run.

    SCALE=0.05 TIME_FACTOR=0.1 STRATEGY=proxy RESULTS_DIR=out \\
      locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:9000 \\
             --csv out/locust --json-file out/locust --stop-timeout 30 --only-summary

Setup (Locust's init event, once, before the shape starts): 1000 × SCALE accounts signed up
and logged in concurrently (or taken from USERS_FILE). Each Locust user takes an account (its
own refresh-token family; when users outnumber accounts, as in the spike shape, an extra
session is opened with a login) and loops:

1. session refresh: POST /auth/refresh (REFRESH_MODE=login: POST /auth/login, as the seed did)
   → checks `refresh 200` / `login 200`, `has token`; sleep THINK_AUTH_S (1 s)
2. GET /api/files/me/owned?page=1 → `files 200`; sleep THINK_LIST_S (1 s)
3. upload FILE_SIZE random bytes:
   proxy     POST /api/upload/proxy/session → `proxy session 200`; each chunk (size from the
             session) POST /api/upload/proxy/chunk?id=N with Checksum → `proxy chunk N 200`
   multipart POST /api/upload/multipart/session → `multipart session 200`; each part PUT to its
             presigned URL → `part N s3 200`, POST /api/upload/multipart/part → `part N registered`
   tus       POST /api/upload/tus/ with the bytes (creation-with-upload) → `tus creation 201`
4. confirm: proxy's last chunk answers {"status":"completed","file_id"} (`upload completed`;
   tus: Upload-Offset is the size, GoVault-File-Id names the file);
   multipart sleeps THINK_COMPLETE_S (0.2 s) then POST /api/upload/multipart/complete →
   `multipart complete 200`; with CONFIRM=1, GET /api/files/f/{id} → `file visible 200`.

STRATEGY=baseline: the same think times, then one PUT of the same bytes straight to the store
with a URL presigned locally (minio SDK, keys from STACK_FILE): no GoVault in the path at all.

With STACK_FILE naming a launcher's stack.json, the CPU of every stack process and of this one
is sampled every 2 s from the shape's start to its end into RESULTS_DIR/cpu.jsonl (loadtest/cpu.py;
the report divides it by the iterations), and the services' histograms of waits (event-loop lag,
pool waits, store calls, …) are read at every stage boundary into RESULTS_DIR/metrics.jsonl
(loadtest/saturation.py).

An iteration stops at its first failed step and counts as failed (record.py); after a failure
the user waits the iteration's think time before retrying, so failures do not turn into a
tight retry loop. Request names are templates (`/api/upload/proxy/chunk?id=[n]`), never ids.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtest import cpu, saturation, shapes
from loadtest.payload import Payload
from loadtest.record import DEFERRED, Recorder
from loadtest.settings import LoadSettings
from loadtest.target import Target, ensure_local
from loadtest.users import load as load_users

SETTINGS = LoadSettings.from_env()
PLAN = shapes.stages(SETTINGS.shape, SETTINGS.scale, SETTINGS.time_factor)
RUN_TAG = uuid.uuid4().hex[:12]
CPU_SAMPLE_S = 2.0  # cpu.jsonl: a few ms of /proc reading each time, in this process
# The edge closes a keep-alive connection idle for GOVAULT_KEEPALIVE_TIMEOUT_S (15 s by default).
# A request sent on it just as it closes gets no answer (HTTP 0: two part registrations after
# S3 PUTs of 15 s in a SCALE 1 run on SeaweedFS): like a careful client, the user does not send
# to the edge on a connection idle this long, it opens a new one.
EDGE_IDLE_LIMIT_S = 10.0


def _stage_index(t: float) -> int:
    stage = shapes.stage_at(PLAN, t)
    return stage.index if stage else len(PLAN) - 1


def _describe(resp: Any) -> str:
    try:
        text = resp.text or ""
    except Exception:  # an ErrorResponse from a refused connection has no body
        text = ""
    return text[:200] if text else repr(getattr(resp, "error", None))


def retry_after_s(resp: Any) -> float | None:
    """The wait a 503/429 answer asks for (Retry-After in seconds), else None."""
    if resp.status_code not in (429, 503):
        return None
    try:
        return max(0.0, float(resp.headers.get("Retry-After") or ""))
    except ValueError:
        return None


class StepFailed(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


@dataclass
class Session:
    """One account's login session; its refresh token rotates on every refresh."""

    account: dict[str, Any]
    token: str | None
    refresh_token: str | None


class AccountPool:
    """Accounts handed to Locust users; each session is used by one user at a time."""

    def __init__(self) -> None:
        self.accounts: list[dict[str, Any]] = []
        self._free: deque[Session] = deque()
        self._all: list[Session] = []
        self._extra = 0

    def fill(self, accounts: list[dict[str, Any]]) -> None:
        self.accounts = accounts
        self._all = [Session(a, a.get("token"), a.get("refresh_token")) for a in accounts]
        self._free = deque(self._all)

    def take(self) -> Session:
        if self._free:
            return self._free.popleft()
        if not self.accounts:
            raise RuntimeError("no accounts: setup did not run")
        account = self.accounts[self._extra % len(self.accounts)]
        self._extra += 1
        session = Session(account, None, None)  # logs in on its first iteration
        self._all.append(session)
        return session

    def give_back(self, session: Session) -> None:
        self._free.append(session)

    def latest(self) -> list[dict[str, Any]]:
        """One entry per account with its newest tokens (sessions back in the pool first: a
        user stopped mid-refresh may hold a token the server has already rotated)."""
        free = {id(s) for s in self._free}
        best: dict[str, Session] = {}
        for session in sorted(self._all, key=lambda s: id(s) in free):
            if session.refresh_token:
                best[session.account["user_id"]] = session
        return [{**s.account, "token": s.token, "refresh_token": s.refresh_token}
                for s in best.values()]


POOL = AccountPool()
STATE: dict[str, Any] = {"recorder": None, "payload": None, "minio": None, "target": None,
                         "meter": None}


def recorder() -> Recorder:
    rec: Recorder | None = STATE["recorder"]
    if rec is None:
        rec = STATE["recorder"] = Recorder(SETTINGS.results_dir, SETTINGS.strategy, _stage_index)
    return rec


def payload() -> Payload:
    made: Payload | None = STATE["payload"]
    if made is None:
        made = STATE["payload"] = Payload(SETTINGS.file_size_bytes)
    return made


# ---------------------------------------------------------------------------------- the user
class GoVaultUser(FastHttpUser):
    host = SETTINGS.edge_url
    wait_time = constant(0)  # the think times are inside the iteration, as in the seed
    network_timeout = 60.0  # the seed's intended 60 s request timeout
    connection_timeout = 60.0

    def on_start(self) -> None:
        ensure_local(self.host or "")
        self.edge_used = time.monotonic()  # when this user last had an answer from the edge
        self.session: Session | None = POOL.take() if SETTINGS.strategy != "baseline" else None

    def on_stop(self) -> None:
        if self.session is not None:
            POOL.give_back(self.session)

    # ------------------------------------------------------------------ helpers
    def _sess(self) -> Session:
        if self.session is None:
            raise RuntimeError("the baseline has no GoVault session")
        return self.session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session.token}"} if self.session else {}

    def _call(self, check: str, method: str, url: str, name: str, *, expect: int = 200,
              json_body: Any = None, data: bytes | None = None,
              headers: dict[str, str] | None = None, want_json: bool = True) -> Any:
        """One request + its check; returns (parsed body or response); raises StepFailed.
        A 503/429 with Retry-After is honoured as a well-behaved client would: wait that long
        and send the same request again, while the step is within the request timeout. Such an
        answer is reported under its own name (DEFERRED) and left out of the response times and
        error rate (record.py, report.py); the iteration's duration includes the wait."""
        body_bytes: Any = data  # FastHttpSession sends bytes as they are (its hint says str)
        deadline = time.monotonic() + self.network_timeout
        to_edge = url.startswith("/")
        if to_edge and time.monotonic() - self.edge_used > EDGE_IDLE_LIMIT_S:
            self.client.client.close()
        while True:
            with self.client.request(method, url, name=name, json=json_body, data=body_bytes,
                                     headers=headers, catch_response=True) as resp:
                wait = retry_after_s(resp)
                if wait is None or time.monotonic() + wait >= deadline:
                    ok = resp.status_code == expect
                    body: Any = None
                    if ok and want_json:
                        try:
                            body = resp.json()
                        except ValueError:
                            ok = False
                    if not ok:
                        resp.failure(f"{check}: HTTP {resp.status_code} {_describe(resp)}")
                    else:
                        resp.success()
                    break
                resp.request_meta["name"] = name + DEFERRED
                resp.success()
                recorder().deferred()
            self._sleep(wait)
            # The edge closes a connection idle for its keep-alive timeout (15 s; a Retry-After
            # may be up to 30 s): after a wait, send on new connections rather than race that
            # close (a POST on a connection closed under it fails without an answer).
            self.client.client.close()
        if to_edge:
            self.edge_used = time.monotonic()
        if not recorder().check(check, ok):
            raise StepFailed(check)
        return body if want_json else resp

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            gevent.sleep(seconds)

    # ------------------------------------------------------------------ steps
    def login(self) -> None:
        sess = self._sess()
        body = self._call("login 200", "POST", "/auth/login", "/auth/login",
                          json_body={"email": sess.account["email"],
                                     "password": sess.account["password"]})
        if not recorder().check("has token", bool(body.get("token"))):
            raise StepFailed("has token")
        sess.token, sess.refresh_token = body["token"], body.get("refresh_token")

    def refresh(self) -> None:
        sess = self._sess()
        if SETTINGS.refresh_mode == "login" or not sess.refresh_token:
            self.login()
            return
        try:
            body = self._call("refresh 200", "POST", "/auth/refresh", "/auth/refresh",
                              json_body={"refresh_token": sess.refresh_token})
        except StepFailed:
            # A rejected refresh token (expired, or its family revoked) would fail every later
            # iteration: the next iteration starts a new session with a login.
            sess.refresh_token = None
            raise
        if not recorder().check("has token", bool(body.get("token"))):
            raise StepFailed("has token")
        sess.token, sess.refresh_token = body["token"], body["refresh_token"]

    def list_owned(self) -> None:
        self._call("files 200", "GET", "/api/files/me/owned?page=1", "/api/files/me/owned",
                   headers=self._auth())

    def upload_proxy(self, name: str, unique: bytes) -> str:
        data = payload()
        body = self._call("proxy session 200", "POST", "/api/upload/proxy/session",
                          "/api/upload/proxy/session", headers=self._auth(),
                          json_body={"file_name": name, "file_size_bytes": data.size})
        upload_uuid, chunk_size = body["upload_uuid"], int(body["chunk_size_bytes"])
        pieces = data.pieces(chunk_size)
        if len(pieces) != int(body["total_chunks"]):
            recorder().check("proxy session chunks", False)
            raise StepFailed("proxy session chunks")
        last: Any = None
        for index, offset, length in pieces:
            piece = data.piece(index, offset, length, unique)
            headers = {**self._auth(), "Upload-UUID": upload_uuid, "Checksum": piece.sha256_hex,
                       "Content-Type": "application/octet-stream"}
            last = self._call(f"proxy chunk {index} 200", "POST",
                              f"/api/upload/proxy/chunk?id={index}",
                              "/api/upload/proxy/chunk?id=[n]", data=piece.data, headers=headers)
        done = isinstance(last, dict) and last.get("status") == "completed" and last.get("file_id")
        if not recorder().check("upload completed", bool(done)):
            raise StepFailed("upload completed")
        return str(last["file_id"])

    def upload_multipart(self, name: str, unique: bytes) -> str:
        data = payload()
        body = self._call("multipart session 200", "POST", "/api/upload/multipart/session",
                          "/api/upload/multipart/session", headers=self._auth(),
                          json_body={"file_name": name, "file_size_bytes": data.size,
                                     "part_size_bytes": SETTINGS.part_size_bytes})
        upload_uuid = body["upload_uuid"]
        urls = {int(p["part_number"]): p["url"] for p in body["parts"]}
        pieces = data.pieces(SETTINGS.part_size_bytes)
        if sorted(urls) != [i + 1 for i, _, _ in pieces]:
            recorder().check("multipart session parts", False)
            raise StepFailed("multipart session parts")
        for index, offset, length in pieces:
            number = index + 1
            piece = data.piece(index, offset, length, unique)
            resp = self._call(f"part {number} s3 200", "PUT", urls[number],
                              "S3 PUT part (presigned)", data=piece.data, want_json=False,
                              headers={"Content-Type": "application/octet-stream"})
            etag = resp.headers.get("ETag") or resp.headers.get("etag") or ""
            if not recorder().check(f"part {number} has etag", bool(etag)):
                raise StepFailed(f"part {number} has etag")
            self._call(f"part {number} registered", "POST", "/api/upload/multipart/part",
                       "/api/upload/multipart/part", headers=self._auth(),
                       json_body={"upload_uuid": upload_uuid, "part_number": number,
                                  "size_bytes": piece.size, "etag": etag.strip('"')})
        self._sleep(SETTINGS.think_complete_s)
        done = self._call("multipart complete 200", "POST", "/api/upload/multipart/complete",
                          "/api/upload/multipart/complete", headers=self._auth(),
                          json_body={"upload_uuid": upload_uuid})
        if not recorder().check("upload completed", bool(done.get("file_id"))):
            raise StepFailed("upload completed")
        return str(done["file_id"])

    def upload_tus(self, name: str, unique: bytes) -> str:
        data = payload()
        metadata = "filename " + base64.b64encode(name.encode()).decode()
        resp = self._call("tus creation 201", "POST", "/api/upload/tus/", "/api/upload/tus/",
                          expect=201, data=data.whole(unique), want_json=False, headers={
                              **self._auth(), "Tus-Resumable": "1.0.0",
                              "Upload-Length": str(data.size), "Upload-Metadata": metadata,
                              "Content-Type": "application/offset+octet-stream"})
        file_id = resp.headers.get("GoVault-File-Id") or ""
        done = resp.headers.get("Upload-Offset") == str(data.size) and file_id
        if not recorder().check("upload completed", bool(done)):
            raise StepFailed("upload completed")
        return str(file_id)

    def confirm(self, file_id: str) -> None:
        self._call("file visible 200", "GET", f"/api/files/f/{file_id}", "/api/files/f/[id]",
                   headers=self._auth())

    def upload_baseline(self, key: str, unique: bytes) -> None:
        url = STATE["minio"].presigned_put_object(STATE["target"].s3_bucket, key,
                                                  expires=timedelta(minutes=15))
        self._call("s3 put 200", "PUT", url, "S3 PUT object (presigned, baseline)",
                   data=payload().whole(unique), want_json=False,
                   headers={"Content-Type": "application/octet-stream"})

    # ------------------------------------------------------------------ the iteration
    @task
    def iteration(self) -> None:
        started = time.monotonic()
        unique = Payload.new_unique()
        name = f"lt-{RUN_TAG}-{uuid.uuid4().hex}.bin"
        try:
            if SETTINGS.strategy == "baseline":
                self._sleep(SETTINGS.think_auth_s)
                self._sleep(SETTINGS.think_list_s)
                key = f"loadtest-baseline/{RUN_TAG}/{name}"
                self.upload_baseline(key, unique)
                recorder().upload({"strategy": "baseline", "key": key, "size": payload().size})
            else:
                self.refresh()
                self._sleep(SETTINGS.think_auth_s)
                self.list_owned()
                self._sleep(SETTINGS.think_list_s)
                if SETTINGS.strategy == "proxy":
                    file_id = self.upload_proxy(name, unique)
                elif SETTINGS.strategy == "tus":
                    file_id = self.upload_tus(name, unique)
                else:
                    file_id = self.upload_multipart(name, unique)
                # Recorded before any optional confirm: the server has said "stored".
                recorder().upload({"strategy": SETTINGS.strategy, "file_id": file_id,
                                   "user_id": self._sess().account["user_id"], "name": name,
                                   "size": payload().size})
                if SETTINGS.confirm:
                    self.confirm(file_id)
        except StepFailed as exc:
            recorder().iteration(False, (time.monotonic() - started) * 1000, exc.step)
            self._sleep(SETTINGS.think_auth_s + SETTINGS.think_list_s)
            return
        except (KeyError, TypeError, ValueError) as exc:  # a 200 with a body we cannot use
            recorder().check("response shape", False)
            recorder().iteration(False, (time.monotonic() - started) * 1000,
                                 f"response shape: {exc!r}"[:80])
            self._sleep(SETTINGS.think_auth_s + SETTINGS.think_list_s)
            return
        recorder().iteration(True, (time.monotonic() - started) * 1000)


class SeedShape(LoadTestShape):
    """SHAPE=stress|load|spike (shapes.py), scaled by SCALE and TIME_FACTOR."""

    use_common_options = False

    def tick(self) -> tuple[int, float] | None:
        return shapes.tick(PLAN, self.get_run_time())  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------------- events
def _write_run_info(extra: dict[str, Any]) -> None:
    path = Path(SETTINGS.results_dir) / "run.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info.update(extra)
    path.write_text(json.dumps(info, indent=1) + "\n")


def _setup_accounts(environment: Any) -> None:
    if SETTINGS.strategy == "baseline":
        target = Target.from_stack_file(SETTINGS.stack_file or "")
        STATE["target"], STATE["minio"] = target, target.minio()
        return
    users_file = SETTINGS.users_file
    if not users_file:
        if isinstance(environment.runner, WorkerRunner):
            raise RuntimeError("distributed runs need USERS_FILE (python -m loadtest.users)")
        users_file = str(Path(SETTINGS.results_dir) / "users.json")
        host = (environment.host or SETTINGS.edge_url).rstrip("/")
        subprocess.run([sys.executable, "-m", "loadtest.users", "--edge", host,
                        "--count", str(SETTINGS.user_count), "--out", users_file], check=True)
    POOL.fill(load_users(users_file))


def _cpu_meter() -> cpu.Meter | None:
    """The stack's processes and this one, when STACK_FILE names a launcher's stack.json."""
    if not SETTINGS.stack_file:
        return None
    try:
        return cpu.Meter.from_stack_file(SETTINGS.stack_file, loadgen=True)
    except (OSError, ValueError) as exc:
        print(f"[cpu] not measured: {exc}", flush=True)
        return None


def _cpu_sample() -> None:
    """One line of cpu.jsonl: CPU seconds so far per process group, at t seconds into the
    shape (the report takes differences: per iteration over the run, per stage)."""
    meter: cpu.Meter | None = STATE["meter"]
    if meter is None:
        return
    line = {"t": round(time.time() - recorder().t0, 3), **meter.snapshot()}
    with (Path(SETTINGS.results_dir) / "cpu.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


def _cpu_sampler() -> None:
    while True:
        gevent.sleep(CPU_SAMPLE_S)
        _cpu_sample()


def _scrape() -> None:
    """One line of metrics.jsonl: the services' histograms (loadtest/saturation.py) now."""
    scraper: saturation.Scraper | None = STATE.get("scraper")
    if scraper is None:
        return
    line = {"t": round(time.time() - recorder().t0, 3), "series": scraper.scrape()}
    with (Path(SETTINGS.results_dir) / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(line) + "\n")


def _stage_scrapes() -> None:
    """At the shape's start and the end of every stage (the last: at test_stop)."""
    _scrape()
    for stage in PLAN[:-1]:
        gevent.sleep(max(0.0, stage.end_s - (time.time() - recorder().t0)))
        _scrape()


def _progress(environment: Any) -> None:
    rec = recorder()
    while True:
        gevent.sleep(SETTINGS.progress_s)
        t = time.time() - rec.t0
        stage = shapes.stage_at(PLAN, t)
        total = environment.runner.stats.total
        fail_pct = 100.0 * total.num_failures / total.num_requests if total.num_requests else 0.0
        where = f"stage {stage.index + 1}/{len(PLAN)} ({stage.label})" if stage else "ramp-down"
        print(f"[progress] {SETTINGS.strategy} t={t:5.0f}s {where}"
              f" users={environment.runner.user_count}"
              f" rps={total.current_rps:.1f} requests={total.num_requests}"
              f" failures={total.num_failures} ({fail_pct:.2f}%)"
              f" iterations ok={rec.iterations_ok} failed={rec.iterations_failed}", flush=True)
        rec.flush()


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Any, **_kw: Any) -> None:
    """Setup runs here, before Locust starts the shape's clock (test_start is too late: Locust
    fires it from inside the first shape tick, and re-fires it while the count is still 0)."""
    options = getattr(environment, "parsed_options", None)
    if options is not None and (getattr(options, "list_commands", False)
                                or getattr(options, "show_task_ratio", False)):
        return
    if isinstance(environment.runner, MasterRunner):
        return  # the workers run the users; each needs USERS_FILE
    _setup_accounts(environment)
    payload()


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _on_test_start(environment: Any, **_kw: Any) -> None:
    if STATE.get("started"):
        return
    STATE["started"] = True
    if environment.shape_class is not None:
        environment.shape_class.reset_time()
    rec = recorder()
    rec.start()
    if not isinstance(environment.runner, WorkerRunner):
        # The stack's CPU is sampled by the one process that sees the whole run.
        (Path(SETTINGS.results_dir) / "cpu.jsonl").unlink(missing_ok=True)
        (Path(SETTINGS.results_dir) / "metrics.jsonl").unlink(missing_ok=True)
        STATE["meter"] = _cpu_meter()
        _cpu_sample()
        if STATE["meter"] is not None:
            STATE["cpu_sampler"] = gevent.spawn(_cpu_sampler)
            STATE["scraper"] = saturation.Scraper.from_stack_file(SETTINGS.stack_file or "")
            STATE["scrapes"] = gevent.spawn(_stage_scrapes)
        _write_run_info({
            "strategy": SETTINGS.strategy, "shape": SETTINGS.shape, "scale": SETTINGS.scale,
            "time_factor": SETTINGS.time_factor, "file_size_bytes": SETTINGS.file_size_bytes,
            "part_size_bytes": SETTINGS.part_size_bytes, "refresh_mode": SETTINGS.refresh_mode,
            "think_s": [SETTINGS.think_auth_s, SETTINGS.think_list_s, SETTINGS.think_complete_s],
            "confirm": SETTINGS.confirm, "accounts": len(POOL.accounts), "run_tag": RUN_TAG,
            "host": environment.host or SETTINGS.edge_url, "started_at": rec.t0,
            "stages": [s.to_dict() for s in PLAN], "peak_users": shapes.peak_users(PLAN),
        })
    if SETTINGS.progress_s > 0:
        STATE["progress"] = gevent.spawn(_progress, environment)


@events.request.add_listener  # type: ignore[untyped-decorator]
def _on_request(name: str, response_time: float, exception: Any, **_kw: Any) -> None:
    if not name.endswith(DEFERRED):  # counted by recorder().deferred() instead
        recorder().request(response_time or 0.0, exception is not None)


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def _on_test_stop(environment: Any, **_kw: Any) -> None:
    for greenlet in ("progress", "cpu_sampler", "scrapes"):
        if STATE.get(greenlet) is not None:
            STATE[greenlet].kill(block=False)
    _cpu_sample()
    _scrape()
    rec = recorder()
    rec.flush()
    if POOL.accounts:  # the newest tokens: the audit and the next run start from these
        path = Path(SETTINGS.results_dir) / f"sessions-{rec.pid}.json"
        path.write_text(json.dumps(POOL.latest(), indent=1) + "\n")
    if not isinstance(environment.runner, WorkerRunner):
        _write_run_info({"ended_at": time.time(), "duration_s": time.time() - rec.t0})
    print(f"[done] {SETTINGS.strategy}: iterations ok={rec.iterations_ok} "
          f"failed={rec.iterations_failed} uploads recorded={rec.uploads}", flush=True)


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _on_quitting(environment: Any, **_kw: Any) -> None:
    if STATE["recorder"] is not None:
        STATE["recorder"].close()
