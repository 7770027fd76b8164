"""The local launcher's dependencies: PostgreSQL and SeaweedFS come up usable and private, one
launcher per data directory, a taken port is named before anything starts, and stopping leaves
no listener behind while the data survives a restart."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from minio import Minio

from compose import Stack
from compose.errors import LockedError, PortInUseError
from compose.ports import TIME_WAIT_S, can_bind, holders, shifted
from tests.support.stacks import isolated_environ, make_data_dir, offset_for, stop_stack

REPO = Path(__file__).resolve().parents[2]


def s3_client(stack: Stack) -> Minio:
    return Minio(stack.s3_endpoint.split("://", 1)[1], access_key=stack.s3_access_key,
                 secret_key=stack.s3_secret_key, secure=False)


def anonymous_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_each_service_database_answers(stack_deps: Stack) -> None:
    assert set(stack_deps.database_urls) == {"auth", "upload", "files"}
    for service, url in stack_deps.database_urls.items():
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT 1, current_database()").fetchone()
        assert row == (1, f"govault_{service}")


def test_databases_are_fresh(stack_deps: Stack) -> None:
    with psycopg.connect(stack_deps.database_urls["auth"]) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    # The services' migrations have not run against the deps-only stack.
    assert tables == (0,)


def test_create_database_gives_an_empty_usable_database(stack_deps: Stack) -> None:
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    url = stack_deps.create_database(name)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        assert conn.execute("SELECT current_database()").fetchone() == (name,)


def test_bucket_exists_and_is_private(stack_deps: Stack) -> None:
    s3 = s3_client(stack_deps)
    assert s3.bucket_exists(stack_deps.s3_bucket)
    key = f"launcher-test/{uuid.uuid4()}"
    s3.put_object(stack_deps.s3_bucket, key, io.BytesIO(b"secret"), 6)
    try:
        assert s3.get_object(stack_deps.s3_bucket, key).read() == b"secret"
        base = f"{stack_deps.s3_endpoint}/{stack_deps.s3_bucket}"
        assert anonymous_get(f"{base}/{key}") == 403
        assert anonymous_get(f"{base}/") == 403  # listing
    finally:
        s3.remove_object(stack_deps.s3_bucket, key)


def test_only_the_s3_api_serves_objects(stack_deps: Stack) -> None:
    """The store's filer HTTP port would serve (and take) objects without credentials: it is
    off, and the object data on disk is not readable by other local users."""
    s3 = s3_client(stack_deps)
    key = f"launcher-test/{uuid.uuid4()}"
    s3.put_object(stack_deps.s3_bucket, key, io.BytesIO(b"private bytes"), 13)
    try:
        filer = f"http://127.0.0.1:{stack_deps.ports['weed_filer']}"
        assert anonymous_get(f"{filer}/buckets/{stack_deps.s3_bucket}/{key}") != 200
        request = urllib.request.Request(f"{filer}/buckets/{stack_deps.s3_bucket}/planted",
                                         data=b"x", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status >= 400
        assert "planted" not in [o.object_name for o in
                                 s3.list_objects(stack_deps.s3_bucket, prefix="planted")]
        assert (stack_deps.data_dir / "s3").stat().st_mode & 0o777 == 0o700
    finally:
        s3.remove_object(stack_deps.s3_bucket, key)


def test_s3_rejects_wrong_keys(stack_deps: Stack) -> None:
    bad = Minio(stack_deps.s3_endpoint.split("://", 1)[1], access_key=stack_deps.s3_access_key,
                secret_key="not-the-secret", secure=False)
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|AccessDenied|InvalidAccessKey"):
        bad.bucket_exists(stack_deps.s3_bucket)


def test_redis_answers_with_its_password_only(stack_deps: Stack) -> None:
    assert stack_deps.redis_url, "`make test` installs redis-server; the launcher must run it"
    with redis.Redis.from_url(stack_deps.redis_url) as conn:
        assert conn.ping()
    port = stack_deps.ports["redis"]
    with redis.Redis(host="127.0.0.1", port=port) as anonymous, pytest.raises(redis.RedisError):
        anonymous.ping()


def test_generated_secrets_are_private_files(stack_deps: Stack) -> None:
    for name in ("credentials.json", "jwt_ed25519.pem", "stack.json"):
        mode = (stack_deps.data_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} is {oct(mode)}"
    assert b"BEGIN PRIVATE KEY" in stack_deps.jwt_private_key_file.read_bytes()


def test_second_launcher_on_the_same_data_dir_is_refused(stack_deps: Stack) -> None:
    started = time.monotonic()
    with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        Stack(stack_deps.data_dir, offset_for("scratch"), services=False,
              environ=isolated_environ()).start()
    assert time.monotonic() - started < 5
    # ... and through the command line, as a second `make up` would be:
    result = subprocess.run(
        [sys.executable, "-m", "compose.local", "up", "--data-dir", str(stack_deps.data_dir),
         "--port-offset", str(offset_for("scratch"))],
        cwd=REPO, env=isolated_environ(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "already running" in result.stderr
    # The running stack was not disturbed.
    with psycopg.connect(stack_deps.database_urls["files"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not (stack_deps.data_dir / "logs" / "edge.log").exists()


def test_a_taken_port_is_named_before_anything_starts() -> None:
    data_dir = make_data_dir("port-taken")
    port = shifted(offset_for("scratch"))["s3"]
    stack = Stack(data_dir, offset_for("scratch"), services=False, environ=isolated_environ())
    try:
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            with pytest.raises(PortInUseError, match=f"port {port} \\(s3\\)"):
                stack.start()
        assert not (data_dir / "pg").exists(), "PostgreSQL was initialised despite the port check"
        assert stack.still_listening() == {}
    finally:
        stop_stack(stack, keep_logs=False)


def test_a_port_held_by_a_closed_connection_is_waited_for_then_bound() -> None:
    """The issue's `make up` failure: an outgoing connection that took the PostgreSQL port as its
    local port and closed holds it in TIME-WAIT for 60 s. No server can bind it meanwhile (not
    even with SO_REUSEADDR), so `make deps` says so and waits instead of failing, then starts."""
    offset = offset_for("time-wait")  # its own: the session's other stacks leave TIME-WAITs
    port = shifted(offset)["postgres"]
    data_dir = make_data_dir("time-wait")
    hold_in_time_wait(port)
    assert holders("127.0.0.1", port) == ["TIME_WAIT"]
    assert not can_bind("127.0.0.1", port)  # what PostgreSQL would meet now
    launcher = subprocess.Popen(
        [sys.executable, "-m", "compose.local", "deps", "--data-dir", str(data_dir),
         "--port-offset", str(offset)],
        cwd=REPO, env=isolated_environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in launcher.stdout or ():
            lines.put(line)
        lines.put(None)  # the launcher closed its output: it exited

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        # the launcher bounds each start step itself: this is only the test's guard
        deadline = time.monotonic() + TIME_WAIT_S + 600
        while not any("dependencies are ready" in line for line in seen):
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError("not ready in time:\n" + "".join(seen)) from None
            assert line is not None, "the launcher exited:\n" + "".join(seen)
            seen.append(line)
        assert any(f"port {port} (postgres)" in line and "TIME_WAIT" in line
                   and "waiting" in line for line in seen), "".join(seen)
        assert not any("error" in line for line in seen), "".join(seen)
        assert "LISTEN" in holders("127.0.0.1", port)  # PostgreSQL's, on the port it waited for
    finally:
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0, "".join(seen)
        shutil.rmtree(data_dir, ignore_errors=True)


def hold_in_time_wait(port: int) -> None:
    """Leave `port` as the local port of a closed client connection, in TIME-WAIT (the client
    closes first, as a short-lived outgoing connection does)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.socket()
        client.bind(("127.0.0.1", port))
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        client.close()
        assert accepted.recv(1) == b""  # the client's FIN
        accepted.close()
    deadline = time.monotonic() + 10
    while holders("127.0.0.1", port) != ["TIME_WAIT"] and time.monotonic() < deadline:
        time.sleep(0.01)


