"""Healthchecks of the GoVault containers (`docker-compose.yml`), run inside the app image:

    python -m compose.healthcheck grpc 127.0.0.1:15051
        passes when the gRPC health service answers SERVING.
    python -m compose.healthcheck http http://127.0.0.1:9000/health
        passes when the URL answers 200.

A module with plain arguments rather than `python -c "<code>"`: podman's Docker-compatible API
(what docker-compose talks to on podman 4) splits a healthcheck's arguments on spaces, which
breaks inline code. Exit 0 = healthy, 1 = not, 2 = usage.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


def grpc_serving(address: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    checks = {"grpc": grpc_serving, "http": http_ok}
    if len(argv) != 2 or argv[0] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if checks[argv[0]](argv[1]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
