"""The container stack as files: `docker-compose config` accepts it, secrets come only from .env,
healthchecks are commands that really pass, pools fit max_connections, every process is scraped.

No Docker engine is needed: the compose file is validated and parsed, the healthcheck commands
are run here against stand-in servers, and the init steps are run as plain Python.
"""

from __future__ import annotations

import http.server
import importlib
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from common.config import variable_names
from compose import container_init, healthcheck
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yml"
ENV_EXAMPLE = COMPOSE / ".env.example"

PROCESSES = {  # service -> (module, public port, metrics port) as in docs/configuration.md
    "edge": ("edge", 9000, 9100),
    "auth": ("svc_auth", 15051, 9101),
    "upload": ("svc_upload", 15052, 9102),
    "files": ("svc_files", 15053, 9103),
}
DATABASES = {"auth": "auth-db", "upload": "upload-db", "files": "files-db"}
# Connections a PostgreSQL keeps free beyond the pool: migrations, reaper/audit, admin sessions,
# and superuser_reserved_connections (3).
HEADROOM = 10
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The compose file as written (variables not interpolated)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(raw: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = raw["services"]
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping"
    return {key: str(value) for key, value in env.items()}


def _filled_env_file(tmp_path: Path, drop: str | None = None) -> Path:
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if drop and line.startswith(f"{drop}="):
            continue
        lines.append(line.replace("change-me", "Zx0secret0value"))
    path = tmp_path / "test.env"
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- docker-compose
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [require_tool("docker-compose"), "--env-file", str(_filled_env_file(tmp_path)),
         "-f", str(COMPOSE_FILE), "config"], capture_output=True, text=True, timeout=60,
        cwd=COMPOSE)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert "Zx0secret0value" in resolved["services"]["auth"]["environment"]["GOVAULT_DATABASE_URL"]


@pytest.mark.parametrize("variable", ["AUTH_DB_PASSWORD", "S3_SECRET_KEY", "REDIS_PASSWORD",
                                      "GOVAULT_SERVICE_TOKEN", "GRAFANA_ADMIN_PASSWORD"])
