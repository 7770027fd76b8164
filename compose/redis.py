"""Redis for the edge's shared rate-limit budget: a private `redis-server` (when installed) on
127.0.0.1 with a generated password and no persistence, or an existing one (`GOVAULT_REDIS_URL`).
Without either, the edge keeps its budget in-process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

import redis as redis_client

from compose.credentials import write_private
from compose.procs import Child, Supervisor, wait_until


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.isfile(p)), None)


def ping(url: str) -> bool:
    try:
        with redis_client.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as conn:
            return bool(conn.ping())
    except redis_client.RedisError:
        return False


class LocalRedis:
    def __init__(self, binary: str, data_dir: Path, port: int, password: str,
                 supervisor: Supervisor, *, host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.password = password
        self.supervisor = supervisor
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@{self.host}:{self.port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"  # the password stays out of `ps`
        write_private(conf, "\n".join([
            f"bind {self.host}",
            f"port {self.port}",
            f'requirepass "{self.password}"',
            f'dir "{self.data_dir}"',
            'save ""',
            "appendonly no",
            "daemonize no",
            "protected-mode yes",
            'logfile ""',
        ]) + "\n")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.child = self.supervisor.spawn("redis", [self.binary, str(conf)], env)
        wait_until(f"Redis on {self.host}:{self.port}", lambda: ping(self.url), timeout_s,
                   [self.child])

    def stop(self) -> None:
        if self.child is not None:
            self.supervisor.stop(self.child)
            self.child = None