def test_stop_leaves_no_listener_and_data_survives_restart() -> None:
    data_dir = make_data_dir("restart")
    stack = Stack(data_dir, offset_for("scratch"), services=False, environ=isolated_environ(),
                  fast_unsafe_pg=True)
    stack.start()
    try:
        ports = stack.bound_ports()
        assert {"postgres", "s3", "weed_master", "weed_filer"} <= set(ports)
        assert stack.still_listening() == ports
        pids = [child.pid for child in stack.supervisor.children]
        with psycopg.connect(stack.database_urls["files"]) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('hello')")
        s3_client(stack).put_object(stack.s3_bucket, "kept", io.BytesIO(b"bytes"), 5)
        first_urls = dict(stack.database_urls)
    finally:
        stack.stop()

    assert stack.still_listening() == {}
    for name, port in ports.items():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{name} still accepts on {port}"
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert not (data_dir / "stack.json").exists()

    again = Stack(data_dir, offset_for("scratch"), services=False, environ=isolated_environ(),
                  fast_unsafe_pg=True)
    again.start()
    try:
        assert again.database_urls == first_urls  # same generated credentials
        with psycopg.connect(again.database_urls["files"]) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("hello",)
        assert s3_client(again).get_object(again.s3_bucket, "kept").read() == b"bytes"
    finally:
        stop_stack(again, keep_logs=False)
    assert again.still_listening() == {}