def test_a_missing_secret_fails_clearly(tmp_path: Path, variable: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != variable}
    result = subprocess.run(
        [require_tool("docker-compose"), "--env-file",
         str(_filled_env_file(tmp_path, drop=variable)), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True, text=True, timeout=60, cwd=COMPOSE, env=env)
    assert result.returncode != 0
    assert "set in .env" in result.stderr


# ----------------------------------------------------------------------------- topology
def test_every_part_of_the_stack_is_there(services: dict[str, Any]) -> None:
    assert {"edge", "auth", "upload", "files", "auth-db", "upload-db", "files-db", "s3",
            "s3-init", "redis", "prometheus", "grafana"} <= set(services)


def test_one_image_for_the_four_processes(services: dict[str, Any]) -> None:
    images = set()
    for name, (module, _, _) in PROCESSES.items():
        service = services[name]
        images.add(service["image"])
        assert service["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}
        assert service["command"] == ["python", "-m", module]
    assert len(images) == 1


def test_three_postgresql_16(services: dict[str, Any]) -> None:
    for db in DATABASES.values():
        assert services[db]["image"].startswith("postgres:16")
        assert "pg_isready" in " ".join(services[db]["healthcheck"]["test"])


def settings_variables() -> set[str]:
    """Every GOVAULT_ variable the processes' typed settings (common.config.Settings) read."""
    classes = [("edge.config", "EdgeSettings"), ("edge.ratelimit.spec", "RateLimitSettings"),
               ("svc_auth.config", "AuthSettings"), ("svc_upload.config", "UploadSettings"),
               ("svc_files.config", "FilesSettings")]
    names: set[str] = set()
    for module, cls in classes:
        names |= variable_names(getattr(importlib.import_module(module), cls))
    return names


def test_ports_and_env_names_follow_the_configuration_page(services: dict[str, Any]) -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`(GOVAULT_[A-Z0-9_]+)`", page))
    code = "\n".join(path.read_text() for folder in ("edge", "common")
                     for path in (ROOT / folder).rglob("*.py"))
    read_by_settings = settings_variables()
    for name, (_, port, metrics_port) in PROCESSES.items():
        env = _env(services[name])
        assert env["GOVAULT_LISTEN_HOST"] == "0.0.0.0"
        assert env["GOVAULT_METRICS_PORT"] == str(metrics_port)
        assert env["GOVAULT_EDGE_PORT" if name == "edge" else "GOVAULT_GRPC_PORT"] == str(port)
        for key in env:
            assert key.startswith("GOVAULT_"), f"{name}: {key} is not a GOVAULT_ variable"
            read_in_code = (f'"{key.removeprefix("GOVAULT_")}"' in code
                            or key in read_by_settings)
            assert key in documented or read_in_code, f"{name}: {key} is read by nothing"
        for peer, (_, peer_port, _) in PROCESSES.items():
            if peer != "edge":
                assert env[f"GOVAULT_{peer.upper()}_ADDR"] == f"{peer}:{peer_port}"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # one-shot init steps
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert "disable" not in check


def test_depends_on_waits_for_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        for dependency, rule in depends.items():
            target = services[dependency]
            expected = ("service_completed_successfully" if target.get("restart") == "no"
                        else "service_healthy")
            assert rule == {"condition": expected}, (name, dependency)
    assert set(services["edge"]["depends_on"]) >= {"auth", "upload", "files", "redis"}
    for name, db in DATABASES.items():
        assert db in services[name]["depends_on"]
    for name in ("upload", "files"):
        assert "s3-init" in services[name]["depends_on"]
    assert "keygen" in services["auth"]["depends_on"]
    assert "depends_on" not in services["prometheus"]  # it must see a broken app, too


def test_pools_fit_max_connections(services: dict[str, Any]) -> None:
    for name, db in DATABASES.items():
        env = _env(services[name])
        url = env["GOVAULT_DATABASE_URL"]
        assert f"@{db}:5432/" in url
        pool_max = int(env["GOVAULT_DB_POOL_MAX"])
        assert int(env["GOVAULT_DB_POOL_MIN"]) <= pool_max
        command = " ".join(services[db]["command"])
        max_connections = int(re.search(r"max_connections=(\d+)", command)[1])  # type: ignore[index]
        replicas = services[name].get("deploy", {}).get("replicas", 1)
        assert pool_max * replicas + HEADROOM <= max_connections, (name, pool_max, max_connections)


def test_named_volumes_for_all_data(raw: dict[str, Any], services: dict[str, Any]) -> None:
    pg_data = "/var/lib/postgresql/data"
    data_paths = {"auth-db": pg_data, "upload-db": pg_data, "files-db": pg_data, "s3": "/data",
                  "prometheus": "/prometheus", "grafana": "/var/lib/grafana", "redis": "/data"}
    for name, path in data_paths.items():
        mounts = dict(volume.split(":")[:2] for volume in services[name]["volumes"])
        source = {target: source for source, target in mounts.items()}[path]
        assert source in raw["volumes"], f"{name}: {path} must be a named volume"
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # bind mounts are configuration, read-only
                assert volume.endswith(":ro"), (name, volume)
            else:
                assert source in raw["volumes"], (name, volume)


# ----------------------------------------------------------------------------- secrets
def test_secrets_come_only_from_env(services: dict[str, Any]) -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    assert {"AUTH_DB_PASSWORD", "UPLOAD_DB_PASSWORD", "FILES_DB_PASSWORD", "S3_ACCESS_KEY",
            "S3_SECRET_KEY", "REDIS_PASSWORD", "GOVAULT_SERVICE_TOKEN",
            "GRAFANA_ADMIN_PASSWORD"} <= required
    for name, service in services.items():
        for key, value in _env(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), (name, key, value)
            literal = re.sub(r"\$\{[^}]*\}", "", value).lower()
            for credential in ("minioadmin", "admin:admin", "password", "postgres:postgres"):
                assert credential not in literal, (name, key)
        url_env = {k: v for k, v in _env(service).items() if "://" in v and "@" in v}
        for key, value in url_env.items():
            password = value.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", password), (name, key)


def test_env_example_lists_every_required_value_as_a_placeholder() -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    values = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                  if line and not line.startswith("#"))
    assert required <= set(values), required - set(values)
    for name in required:
        if SECRET_NAME.search(name):
            assert values[name] == "change-me", name
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_bucket_is_created_private(services: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text().lower()
    assert "anonymous set" not in text and "public-read" not in text
    assert services["s3-init"]["command"] == ["python", "-m", "compose.container_init", "bucket"]
    assert services["s3-init"]["depends_on"] == {"s3": {"condition": "service_healthy"}}


def test_monitoring_is_private_and_provisioned(services: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} must not be published on all addresses"
    grafana = _env(services["grafana"])
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_prometheus_scrapes_every_process_on_its_metrics_port(services: dict[str, Any]) -> None:
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    jobs = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in config["scrape_configs"]}
    for name, (_, _, metrics_port) in PROCESSES.items():
        assert jobs[name] == [f"{name}:{metrics_port}"]
        assert str(metrics_port) in [str(port) for port in services[name]["expose"]]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]


