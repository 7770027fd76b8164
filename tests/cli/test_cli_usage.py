"""Storage usage from the command line: `govault usage`, the usage line of `govault whoami`, and
an upload over the quota refused with the server's message (what is free) and exit status 1.
The quota is set the operator's way (`python -m svc_files quota set`) on the session's stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from compose import Stack
from tests.cli.helpers import MIB, Cli, random_file
from tests.support.quotas import set_quota

pytestmark = pytest.mark.e2e


def test_usage_whoami_and_an_upload_over_quota(stack: Stack, signed_up: Callable[[], Cli],
                                               tmp_path: Path) -> None:
    cli = signed_up()
    assert cli.run("put", str(random_file(tmp_path / "one", MIB))).code == 0
    shown = cli.run("usage", "--json")
    assert shown.code == 0, shown
    assert shown.json_lines() == [{"used_bytes": MIB, "reserved_bytes": 0,
                                   "quota_bytes": 10 * 1024 * MIB, "files": 1,
                                   "free_bytes": 10 * 1024 * MIB - MIB}]
    assert cli.run("usage").stdout.startswith("1.0 MiB of 10.0 GiB used (0%), 1 file;")

    set_quota(stack, cli.email, "2MiB")
    whoami = cli.run("whoami")
    assert whoami.code == 0, whoami
    assert whoami.stdout.splitlines()[1] == (
        "storage: 1.0 MiB of 2.0 MiB used (50%), 1 file; 0 B reserved by open uploads; "
        "1.0 MiB free")
    assert json.loads(cli.run("whoami", "--json").stdout)["usage"]["quota_bytes"] == 2 * MIB

    refused = cli.run("put", str(random_file(tmp_path / "two", 2 * MIB)))
    assert refused.code == 1, refused
    assert "storage quota exceeded" in refused.stderr and "1.0 MiB (1048576 bytes) free" in (
        refused.stderr)
    assert cli.run("usage", "--json").json_lines()[0]["files"] == 1

    set_quota(stack, cli.email, "unlimited")
    assert "used (no quota)" in cli.run("usage").stdout
