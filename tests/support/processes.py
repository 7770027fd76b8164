"""Extra GoVault processes a test runs next to the session's stack (a second edge with tiny rate
limits, a files service it can kill and restart), configured only through `GOVAULT_*` env."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
# How long a test waits for a process it started to answer (it fails sooner if the process
# exits); the launcher's own bound per process (compose.Stack.start_timeout_s).
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def black_hole_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung upstream); its address."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def wait_until(what: str, check: Callable[[], bool], timeout_s: float,
               process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: process exited with {process.returncode}\n{tail}")
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not ready within {timeout_s}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def grpc_serving(addr: str) -> bool:
    with grpc.insecure_channel(addr) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=1.0)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=REPO_ROOT, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def python_module(name: str, module: str, env: Mapping[str, str], log: Path) -> Process:
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    return Process(name, [sys.executable, "-m", module], full, log)


def start_edge(base_env: Mapping[str, str], log: Path, **overrides: str) -> tuple[Process, str]:
    """`python -m edge` on free ports with the stack's env plus `GOVAULT_<KEY>` overrides."""
    port = free_port()
    env = {**base_env, "GOVAULT_EDGE_PORT": str(port), "GOVAULT_METRICS_PORT": "0"}
    env.update({f"GOVAULT_{key.upper()}": value for key, value in overrides.items()})
    process = python_module("edge", "edge", env, log).start()
    url = f"http://127.0.0.1:{port}"
    wait_until("extra edge /health", lambda: http_ok(f"{url}/health"), START_TIMEOUT_S,
               process.popen, log)
    return process, url


def start_service(module: str, base_env: Mapping[str, str], log: Path,
                  port: int | None = None) -> tuple[Process, str]:
    """A gRPC service (`svc_files`, ...) on a free (or given) port; waits for SERVING."""
    port = port or free_port()
    env = {**base_env, "GOVAULT_GRPC_PORT": str(port), "GOVAULT_METRICS_PORT": "0"}
    process = python_module(module, module, env, log).start()
    addr = f"127.0.0.1:{port}"
    wait_until(f"{module} gRPC health", lambda: grpc_serving(addr), START_TIMEOUT_S,
               process.popen, log)
    return process, addr


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (one that exited is dead for every test
    here, reaped or not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