# ----------------------------------------------------------------------------- image
def test_dockerfile_is_multi_stage_non_root_and_installs_the_project() -> None:
    text = (COMPOSE / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    assert "slim" in text
    assert "pip install" in text and " . " in text
    # the server's extra only: no filtering, no launcher binaries, no CLI or load-test libraries
    assert "'.[server]'" in text and "tomllib" not in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".data", ".env"} <= set(ignored)


# ----------------------------------------------------------------------------- healthchecks run
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_check(test: list[str], old: str, new: str) -> int:
    assert test[0] == "CMD" and test[1] == "python"
    argv = [sys.executable, *[part.replace(old, new) for part in test[2:]]]
    return subprocess.run(argv, capture_output=True, timeout=30).returncode


@pytest.fixture
def grpc_health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(None)


@pytest.mark.parametrize("name", ["auth", "upload", "files"])
def test_grpc_healthcheck_passes_only_when_serving(
    services: dict[str, Any], grpc_health_server: tuple[int, health.HealthServicer], name: str,
) -> None:
    port, servicer = grpc_health_server
    test = services[name]["healthcheck"]["test"]
    own = f"127.0.0.1:{PROCESSES[name][1]}"
    assert own in " ".join(test)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert _run_check(test, own, f"127.0.0.1:{port}") == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert _run_check(test, own, f"127.0.0.1:{port}") != 0
    assert _run_check(test, own, f"127.0.0.1:{_free_port()}") != 0  # nothing listening


def test_edge_healthcheck_passes_only_on_200(services: dict[str, Any]) -> None:
    statuses = {"/health": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        test = services["edge"]["healthcheck"]["test"]
        own = "127.0.0.1:9000"
        assert own + "/health" in " ".join(test)
        assert _run_check(test, own, f"127.0.0.1:{server.server_port}") == 0
        statuses["/health"] = 503
        assert _run_check(test, own, f"127.0.0.1:{server.server_port}") != 0
    finally:
        server.shutdown()


# ----------------------------------------------------------------------------- init steps
def test_jwt_key_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "jwt_ed25519.pem"
    assert container_init.main(["jwt-key", str(path)]) == 0
    first = path.read_bytes()
    assert first.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert container_init.main(["jwt-key", str(path)]) == 0
    assert path.read_bytes() == first  # kept: tokens stay valid across restarts


def test_init_usage_error() -> None:
    assert container_init.main(["nonsense"]) == 2
    assert healthcheck.main(["nonsense", "127.0.0.1:1"]) == 2


# ----------------------------------------------------------------------------- local Prometheus
def test_local_prometheus_config_has_the_compose_jobs(tmp_path: Path) -> None:
    from compose import prometheus_local

    compose_jobs = [job["job_name"] for job in
                    yaml.safe_load((COMPOSE / "prometheus.yml").read_text())["scrape_configs"]]
    targets = {name: f"127.0.0.1:{metrics}" for name, (_, _, metrics) in PROCESSES.items()}
    path = prometheus_local.write_config(tmp_path, targets, scrape_interval_s=2,
                                         self_target="127.0.0.1:9090")
    config = yaml.safe_load(path.read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == compose_jobs
    assert config["global"]["scrape_interval"] == "2s"
    result = subprocess.run([require_tool("promtool"), "check", "config", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
