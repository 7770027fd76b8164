"""Fixtures of the Helm chart's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def helm() -> str:
    """The pinned helm (built once with go install; scripts/ensure-helm caches it)."""
    result = subprocess.run([str(ROOT / "scripts" / "ensure-helm")], capture_output=True,
                            text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"scripts/ensure-helm failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]
