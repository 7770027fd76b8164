"""`python -m compose.local up|deps` — GoVault on this machine without Docker (`make up`).

    up     PostgreSQL, SeaweedFS, Redis (if installed), then auth, files, upload and edge, then
           Prometheus scraping them (if installed; --no-prometheus to skip); prints the URLs,
           runs until Ctrl-C / SIGTERM, then stops everything it started.
    deps   only PostgreSQL, SeaweedFS and Redis (for integration tests or running a service
           by hand with the environment written to DATA/stack.json).

While it runs, a process that dies on its own (a GoVault service, PostgreSQL, SeaweedFS, Redis,
Prometheus) is started again after a growing delay (0.5 s … 30 s), and each death and restart is
printed with the process's log path; the services answer 503 while a dependency is down.

Exit status: 0 after a requested stop, 1 when something failed to start (the message names the
process and its log), 130 when interrupted during start-up or killed by a second Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from psycopg.conninfo import conninfo_to_dict

from compose import cors, ports
from compose.errors import LockedError, PortInUseError, StackError
from compose.ports import MAX_REPLICAS
from compose.stack import DATABASES, STORES, Stack


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stack = Stack(args.data_dir, args.port_offset, services=args.command == "up", echo=args.echo,
                  prometheus=args.prometheus, replicas=args.replicas, store=args.store)
    # SIGINT too: a launcher started in the background inherits SIGINT ignored, and then Ctrl-C
    # (or `kill -INT`) would do nothing. Every signal stops the stack in order.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    ready = False
    try:
        try:
            say(f"starting {args.command} in {stack.data_dir} (port offset {args.port_offset})")
            exposed = ports.in_ephemeral_range(stack.bound_ports())
            if exposed:
                say(f"note: {len(exposed)} ports of this offset (e.g. {min(exposed.values())}) lie "
                    "in the kernel's ephemeral range, where outgoing connections may hold them; "
                    f"offsets up to {ports.MAX_QUIET_OFFSET} keep every port below it")
            stack.start()
            ready = True
            _print_ready(stack, args.command, args.prometheus)
            code = _supervise(stack)
        except (LockedError, PortInUseError) as exc:  # nothing was started
            say(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            say("stopping…")
            code = 0 if ready else 130
        except StackError as exc:
            say(f"error: {exc}")
            code = 1
        stack.stop()
    except KeyboardInterrupt:  # a second Ctrl-C while stopping: no more waiting
        say("killing everything now")
        stack.kill()
        code = 130
    leftovers = stack.still_listening()
    if leftovers:
        say(f"warning: still listening after stop: {leftovers}")
    say("stopped")
    return code


def _supervise(stack: Stack) -> int:
    """Runs until Ctrl-C / SIGTERM, restarting whatever dies (with backoff) and saying so."""
    while True:
        for event in stack.supervise_once():
            say(event)
        time.sleep(0.5)


def _print_ready(stack: Stack, command: str, prometheus: bool = True) -> None:
    names = ["postgres", "seaweedfs", "minio", "redis", "auth", "files", "upload", "edge",
             "prometheus"]
    logs = ", ".join(n for n in names if stack.log_path(n).exists())
    no_redis = "none (redis-server not installed: the edge limits rates in-process)"
    lines = []
    if command == "up":
        lines.append(f"GoVault is ready at {stack.edge_url}  (Ctrl-C stops everything)")
        lines.append("  gRPC:       " + ", ".join(f"{svc} {' '.join(addrs)}"
                                                  for svc, addrs in stack.replica_addrs.items()))
        lines.append(f"  CORS:       {cors.describe(stack.cors_origins)}")
        if stack.prometheus_url:
            scraped = ", ".join(f"{k} :{v}" for k, v in stack.metrics_ports.items())
            lines.append(f"  Prometheus: {stack.prometheus_url} (scraping {scraped})")
        elif prometheus:
            lines.append("  Prometheus: none (not installed: apt-get install prometheus)")
        else:
            lines.append("  Prometheus: off (--no-prometheus)")
    else:
        lines.append("GoVault dependencies are ready  (Ctrl-C stops them)")
    lines += [
        f"  PostgreSQL: {_pg_location(stack.pg_admin_url)} "
        f"(databases {', '.join(DATABASES.values())})",
        f"  S3:         {stack.s3_endpoint} (bucket {stack.s3_bucket})",
        f"  Redis:      {_redact(stack.redis_url) if stack.redis_url else no_redis}",
        f"  logs:       {stack.log_dir}/{{{logs}}}.log",
        f"  secrets:    {stack.data_dir}/credentials.json",
        f"  settings:   {stack.data_dir}/stack.json",
    ]
    for line in lines:
        print(line, flush=True)


def _pg_location(url: str) -> str:
    info = conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"


def _redact(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if sep else url


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"govault: {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compose.local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "deps"])
    parser.add_argument("--data-dir", type=Path, default=Path(".data"),
                        help="state, credentials and logs (default: .data)")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="added to every port, to run a second stack next to the first")
    parser.add_argument("--echo", action="store_true",
                        help="also copy every process's log lines to this terminal")
    parser.add_argument("--replicas", type=int, default=1, choices=range(1, MAX_REPLICAS + 1),
                        metavar="N", help="instances of each gRPC service (the edge balances "
                        f"over them; 1-{MAX_REPLICAS}, default 1)")
    parser.add_argument("--store", choices=STORES, default="seaweedfs",
                        help="the private S3 server (default seaweedfs; minio: the pinned build "
                        "of scripts/ensure-minio, built with Go on first use; docs/stores.md)")
    parser.add_argument("--no-prometheus", dest="prometheus", action="store_false",
                        help="`up` without the local Prometheus (started when installed)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
