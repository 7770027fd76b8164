"""The page's lists beyond one page: 21 files (made over the API) show as 20 newest first, then
one more on the next page; Previous and Next are enabled only where there is somewhere to go."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import DESKTOP, PageWatch, Screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "Test@1234"


def call(url: str, body: Any, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    content_type = "application/octet-stream" if raw is not None else "application/json"
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def test_pages_of_files(stack: Any, browser: Browser, page_watch: PageWatch,
                        screenshot: Screenshot) -> None:
    base = str(stack.edge_url)
    tag = uuid.uuid4().hex[:8]
    email = f"pager-{tag}@example.com"
    call(f"{base}/auth/signup", {"username": f"pager_{tag}", "email": email, "password": PASSWORD})
    token = call(f"{base}/auth/login", {"email": email, "password": PASSWORD})["token"]
    auth = {"Authorization": f"Bearer {token}"}
    for n in range(1, 22):
        data = f"file number {n}".encode()
        session = call(f"{base}/api/upload/proxy/session",
                       {"file_name": f"file-{n:02d}.txt", "file_size_bytes": len(data)}, auth)
        call(f"{base}/api/upload/proxy/chunk?id=0", None,
             {**auth, "Upload-UUID": session["upload_uuid"]}, raw=data)

    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = page_watch.watch(context.new_page(), "pager")
    page.goto(base + "/")
    sign_in(page, email, PASSWORD)
    rows = page.locator("#file-rows tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("file-21.txt")
    expect(rows.last).to_contain_text("file-02.txt")
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    screenshot(page, "page-1")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#page-label")).to_have_text("Page 2")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("file-01.txt")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    screenshot(page, "page-2")
    page.get_by_role("button", name="Previous").click()
    expect(rows).to_have_count(20)
    context.close()
    page_watch.assert_clean()
