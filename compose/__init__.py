"""Running GoVault's topology: `docker-compose.yml` for containers, and the local launcher behind
`make up` (`python -m compose.local`) that runs the same processes without Docker.

The launcher owns process supervision, private dependency servers (PostgreSQL, SeaweedFS, Redis),
dev credentials under a git-ignored data directory, ports and readiness checks. It must not import
service code (`edge`, `svc_*`): services are started as separate processes and configured only
through their `GOVAULT_*` environment, exactly as in production. From `common` it takes only the
one rule for creating the bucket (`common.s3.create_bucket`), so the launcher, the container
stack's init step and the upload service create it the same way.

Python entry point: `compose.Stack` (compose/stack.py), imported lazily so that other modules of
this package (container helpers) stay cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compose.errors import StackError
    from compose.stack import Stack

__all__ = ["Stack", "StackError"]


def __getattr__(name: str) -> Any:
    if name == "Stack":
        from compose.stack import Stack

        return Stack
    if name == "StackError":
        from compose.errors import StackError

        return StackError
    raise AttributeError(f"module 'compose' has no attribute {name!r}")