def _reported(stack: Stack, event: str) -> bool:
    return event in "\n".join(stack.supervision_events)


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _connected_to(pid: int, port: int) -> bool:
    """Whether process `pid` holds an open TCP connection (established, or closed by the peer
    but not yet by `pid`) to `port`: its socket inodes, looked up in its own view of
    /proc/net/tcp and tcp6 (gRPC's sockets are IPv6 ones, with IPv4-mapped addresses)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    lines = [line for table in ("tcp", "tcp6")
             for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]]
    for line in lines:
        fields = line.split()
        remote_port, state, inode = int(fields[2].split(":")[1], 16), fields[3], fields[9]
        if remote_port == port and inode in inodes and state in ("01", "08"):  # ESTABLISHED,
            return True                                                       # CLOSE_WAIT
    return False


def _replaced(stack: Stack, name: str, old_pid: int) -> bool:
    return stack.pid(name) not in (None, old_pid)


def _post_for_body(url: str, body: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def _post_json(url: str, body: dict[str, Any], token: str = "") -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_a_killed_service_or_postgres_is_restarted_and_the_stack_recovers() -> None:
    """Supervision (`make up`, Stack(supervise=True)): kill -9 of a GoVault process or of
    PostgreSQL is followed by a restart with backoff, reported, and the API works again."""
    data_dir = make_data_dir("supervise")
    stack = Stack(data_dir, offset_for("scratch"), services=True, prometheus=False,
                  environ=isolated_environ(), fast_unsafe_pg=True, supervise=True)
    stack.start()
    try:
        def sign_up() -> int:
            name = f"sup{uuid.uuid4().hex[:10]}"
            return _post_json(f"{stack.edge_url}/auth/signup", {
                "username": name, "email": f"{name}@example.com", "password": "long enough"})

        assert sign_up() == 200
        for name in ("upload", "postgres"):
            old = stack.pid(name)
            assert old is not None
            os.kill(old, signal.SIGKILL)
            _wait_for(f"{name} restarted", partial(_replaced, stack, name, old))
            _wait_for("the edge ready", lambda: anonymous_get(f"{stack.edge_url}/ready") == 200)
            _wait_for("a sign-up to succeed", lambda: sign_up() == 200)
            # the restart is reported once it returns (a PostgreSQL restart waits for the new
            # server to accept connections, which the services may have reached before that)
            _wait_for(f"{name}'s restart reported",
                      partial(_reported, stack, f"{name} restarted"))
        events = "\n".join(stack.supervision_events)
        assert "upload (pid" in events and "postgres (pid" in events, events
        assert stack.dead_process() is None
    finally:
        stop_stack(stack, keep_logs=False)
    assert stack.still_listening() == {}


def test_replicas_run_behind_one_edge_and_a_killed_replica_is_routed_around() -> None:
    """`make up REPLICAS=2`: two instances of each gRPC service, every caller pointed at both;
    with one upload instance killed (and not restarted) uploads still succeed."""
    stack = Stack(make_data_dir("replicas"), offset_for("scratch"), services=True,
                  prometheus=False, environ=isolated_environ(), fast_unsafe_pg=True, replicas=2)
    stack.start()
    try:
        assert stack.instances == ["auth", "auth-2", "files", "files-2", "upload", "upload-2",
                                   "edge"]
        target = stack.grpc_target("upload")
        assert target.startswith("ipv4:") and target.count(",") == 1
        assert stack.service_env("edge")["GOVAULT_UPLOAD_ADDR"] == target
        name = f"rep{uuid.uuid4().hex[:10]}"
        account = {"username": name, "email": f"{name}@example.com", "password": "long enough"}
        assert _post_json(f"{stack.edge_url}/auth/signup", account) == 200
        token = json.loads(_post_for_body(f"{stack.edge_url}/auth/login", account))["token"]

        def session_created() -> bool:
            return _post_json(f"{stack.edge_url}/api/upload/proxy/session",
                              {"file_name": "r.bin", "file_size_bytes": 10},
                              token=token) == 200

        assert session_created()
        edge, dead_port = stack.pid("edge"), stack.ports["upload"]
        assert edge is not None
        _wait_for("the edge to connect to every upload replica (round_robin)",
                  lambda: all(_connected_to(edge, stack.ports[name])
                              for name in ("upload", "upload-2")))
        os.kill(stack.pid("upload") or 0, signal.SIGKILL)
        # Until the edge's channel has seen the connection drop, round_robin still picks the
        # dead replica in turn, and a session call (never retried: not idempotent) meets it
        # (503). The event: the edge has closed its connection to it (gRPC closes a transport
        # once it has seen its end and taken the subchannel out of the rotation).
        _wait_for("the edge to drop its connection to the killed upload replica",
                  lambda: not _connected_to(edge, dead_port))
        assert all(session_created() for _ in range(10))
    finally:
        stop_stack(stack, keep_logs=False)
    assert stack.still_listening() == {}
