"""Graceful shutdown of a gRPC service (common.grpc.server.serve): on SIGTERM a call already in
flight still completes with its answer, and the process then exits cleanly (status 0).

The auth service is run as `python -m svc_auth` with deliberately slow Argon2 parameters, so a
SignUp is still hashing when the signal arrives (seen on its in-flight gauge)."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from tests.support.processes import free_port, grpc_serving, python_module, wait_until

pytestmark = pytest.mark.integration


def in_flight(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        if line.startswith('govault_grpc_server_in_flight{service="auth"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_sigterm_lets_the_call_in_flight_finish_then_exits_cleanly(
        stack_deps: Any, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "GOVAULT_DATABASE_URL": stack_deps.create_database(f"drain_{uuid.uuid4().hex[:8]}"),
        "GOVAULT_SERVICE_TOKEN": "drain-test", "GOVAULT_GRPC_PORT": str(port),
        "GOVAULT_METRICS_PORT": str(metrics_port), "GOVAULT_SHUTDOWN_GRACE_S": "60",
        # one slow hash (seconds) keeps the SignUp in flight
        "GOVAULT_ARGON2_TIME_COST": "20", "GOVAULT_ARGON2_MEMORY_KIB": str(64 * 1024),
        "GOVAULT_HASH_WORKERS": "1", "GOVAULT_TOKEN_PURGE_INTERVAL_S": "0",
    }
    log = tmp_path / "auth.log"
    process = python_module("auth", "svc_auth", env, log).start()
    assert process.popen is not None
    try:
        addr = f"127.0.0.1:{port}"
        wait_until("auth serving", lambda: grpc_serving(addr), 60, process.popen, log)
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            call = asyncio.ensure_future(stub.SignUp(auth_pb2.SignUpRequest(
                username="drained", email="drained@example.com", password="Test@1234"),
                timeout=120))
            await asyncio.to_thread(wait_until, "SignUp in flight",
                                    lambda: in_flight(metrics_port) >= 1, 30, process.popen, log)
            process.popen.send_signal(signal.SIGTERM)
            reply = await call
        assert reply.user_id  # the call in flight got its answer
        code = await asyncio.to_thread(process.popen.wait, 60)
        assert code == 0, log.read_text()[-3000:]
        assert "grpc_server_stopped" in log.read_text()
    finally:
        process.kill()
