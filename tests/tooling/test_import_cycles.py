"""No import circles: within the product packages, module A importing B (directly or through
others) never has B importing A, counting imports made only for type checking too (a circle
hidden behind `TYPE_CHECKING` is still two modules that cannot be read apart)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "edge", "svc_auth", "svc_upload", "svc_files", "client", "cli", "compose")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _graph() -> dict[str, set[str]]:
    """Each module and the product modules it imports."""
    files = {_module(path): path for package in PACKAGES
             for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                # a module's own packages are loaded before it anyway: not an arrow
                if target in files and not f"{module}.".startswith(f"{target}."):
                    graph[module].add(target)
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    try:
        TopologicalSorter(_graph()).prepare()
    except CycleError as exc:
        raise AssertionError(f"an import circle: {' -> '.join(exc.args[1])}") from None
