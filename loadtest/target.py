"""The stack under test: where its edge and S3 store listen, and how to run its CLIs.

Built from the launcher's `<data-dir>/stack.json` (written by `compose.stack.Stack`), or from a
live `Stack` object. Load tests only ever target 127.0.0.1: anything else is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
REPO_ROOT = Path(__file__).resolve().parent.parent


class TargetError(RuntimeError):
    """The stack cannot be used (not found, not local, a CLI failed)."""


def ensure_local(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise TargetError(f"load tests only target 127.0.0.1; refusing {url}")
    return url


@dataclass(frozen=True)
class Target:
    edge_url: str
    s3_endpoint: str
    s3_bucket: str
    s3_access_key: str
    s3_secret_key: str
    s3_region: str = "us-east-1"
    grpc_addrs: Mapping[str, str] = field(default_factory=dict)
    database_urls: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    # The source tree the stack runs from: its one-shot CLIs (reaper, audit) run from it too, so
    # a stack of another build (`loadtest.runs --tree`) is settled by its own code and schema.
    source_root: Path = REPO_ROOT

    def __post_init__(self) -> None:
        ensure_local(self.edge_url)
        ensure_local(self.s3_endpoint)
        for addr in self.grpc_addrs.values():
            ensure_local(f"grpc://{addr}")

    @classmethod
    def from_state(cls, state: Mapping[str, Any], source_root: Path = REPO_ROOT) -> Target:
        env = dict(state.get("env") or {})
        return cls(
            edge_url=state["edge_url"].rstrip("/"),
            s3_endpoint=state["s3_endpoint"].rstrip("/"),
            s3_bucket=state.get("s3_bucket") or env.get("GOVAULT_S3_BUCKET", "govault"),
            s3_access_key=state["s3_access_key"],
            s3_secret_key=state["s3_secret_key"],
            s3_region=env.get("GOVAULT_S3_REGION", "us-east-1"),
            grpc_addrs=dict(state.get("grpc_addrs") or {}),
            database_urls=dict(state.get("database_urls") or {}),
            env=env,
            source_root=source_root,
        )

    @classmethod
    def from_stack_file(cls, path: str | os.PathLike[str]) -> Target:
        """`path` is a stack.json or the launcher data directory holding one."""
        p = Path(path)
        if p.is_dir():
            p = p / "stack.json"
        try:
            return cls.from_state(json.loads(p.read_text()))
        except FileNotFoundError:
            raise TargetError(f"{p} not found: is the stack running (python -m compose.local up)?"
                              ) from None

    @classmethod
    def from_stack(cls, stack: Any) -> Target:
        """From a live `compose.stack.Stack` (the test fixtures and bench use this)."""
        return cls.from_state({
            "edge_url": stack.edge_url, "s3_endpoint": stack.s3_endpoint,
            "s3_bucket": stack.s3_bucket, "s3_access_key": stack.s3_access_key,
            "s3_secret_key": stack.s3_secret_key, "grpc_addrs": stack.grpc_addrs,
            "database_urls": stack.database_urls, "env": stack.env,
        })

    def service_env(self, name: str) -> dict[str, str]:
        """Environment for a one-shot CLI of service `name` (reaper, audit): no metrics port."""
        env = dict(os.environ)
        env.update(self.env)
        if name in self.database_urls:
            env["GOVAULT_DATABASE_URL"] = self.database_urls[name]
        if name in self.grpc_addrs:
            env["GOVAULT_GRPC_PORT"] = self.grpc_addrs[name].rsplit(":", 1)[1]
        env["GOVAULT_METRICS_PORT"] = "0"
        env.setdefault("GOVAULT_LOG_LEVEL", "warning")
        if self.source_root != REPO_ROOT:
            env["PYTHONPATH"] = f"{self.source_root}:{self.source_root / 'gen'}"
        return env

    def run_cli(self, service: str, *args: str, timeout_s: float = 300
                ) -> subprocess.CompletedProcess[str]:
        """`python -m svc_<service> <args>` with the service's env; TargetError on failure."""
        cmd = [sys.executable, "-m", f"svc_{service}", *args]
        try:
            proc = subprocess.run(cmd, env=self.service_env(service), cwd=self.source_root,
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise TargetError(f"{' '.join(cmd[1:])} did not finish in {timeout_s:.0f} s") from None
        if proc.returncode != 0:  # its last lines (the exception), no traceback paths
            last = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise TargetError(f"{' '.join(cmd[1:])} exited {proc.returncode}: "
                              + " | ".join(line.strip() for line in last)[:500])
        return proc

    def minio(self) -> Any:
        """A minio client; the region is fixed so presigning never calls the network."""
        from minio import Minio

        parts = urlsplit(self.s3_endpoint)
        return Minio(parts.netloc, access_key=self.s3_access_key, secret_key=self.s3_secret_key,
                     secure=parts.scheme == "https", region=self.s3_region)
