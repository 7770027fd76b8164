"""compose.cors: which browser origins the local stack allows by default and how
GOVAULT_CORS_ORIGINS changes that; the store also admits the edge's own page."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose import Stack, cors
from compose.local import _print_ready


def test_make_up_allows_the_usual_dev_origins_by_default() -> None:
    assert cors.api_origins({}) == (
        "http://localhost:3000", "http://127.0.0.1:3000",
        "http://localhost:5173", "http://127.0.0.1:5173",
        "http://localhost:5500", "http://127.0.0.1:5500",
    )


def test_the_variable_replaces_the_list() -> None:
    env = {"GOVAULT_CORS_ORIGINS": " https://app.example.com , http://localhost:4200 ,"}
    assert cors.api_origins(env) == ("https://app.example.com", "http://localhost:4200")
    assert cors.api_origins({"GOVAULT_CORS_ORIGINS": "none"}) == ()
    assert cors.api_origins({"GOVAULT_CORS_ORIGINS": ""}) == ()


def test_the_store_also_admits_the_edge_page_under_both_loopback_names() -> None:
    origins = cors.store_origins(("http://localhost:3000",), "http://127.0.0.1:9000")
    assert origins == ("http://localhost:3000", "http://localhost:9000", "http://127.0.0.1:9000")
    assert cors.store_origins((), "http://files.example:9000") == ("http://files.example:9000",)


def test_the_start_up_summary_names_the_allowed_origins(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = Stack(tmp_path, 0, environ={})
    _print_ready(stack, "up", prometheus=False)
    out = capsys.readouterr().out
    assert "CORS:       http://localhost:3000, http://127.0.0.1:3000" in out
    assert "GOVAULT_CORS_ORIGINS" in out
