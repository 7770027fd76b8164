"""Browser helpers for tests/browser: Chromium's path, viewports, a watcher of what goes wrong in
pages, and polling that lets Playwright dispatch events meanwhile."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
Screenshot = Callable[[Page, str], Path]  # the `screenshot` fixture: page, name → PNG path


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not found: `apt-get install chromium` (scripts/ensure-system-deps "
                    "installs it)", pytrace=False)
    return found


@dataclass
class PageWatch:
    """What went wrong in the pages it watches; `expecting(...)` excuses what a step provokes."""

    problems: list[str] = field(default_factory=list)
    excused: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page, label: str) -> Page:
        page.on("console", lambda m: self._console(label, m))
        page.on("pageerror", lambda e: self._report(f"{label}: uncaught {e}"))
        page.on("requestfailed", lambda r: self._failed(label, r))
        page.on("response", lambda r: self._response(label, r))
        return page

    @contextmanager
    def expecting(self, *patterns: str) -> Iterator[None]:
        """Problems matching one of `patterns` (regular expressions) are expected meanwhile."""
        compiled = [re.compile(p) for p in patterns]
        self.excused.extend(compiled)
        try:
            yield
        finally:
            for pattern in compiled:
                self.excused.remove(pattern)

    def assert_clean(self) -> None:
        assert not self.problems, "problems in the browser:\n" + "\n".join(self.problems)

    def _report(self, problem: str) -> None:
        if not any(p.search(problem) for p in self.excused):
            self.problems.append(problem)

    def _console(self, label: str, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            self._report(f"{label}: console {message.type}: {message.text}")

    def _failed(self, label: str, request: Request) -> None:
        self._report(f"{label}: request failed: {request.method} {request.url} "
                     f"({request.failure})")

    def _response(self, label: str, response: Response) -> None:
        if response.status >= 400:
            self._report(f"{label}: HTTP {response.status}: {response.request.method} "
                         f"{response.url}")


def wait_until(page: Page, condition: Callable[[], bool], what: str,
               timeout_s: float = 60.0) -> None:
    """Polls `condition` while the page runs (Playwright dispatches its events meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def sign_in(page: Page, email: str, password: str) -> None:
    """Fills and submits the page's sign-in form."""
    page.locator("#sign-in-email").fill(email)
    page.locator("#sign-in-password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
