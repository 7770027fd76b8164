"""Every TCP port one stack binds, derived from the defaults in docs/configuration.md plus an
offset, and the checks around them (free before start, closed after stop).

Two stacks can run side by side when their offsets keep every port apart; `overlap()` tells.
The test suite uses offsets 2000, 4000, 6000 and 8000 next to a `make up` stack at offset 0.

Every default lies below the kernel's ephemeral range (Linux: 32768-60999), and so does every
port of an offset up to `MAX_QUIET_OFFSET`: the kernel never hands such a port to an outgoing
connection as its local port, so no client connection (open, or closed and lingering in
TIME-WAIT for 60 s) can keep a server from binding it. Inside the range it can, and no server
option helps: a socket in TIME-WAIT, or open, that did not set SO_REUSEADDR itself (no client
does) refuses even a SO_REUSEADDR bind. `ensure_free` tells that case from a listener.
"""

from __future__ import annotations

import errno
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from compose.errors import PortInUseError

# name -> default port. Grouped by owner; names are used in messages ("port 8333 (s3) is taken").
BASE_PORTS: dict[str, int] = {
    # GoVault processes (docs/configuration.md)
    "edge": 9000,
    "edge_metrics": 9100,
    "auth": 15051,
    "auth_metrics": 9101,
    "upload": 15052,
    "upload_metrics": 9102,
    "files": 15053,
    "files_metrics": 9103,
    # dependencies
    "postgres": 15432,
    "redis": 16379,
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
    "weed_admin": 9646,
    "weed_admin_grpc": 19646,
    # MinIO instead of SeaweedFS (`Stack(store="minio")`): its S3 API on `s3`, and its console
    "minio_console": 8334,
}

# Replicas 2..MAX_REPLICAS of each gRPC service (`make up REPLICAS=2`): the first one's ports
# + 10 per replica (auth-2 on 15061, metrics 9111; auth-3 on 15071, …).
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
# The kernel's ephemeral range by default; `ephemeral_range()` reads this machine's.
EPHEMERAL_RANGE = (32768, 60999)
# The largest offset that keeps every port below the default ephemeral range.
MAX_QUIET_OFFSET = EPHEMERAL_RANGE[0] - 1 - max(BASE_PORTS.values())
# Linux keeps a closed connection's local port in TIME-WAIT for 60 s (TCP_TIMEWAIT_LEN, fixed).
TIME_WAIT_S = 60.0


def shifted(offset: int) -> dict[str, int]:
    """All ports of a stack at `offset`."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"port offset must be between 0 and {MAX_OFFSET}, got {offset}")
    return {name: port + offset for name, port in BASE_PORTS.items()}


def candidate_offsets(preferred: int) -> list[int]:
    """Offsets for a stack that wants `preferred`, in the order to try them: `preferred`, then
    every hundred above it and below it, all keeping each port below the ephemeral range."""
    return [preferred, *range(preferred + 100, MAX_QUIET_OFFSET + 1, 100),
            *range(100, preferred, 100)]


def overlap(offset_a: int, offset_b: int) -> set[int]:
    """Ports two stacks at these offsets would both bind (empty: they can run side by side)."""
    return set(shifted(offset_a).values()) & set(shifted(offset_b).values())


def ensure_free(ports: Mapping[str, int], names: Iterable[str], host: str = "127.0.0.1",
                wait_s: float = 5.0, time_wait_s: float = TIME_WAIT_S + 5,
                say: Callable[[str], None] | None = None) -> None:
    """Return once a server could bind every port among `names` (SO_REUSEADDR, as servers bind),
    or raise PortInUseError naming the first that it cannot and what holds it:
    - a listener: at once (waiting would not help);
    - only connections in TIME-WAIT (an outgoing connection took the port as its local port and
      has closed): no server can bind it until the kernel lets it go, within 60 s, so this waits
      up to `time_wait_s`, saying so once through `say` (default: stderr);
    - an open connection using it as its local port: waits up to `wait_s`, then names it."""
    note = say or _say
    deadline = time.monotonic() + wait_s
    for name in names:
        port = ports[name]
        noted = False
        while not can_bind(host, port):
            states = holders(host, port)
            if "LISTEN" in states:
                raise PortInUseError(
                    f"port {port} ({name}) on {host} is already in use: something listens there "
                    f"(`ss -ltnp 'sport = :{port}'` names it); stop it or pick another "
                    "--port-offset")
            closing = bool(states) and set(states) <= {"TIME_WAIT", "FIN_WAIT1", "FIN_WAIT2",
                                                        "CLOSING", "LAST_ACK"}
            if closing and not noted:
                deadline = max(deadline, time.monotonic() + time_wait_s)
                note(f"port {port} ({name}) on {host} is the local port of a closed outgoing "
                     f"connection ({', '.join(sorted(set(states)))}); no server can bind it "
                     f"until the kernel frees it, within {TIME_WAIT_S:.0f} s: waiting")
                noted = True
            if time.monotonic() >= deadline:
                raise PortInUseError(_held_message(host, port, name, states))
            time.sleep(0.2)


def _held_message(host: str, port: int, name: str, states: list[str]) -> str:
    what = (f"held by sockets that do not listen ({', '.join(sorted(set(states)))}): an outgoing "
            "connection's local port, most likely" if states else "taken")
    low, high = ephemeral_range()
    inside = (f"; ports in the kernel's ephemeral range ({low}-{high}) can be taken this way: "
              "pick a --port-offset that keeps them below it") if low <= port <= high else ""
    return (f"port {port} ({name}) on {host} cannot be bound: it is {what} "
            f"(`ss -tanp 'sport = :{port}'` names its process){inside}")


def _say(message: str) -> None:
    print(f"launcher: {message}", file=sys.stderr, flush=True)


def can_bind(host: str, port: int) -> bool:
    """Whether a server could bind `port` now (with SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


# /proc/net/tcp's state numbers (include/net/tcp_states.h)
_TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
               6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
               11: "CLOSING"}


def holders(host: str, port: int) -> list[str]:
    """The TCP states of the sockets whose local end is `port` on `host` or on the wildcard
    address (Linux's /proc/net/tcp and tcp6; elsewhere a connect() tells only LISTEN)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return ["LISTEN"] if is_listening(host, port) else []
    wanted = {_proc_address(host), _proc_address("0.0.0.0"), _proc_address("::"),
              _proc_address(f"::ffff:{host}") if ":" not in host else _proc_address(host)}
    found = []
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port and (host == "0.0.0.0" or address in wanted):
                found.append(_TCP_STATES.get(int(fields[3], 16), fields[3]))
    return found


def _proc_address(address: str) -> str:
    """`address` as /proc/net/tcp{,6} prints it: the raw bytes, one 32-bit word at a time in
    host order (little-endian here), in upper-case hex."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.inet_pton(family, address)
    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    return "".join(int.from_bytes(w, sys.byteorder).to_bytes(4, "big").hex().upper()
                   for w in words)


def in_ephemeral_range(ports: Mapping[str, int]) -> dict[str, int]:
    """The subset of `ports` inside this machine's ephemeral range."""
    low, high = ephemeral_range()
    return {name: port for name, port in ports.items() if low <= port <= high}


def ephemeral_range() -> tuple[int, int]:
    """The local ports this machine's kernel hands to outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return EPHEMERAL_RANGE


def is_listening(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def listening(ports: Mapping[str, int], host: str = "127.0.0.1") -> dict[str, int]:
    """The subset of `ports` something still accepts connections on."""
    return {name: port for name, port in ports.items() if is_listening(host, port)}
