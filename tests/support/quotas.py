"""The operator's quota commands against a test stack: `python -m svc_files quota ...` run with
the files service's own environment, as an operator would (README "Storage quotas")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from compose import Stack


def files_quota(stack: Stack, *args: str) -> tuple[int, Any]:
    """`python -m svc_files quota ARGS`: (exit status, the JSON it printed)."""
    done = subprocess.run([sys.executable, "-m", "svc_files", "quota", *args],
                          env={**os.environ, **stack.service_env("files")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def set_quota(stack: Stack, email: str, size: str) -> dict[str, Any]:
    """Sets `email`'s quota (`5MiB`, `unlimited`, `default`); the command's JSON."""
    code, shown = files_quota(stack, "set", "--email", email, "--bytes", size)
    assert code == 0, shown
    return dict(shown)
