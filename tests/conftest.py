"""Shared fixtures.

Session-scoped stacks, started through the same launcher as `make up` (compose.Stack) in temporary
directories on their own ports, so they run next to a developer's `make up`:

- `stack_deps`: PostgreSQL (databases govault_auth/_upload/_files), SeaweedFS (private bucket
  `govault`) and Redis. Attributes: `database_urls[svc]`, `pg_admin_url`, `create_database(name)`,
  `s3_endpoint`, `s3_access_key`, `s3_secret_key`, `s3_bucket`, `s3_region`, `redis_url`,
  `service_token`, `jwt_private_key_file`, `env`, `data_dir`, `log_path(name)`.
- `stack`: its own dependencies plus auth, files, upload and edge. Adds `edge_url`,
  `grpc_addrs[svc]`, `metrics_ports[name]`, `service_env(name)`.
- `minio_deps` / `minio_stack`: the same two on MinIO instead of SeaweedFS (one stack: asking
  for `minio_stack` starts the services on `minio_deps`). docs/stores.md.
- `s3_store` (module-scoped, parametrized "seaweedfs" / "minio") and `s3_stack` (the running
  stack whose store that is): storage-facing tests take them to run against both S3 servers.
- `service_log(name)`: a `tests.support.logs.ServiceLog` over the `stack`'s DATA/logs/<name>.log.

They never skip: a stack that cannot start fails the run with the end of the failing log.
Tests under tests/integration, tests/e2e and tests/tooling get the `integration` / `e2e` /
`tooling` marker automatically.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
if str(_TESTS.parent) not in sys.path:  # the repo root: compose, services, tests.*
    sys.path.insert(0, str(_TESTS.parent))

from compose import Stack  # noqa: E402
from tests.support.logs import ServiceLog  # noqa: E402
from tests.support.stacks import start_services, start_stack, stop_stack  # noqa: E402

MARKERS = {
    "integration": "needs real PostgreSQL and S3 (started by the fixtures)",
    "e2e": "drives the whole stack over HTTP (started by the fixtures)",
    "tooling": "the launcher, compose files, dashboards and load-test tooling (not the product)",
    "faults": "kills and freezes processes of a stack of its own under upload load",
    "fuzz": "schema fuzzing of the running stack's public API (schemathesis)",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = "\n".join(config.getini("markers"))
    for name, help_text in MARKERS.items():
        if f"{name}:" not in registered:
            config.addinivalue_line("markers", f"{name}: {help_text}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(_TESTS).parts if item.path.is_relative_to(_TESTS) else ()
        if parts and parts[0] in MARKERS:
            item.add_marker(parts[0])


def _session_failed(request: pytest.FixtureRequest) -> bool:
    return bool(request.session.testsfailed)


@pytest.fixture(scope="session")
def stack_deps(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """PostgreSQL + SeaweedFS + Redis, fresh for this session."""
    stack = start_stack("deps", services=False)
    yield stack
    stop_stack(stack, keep_logs=_session_failed(request))


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The whole stack (own dependencies, auth, files, upload, edge), ready at `stack.edge_url`."""
    stack = start_stack("stack", services=True)
    yield stack
    stop_stack(stack, keep_logs=_session_failed(request))


@pytest.fixture(scope="session")
def minio_deps(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """PostgreSQL + MinIO (the pinned build of scripts/ensure-minio) + Redis, fresh for this
    session."""
    stack = start_stack("minio", services=False, store="minio")
    yield stack
    stop_stack(stack, keep_logs=_session_failed(request))


@pytest.fixture(scope="session")
def minio_stack(minio_deps: Stack) -> Stack:
    """The whole stack on MinIO: `minio_deps` with auth, files, upload and edge started (they
    stop with it)."""
    start_services("minio", minio_deps)
    return minio_deps


S3_STORES = ("seaweedfs", "minio")


@pytest.fixture(scope="module", params=S3_STORES)
def s3_store(request: pytest.FixtureRequest) -> str:
    """Which S3 server a storage-facing test runs against (each test runs once per server)."""
    return str(request.param)


@pytest.fixture(scope="module")
def s3_stack(s3_store: str, request: pytest.FixtureRequest) -> Stack:
    """The session's dependencies stack running `s3_store` (its `s3_*` attributes)."""
    stack: Stack = request.getfixturevalue("stack_deps" if s3_store == "seaweedfs"
                                           else "minio_deps")
    return stack


@pytest.fixture(scope="session")
def service_log(stack: Stack) -> Callable[[str], ServiceLog]:
    """`service_log("auth")` → reader for the stack's auth log (also edge, files, upload, ...)."""
    return lambda name: ServiceLog(stack.log_path(name))
