"""Browser fixtures: Debian's Chromium driven by Playwright (the Playwright browser download
cannot work here, so the system binary is launched by path), a watcher that fails a test on any
console error, uncaught exception, failed request or unexpected HTTP error
(tests.support.browser.PageWatch), and screenshots saved under tests/browser/artifacts/<test>/
(git-ignored) for a person to look at.

Never skipped: without Chromium the tests fail and say how to install it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import PageWatch, Screenshot, chromium_path

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Every `expect(...)` waits for its state up to this long (Playwright's default is 5 s): a sign
# in hashes a password on a niced thread, which a busy machine may run late.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root, where Chromium refuses its sandbox.
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page_watch() -> PageWatch:
    """Attach pages with `watch(page, label)`; the test ends with `assert_clean()`."""
    return PageWatch()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """`screenshot(page, "sign-in")` → artifacts/<test>/01-sign-in.png (whole page)."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    count = 0

    def take(page: Page, name: str) -> Path:
        nonlocal count
        count += 1
        path = folder / f"{count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
