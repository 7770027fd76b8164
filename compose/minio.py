"""The S3 store as MinIO: a private `minio server` under DATA/s3, the second store GoVault is tested
against (docs/stores.md). `Stack(..., store="minio")` runs it instead of SeaweedFS.

The binary is the pinned build from scripts/ensure-minio (`go install` into .tools/, built on first
use; afterwards found at once). The S3 API and the console bind to 127.0.0.1 on the stack's `s3`
and `minio_console` ports (compose.ports); the root credentials are the stack's S3 keys; the data
directory is 0700. MINIO_UPDATE=off: the server never looks for a newer release (a build without
release ldflags would not either), so nothing leaves the machine at run time. Its S3 API answers
CORS only for the origins it is given (MINIO_API_CORS_ALLOW_ORIGIN, compose.cors) and always exposes
ETag. Ready once /minio/health/live answers 200 and an authenticated S3 call succeeds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from compose.errors import StackError
from compose.health import http_ok
from compose.procs import wait_until
from compose.seaweed import LocalStore, wait_s3

ENSURE_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure-minio"


def find_minio() -> str:
    """The pinned MinIO binary, built by scripts/ensure-minio when missing (needs Go)."""
    try:
        done = subprocess.run([str(ENSURE_SCRIPT)], capture_output=True, text=True, check=False,
                              timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"scripts/ensure-minio could not run: {exc}") from None
    path = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not path or not os.access(path, os.X_OK):
        raise StackError(f"scripts/ensure-minio failed (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    return path


class LocalMinio(LocalStore):
    name = "minio"
    _binary: str | None = None  # found (built if need be) on the first start

    def start(self, timeout_s: float = 60.0) -> None:
        if self._binary is None:
            self._binary = find_minio()
        self._private_data_dir()
        argv = [self._binary, "server", str(self.data_dir),
                "--address", f"{self.host}:{self.ports['s3']}",
                "--console-address", f"{self.host}:{self.ports['minio_console']}"]
        env = {
            **self._base_env(),
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
            "MINIO_API_CORS_ALLOW_ORIGIN": ",".join(self.allowed_origins),
        }
        self.child = self.supervisor.spawn(self.name, argv, env)
        wait_until(f"MinIO GET {self.endpoint}/minio/health/live",
                   lambda: http_ok(f"{self.endpoint}/minio/health/live"), timeout_s, [self.child])
        wait_s3(self.endpoint, self.access_key, self.secret_key, None,
                f"MinIO S3 on {self.endpoint}", timeout_s, [self.child])
