"""A missing prerequisite stops `make k8s-test` at once with what is missing and what to do,
instead of a cluster that hangs halfway (issue 25). No cluster is started here: the checks run
before anything touches the host.

- scripts/ensure-k8s with an empty cache and no Go toolchain on the PATH names the tool;
- the cluster's preflight (tests/k8s/cluster.py) lists every missing binary with the script
  that builds it, and too little free disk with the figure needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ensure_k8s_without_go_says_so(tmp_path: Path) -> None:
    # apt's tools stay reachable (the packages are installed); go is not on this PATH
    path = ":".join(p for p in os.environ["PATH"].split(":")
                    if not (Path(p) / "go").exists())
    result = subprocess.run([str(ROOT / "scripts" / "ensure-k8s")], capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "PATH": path,
                                 "GOVAULT_K8S_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1, result
    assert "go is needed to build Kubernetes" in result.stderr, result.stderr
    assert not (tmp_path / "cache" / "v1.37.2" / "bin").exists()


def test_preflight_lists_what_is_missing(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from tests.k8s import cluster
        cluster.MIN_FREE_GB = 10 ** 6  # more than any disk has
        try:
            cluster.preflight(Path({str(tmp_path / "bin")!r}))
        except cluster.ClusterError as exc:
            print(exc)
        else:
            print("no problem found")
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=True, cwd=ROOT)
    message = result.stdout
    assert message.startswith("the test cluster cannot start:"), message
    for binary in ("kube-apiserver", "kubelet", "kube-proxy", "kubectl", "coredns", "pause"):
        assert f"{tmp_path / 'bin' / binary} missing (scripts/ensure-k8s builds it)" in message
    assert "the cluster needs 1000000 GB" in message, message
