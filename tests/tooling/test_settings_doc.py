"""docs/configuration.md's table of variables is generated from the settings classes
(scripts/settings_doc.py, `make docs`): the committed page matches the code, and every variable
the processes read has a meaning there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common.config import Settings, describe, var
from common.grpc.server import GrpcServerSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_table_matches_the_settings_classes() -> None:
    done = subprocess.run([sys.executable, "scripts/settings_doc.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr + done.stdout


def test_describe_reads_names_defaults_bounds_and_descriptions() -> None:
    class Inner(Settings):
        size: int = var("INNER_SIZE", 5, ge=1, le=9, description="how big")

    class Server(GrpcServerSettings):
        port: int = var("GRPC_PORT", 50099, ge=0, le=65535)  # the base's description holds

    class Outer(Settings):
        inner: Inner
        server: Server
        url: str = var("OUTER_URL", description="where")

    found = {v.name: v for v in describe(Outer)}
    assert (found["GOVAULT_INNER_SIZE"].default, found["GOVAULT_INNER_SIZE"].bounds,
            found["GOVAULT_INNER_SIZE"].description) == ("5", "1–9", "how big")
    assert found["GOVAULT_OUTER_URL"].default is None  # required
    assert found["GOVAULT_GRPC_PORT"].default == "50099"
    assert found["GOVAULT_GRPC_PORT"].description == "the service's gRPC port"
