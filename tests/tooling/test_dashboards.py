"""Grafana dashboards: every PromQL expression names only metrics (and labels) that
docs/operations.md documents, every panel has the provisioned datasource, and provisioning
points at the folder.

The metric catalog is read from docs/operations.md's metrics table, the contract the code exports;
`tests/e2e/test_ops_metrics.py` checks the running processes really export these names.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
DASHBOARDS = COMPOSE / "grafana" / "dashboards"
PROVISIONING = COMPOSE / "grafana" / "provisioning"
METRICS_PAGE = ROOT / "docs" / "operations.md"
DATASOURCE_UID = "prometheus"

# `process_*` in docs/operations.md: the prometheus-client defaults the dashboards use.
PROCESS_METRICS: dict[str, set[str]] = {
    "process_cpu_seconds_total": set(), "process_resident_memory_bytes": set()}
# Labels Prometheus itself adds, or that histograms carry.
IMPLICIT_LABELS = {"job", "instance", "le", "__name__"}

PROMQL_WORDS = {
    # aggregations, functions and keywords that look like identifiers
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan", "rate", "irate", "increase", "delta",
    "idelta", "deriv", "histogram_quantile", "label_values", "abs", "clamp_min", "clamp_max",
    "vector", "scalar", "time", "sort", "sort_desc", "avg_over_time", "max_over_time",
    "min_over_time", "sum_over_time", "last_over_time", "absent", "round", "ceil", "floor",
}


def documented_metrics() -> dict[str, dict[str, Any]]:
    """name -> {"histogram": bool, "labels": set} from docs/operations.md's metrics table."""
    text = METRICS_PAGE.read_text()
    section = text.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    metrics: dict[str, dict[str, Any]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        names = re.findall(r"`([a-z0-9_:*]+)`", cells[0])
        labels = _label_names(cells[1]) if len(cells) > 1 else set()
        for name in names:
            if name == "process_*":
                for process_name, process_labels in PROCESS_METRICS.items():
                    metrics[process_name] = {"histogram": False, "labels": process_labels}
                continue
            metrics[name] = {"histogram": "(histogram)" in cells[0], "labels": labels}
    return metrics


def _label_names(cell: str) -> set[str]:
    """`service, state (`size`,`available`,`max`)` -> {"service", "state"}; `—` -> set()."""
    bare = re.sub(r"\([^)]*\)", "", cell)
    return {part.strip() for part in bare.split(",") if re.fullmatch(r"[a-z_]+", part.strip())}


def dashboards() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, json.loads(path.read_text())) for path in sorted(DASHBOARDS.glob("*.json"))]


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def expressions(board: dict[str, Any]) -> Iterator[str]:
    for panel in walk_panels(board["panels"]):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield target["expr"]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            yield query


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w$.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names used by a PromQL expression (functions, labels, variables, numbers removed)."""
    text = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"\blabel_values\s*\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r"(\1)", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in PROMQL_WORDS}


def label_names(expr: str) -> set[str]:
    """Label names in matchers, grouping clauses and label_values()."""
    text = _STRING.sub('""', expr)
    names: set[str] = set()
    for group in _GROUPING.findall(text):
        names |= {part.strip() for part in group.split(",") if part.strip()}
    for matchers in _MATCHERS.findall(text):
        names |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    names |= set(re.findall(r"label_values\s*\([^,]*,\s*(\w+)\s*\)", text))
    return names


def base_metric(name: str, catalog: dict[str, dict[str, Any]]) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name and catalog.get(base, {}).get("histogram"):
            return base
    return name


def used_metrics() -> dict[str, set[str]]:
    """Every metric name the dashboards use (histogram suffixes folded) -> dashboards using it."""
    catalog = documented_metrics()
    used: dict[str, set[str]] = {}
    for path, board in dashboards():
        for expr in expressions(board):
            for name in metric_names(expr):
                used.setdefault(base_metric(name, catalog), set()).add(path.name)
    return used


# ----------------------------------------------------------------------------- the extractor
@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (route) (rate(govault_http_requests_total{status=~"5..", route="/a/{id}"}[5m]))',
         {"govault_http_requests_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[$__rate_interval])))",
         {"x_seconds_bucket"}),
        ("(a - ignoring(state) b) / on(service) group_left c_total", {"a", "b", "c_total"}),
        ("label_values(govault_http_requests_total, route)", {"govault_http_requests_total"}),
        ('rate(process_cpu_seconds_total{job=~"edge|auth"}[1m]) * 100',
         {"process_cpu_seconds_total"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_catalog_reads_the_operations_page() -> None:
    catalog = documented_metrics()
    assert catalog["govault_http_request_duration_seconds"]["histogram"]
    assert not catalog["govault_http_requests_total"]["histogram"]
    assert catalog["govault_http_requests_total"]["labels"] == {"route", "method", "status"}
    assert catalog["govault_db_pool_connections"]["labels"] == {"service", "state"}
    assert catalog["govault_upload_sessions_total"]["labels"] == {"method", "outcome"}
    assert "govault_audit_missing_objects" in catalog
    assert catalog["govault_s3_request_duration_seconds"]["histogram"]
    assert "process_resident_memory_bytes" in catalog
    assert len(catalog) >= 20


# ----------------------------------------------------------------------------- the dashboards
def test_three_dashboards_with_unique_uids_and_titles() -> None:
    boards = dashboards()
    uids = {board["uid"] for _, board in boards}
    assert {"govault-overview", "govault-uploads", "govault-services"} <= uids
    assert len(uids) == len(boards)
    assert len({board["title"] for _, board in boards}) == len(boards)
    for path, board in boards:
        assert path.stem == board["uid"]
        assert board["title"].strip() and board["panels"]
        assert "id" not in board or board["id"] is None  # provisioning assigns ids


def test_every_expression_uses_only_documented_metrics() -> None:
    catalog = documented_metrics()
    unknown = {name: files for name, files in used_metrics().items() if name not in catalog}
    assert not unknown, f"metrics not in docs/operations.md: {unknown}"


def test_every_label_is_documented_for_the_metrics_in_use() -> None:
    catalog = documented_metrics()
    allowed = set(IMPLICIT_LABELS)
    for name in used_metrics():
        allowed |= catalog[name]["labels"]
    for path, board in dashboards():
        for expr in expressions(board):
            extra = label_names(expr) - allowed
            assert not extra, f"{path.name}: undocumented labels {extra} in {expr}"


def test_dashboards_cover_the_issue() -> None:
    used = used_metrics()
    by_board = {board: {m for m, files in used.items() if f"{board}.json" in files}
                for board in ("govault-overview", "govault-uploads", "govault-services")}
    assert {"govault_http_requests_total", "govault_http_request_duration_seconds",
            "govault_edge_rate_limited_total"} <= by_board["govault-overview"]
    assert {"govault_upload_sessions_total", "govault_upload_bytes_received_total",
            "govault_s3_request_duration_seconds", "govault_audit_orphan_objects",
            "govault_audit_missing_objects"} <= by_board["govault-uploads"]
    assert {"govault_grpc_server_handled_total", "govault_grpc_server_handling_seconds",
            "govault_db_pool_connections", "govault_db_pool_requests_waiting",
            "process_cpu_seconds_total", "process_resident_memory_bytes"} <= by_board[
                "govault-services"]
    overview = "\n".join(expressions(_board("govault-overview")))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}," in overview


def _board(uid: str) -> dict[str, Any]:
    return next(board for _, board in dashboards() if board["uid"] == uid)


def test_every_panel_has_the_datasource_and_a_unique_id() -> None:
    for path, board in dashboards():
        ids = []
        for panel in walk_panels(board["panels"]):
            ids.append(panel["id"])
            assert panel.get("title"), f"{path.name}: panel {panel['id']} has no title"
            assert "gridPos" in panel
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == DATASOURCE_UID, (path.name, panel["title"])
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID
                assert target["expr"].strip()
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"


def test_no_raw_ids_or_unbounded_labels_in_legends() -> None:
    """Legends only use bounded labels (no user_id, path, upload id...)."""
    for path, board in dashboards():
        for panel in walk_panels(board["panels"]):
            for target in panel.get("targets", []):
                for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")):
                    assert label in {"route", "method", "status", "group", "upstream", "service",
                                     "code", "state", "outcome", "operation", "job", "instance"}, \
                        (path.name, label)


def test_provisioning_points_at_the_dashboards_folder() -> None:
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    mounts = {volume.split(":")[0]: volume.split(":")[1]
              for volume in compose["services"]["grafana"]["volumes"]}
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "govault.yml").read_text())
    paths = [provider["options"]["path"] for provider in providers["providers"]]
    assert paths == [mounts["./grafana/dashboards"]]
    assert mounts["./grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    assert mounts["./grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    grafana_env = compose["services"]["grafana"]["environment"]
    home = grafana_env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARDS / Path(home).name).is_file()
    assert home.startswith(mounts["./grafana/dashboards"])


def test_every_expression_parses_with_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules = []
    for path, board in dashboards():
        for i, expr in enumerate(expressions(board)):
            if expr.startswith("label_values("):
                continue
            concrete = (expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
                        .replace("$route", ".*").replace("$service", ".*"))
            rules.append({"record": f"check:{path.stem.replace('-', '_')}:{i}", "expr": concrete})
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
