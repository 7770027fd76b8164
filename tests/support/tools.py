"""System tools some tests run (installed by scripts/ensure-system-deps, which `make test` runs).

A missing tool fails the test loudly instead of skipping it: CI must never pass without running
every check."""

from __future__ import annotations

import shutil

import pytest

# tool -> Debian package providing it
PACKAGES = {"redis-server": "redis-server", "docker-compose": "docker-compose",
            "prometheus": "prometheus", "promtool": "prometheus"}


def require_tool(name: str) -> str:
    """The path of `name`, or fail the test saying how to install it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed (Debian package {PACKAGES.get(name, name)}): run "
                    "scripts/ensure-system-deps (or `make test`, which runs it)", pytrace=False)
    return found
