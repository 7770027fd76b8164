"""Every TCP port one stack binds, derived from the defaults in docs/configuration.md plus an
offset, and the checks around them (free before start, closed after stop).

Two stacks can run side by side when their offsets keep every port apart; `overlap()` tells.
The test suite uses offsets 2000, 4000 and 6000 next to a `make up` stack at offset 0.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterable, Mapping

from compose.errors import PortInUseError

# name -> default port. Grouped by owner; names are used in messages ("port 8333 (s3) is taken").
BASE_PORTS: dict[str, int] = {
    # GoVault processes (docs/configuration.md)
    "edge": 9000,
    "edge_metrics": 9100,
    "auth": 50051,
    "auth_metrics": 9101,
    "upload": 50052,
    "upload_metrics": 9102,
    "files": 50053,
    "files_metrics": 9103,
    # dependencies
    "postgres": 55432,
    "redis": 56379,
    # local Prometheus (compose/prometheus_local.py), when the `prometheus` binary is installed
    "prometheus": 9090,
    # SeaweedFS `weed mini`: every listener it opens (gRPC ports are HTTP + 10000)
    "s3": 8333,
    "s3_grpc": 18333,
    "weed_master": 9333,
    "weed_master_grpc": 19333,
    "weed_volume": 9340,
    "weed_volume_grpc": 19340,
    "weed_filer": 8888,
    "weed_filer_grpc": 18888,
    "weed_admin": 23646,
    "weed_admin_grpc": 33646,
    # MinIO instead of SeaweedFS (`Stack(store="minio")`): its S3 API on `s3`, and its console
    "minio_console": 8334,
}

# Replicas 2..MAX_REPLICAS of each gRPC service (`make up REPLICAS=2`): the first one's ports
# + 10 per replica (auth-2 on 50061, metrics 9111; auth-3 on 50071, …).
MAX_REPLICAS = 4
REPLICATED = ("auth", "upload", "files")
for _svc in REPLICATED:
    for _k in range(2, MAX_REPLICAS + 1):
        BASE_PORTS[f"{_svc}-{_k}"] = BASE_PORTS[_svc] + 10 * (_k - 1)
        BASE_PORTS[f"{_svc}-{_k}_metrics"] = BASE_PORTS[f"{_svc}_metrics"] + 10 * (_k - 1)

SERVICE_PORTS = ("edge", "edge_metrics", "auth", "auth_metrics", "upload", "upload_metrics",
                 "files", "files_metrics")


def replica_names(service: str, replicas: int) -> list[str]:
    """`auth`, `auth-2`, … : the process names of `replicas` instances of `service`."""
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be between 1 and {MAX_REPLICAS}, got {replicas}")
    return [service, *(f"{service}-{k}" for k in range(2, replicas + 1))]


def service_ports(replicas: int) -> list[str]:
    """Every port name the GoVault processes bind with `replicas` instances of each service."""
    extra = [f"{name}{suffix}" for svc in REPLICATED for name in replica_names(svc, replicas)[1:]
             for suffix in ("", "_metrics")]
    return [*SERVICE_PORTS, *extra]
SEAWEED_PORTS = tuple(n for n in BASE_PORTS if n == "s3" or n.startswith(("s3_", "weed_")))
MINIO_PORTS = ("s3", "minio_console")
MAX_OFFSET = 65535 - max(BASE_PORTS.values())


def shifted(offset: int) -> dict[str, int]:
    """All ports of a stack at `offset`."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"port offset must be between 0 and {MAX_OFFSET}, got {offset}")
    return {name: port + offset for name, port in BASE_PORTS.items()}


def overlap(offset_a: int, offset_b: int) -> set[int]:
    """Ports two stacks at these offsets would both bind (empty: they can run side by side)."""
    return set(shifted(offset_a).values()) & set(shifted(offset_b).values())


def ensure_free(ports: Mapping[str, int], names: Iterable[str], host: str = "127.0.0.1",
                wait_s: float = 5.0) -> None:
    """Raise PortInUseError naming the first port among `names` that cannot be bound. Most of
    these ports lie in the kernel's ephemeral range, so a short-lived outgoing connection can hold
    one for a moment: a taken port is tried again for up to `wait_s` before it is reported."""
    deadline = time.monotonic() + wait_s
    for name in names:
        port = ports[name]
        while not can_bind(host, port) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not can_bind(host, port):
            raise PortInUseError(
                f"port {port} ({name}) on {host} is already in use; stop whatever listens there "
                f"(`ss -ltnp 'sport = :{port}'`) or pick another --port-offset"
            )


def can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port in TIME_WAIT is usable; mirror that.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def is_listening(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def listening(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, int]:
    """The subset of `ports` something still accepts connections on."""
    return {name: port for name, port in ports.items() if is_listening(host, port)}
