"""The page's storage line: usage and quota under the Upload heading, updated after an upload,
a copy and a delete; an upload or a copy over the quota fails with the server's message (how
much is free) and nothing is added. The quota is set the operator's way (`python -m svc_files quota
set`) on the session's stack."""

from __future__ import annotations

import json
import os
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import DESKTOP, PageWatch, Screenshot, sign_in
from tests.support.quotas import set_quota

pytestmark = pytest.mark.e2e

PASSWORD = "Test@1234"
KIB = 1024
TIMEOUT_MS = 60_000


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def test_usage_line_follows_uploads_copies_and_deletes(
        stack: Any, browser: Browser, page_watch: PageWatch, screenshot: Screenshot,
        tmp_path: Path) -> None:
    base = str(stack.edge_url)
    tag = uuid.uuid4().hex[:8]
    email = f"usage-{tag}@example.com"
    post(f"{base}/auth/signup", {"username": f"usage_{tag}", "email": email,
                                 "password": PASSWORD})
    set_quota(stack, email, "1MiB")
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(os.urandom(400 * KIB))
    second.write_bytes(os.urandom(700 * KIB))

    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = page_watch.watch(context.new_page(), "usage")
    page.goto(base + "/")
    sign_in(page, email, PASSWORD)
    usage = page.locator("#usage-text")
    expect(usage).to_have_text("0 B of 1.0 MiB used · 0 files · 1.0 MiB free")

    page.locator("#file-input").set_input_files(str(first))
    expect(usage).to_have_text("400.0 KiB of 1.0 MiB used · 1 file · 624.0 KiB free",
                               timeout=TIMEOUT_MS)
    meter = float(page.locator("#usage-meter").get_attribute("value") or 0)
    assert abs(meter - 400 / 1024) < 0.01
    screenshot(page, "usage-after-upload")

    with page_watch.expecting(r"HTTP 413: POST .*/api/upload/proxy/session", r"status of 413"):
        page.locator("#file-input").set_input_files(str(second))
        item = page.locator("#uploads li").filter(has_text=second.name).first
        expect(item).to_have_attribute("data-state", "failed", timeout=TIMEOUT_MS)
    expect(page.locator("#notice-text")).to_contain_text(
        re.compile(r"storage quota exceeded: .* 624\.0 KiB \(638976 bytes\) free"))
    expect(usage).to_contain_text("1 file")
    screenshot(page, "upload-over-quota")

    rows = page.locator("#file-rows tr").filter(has_text=first.name)
    rows.first.get_by_role("button", name=re.compile("^Copy")).click()  # 800 KiB: fits
    expect(usage).to_have_text("800.0 KiB of 1.0 MiB used · 2 files · 224.0 KiB free")
    expect(rows).to_have_count(2)
    with page_watch.expecting(r"HTTP 413: POST .*/copy", r"status of 413"):
        rows.first.get_by_role("button", name=re.compile("^Copy")).click()  # 1200 KiB: no
        expect(page.locator("#notice-text")).to_contain_text(
            "storage quota exceeded: 400.0 KiB (409600 bytes) requested, 224.0 KiB")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("button", name=re.compile("^Delete")).click()
    page.locator("#dialog-ok").click()
    expect(usage).to_have_text("400.0 KiB of 1.0 MiB used · 1 file · 624.0 KiB free")
    page_watch.assert_clean()
    context.close()
