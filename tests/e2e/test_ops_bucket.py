"""The container stack's one-shot bucket step (`python -m compose.container_init bucket`) against
a real SeaweedFS: it creates the bucket, proves it private, and is idempotent. The stack's own
bucket refuses anonymous reads too."""

from __future__ import annotations

import subprocess
import sys
import uuid

from compose import Stack
from compose.container_init import anonymous_status
from tests.support.processes import REPO_ROOT


def _run_init(stack: Stack, bucket: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "GOVAULT_S3_ENDPOINT": stack.s3_endpoint,
        "GOVAULT_S3_ACCESS_KEY": stack.s3_access_key,
        "GOVAULT_S3_SECRET_KEY": stack.s3_secret_key,
        "GOVAULT_S3_BUCKET": bucket,
        "GOVAULT_S3_REGION": stack.s3_region,
    }
    return subprocess.run([sys.executable, "-m", "compose.container_init", "bucket"], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_bucket_step_creates_a_private_bucket_once(stack: Stack) -> None:
    bucket = f"ops-init-{uuid.uuid4().hex[:10]}"
    first = _run_init(stack, bucket)
    assert first.returncode == 0, first.stderr
    assert "created, private" in first.stdout
    again = _run_init(stack, bucket)
    assert again.returncode == 0, again.stderr
    assert "exists, private" in again.stdout
    assert anonymous_status(stack.s3_endpoint, bucket) in (401, 403)


def test_missing_credentials_fail_clearly() -> None:
    result = subprocess.run([sys.executable, "-m", "compose.container_init", "bucket"],
                            env={"PATH": "/usr/bin:/bin"}, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "GOVAULT_S3_ENDPOINT is required" in result.stderr


def test_the_stack_bucket_is_private(stack: Stack) -> None:
    assert anonymous_status(stack.s3_endpoint, stack.s3_bucket) in (401, 403)
