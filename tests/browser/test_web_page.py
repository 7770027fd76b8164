"""The web page in a real browser against the real stack: two people sign up; one uploads a small
file (proxy) and a 30 MiB file (multipart, parts in parallel straight to the store), reloads the
page in the middle of the large upload and resumes it by picking the file again; both files are
listed, download byte-exact, get renamed, shared (the other person sees it under "Shared with
me"), made public (the anonymous page downloads it) and deleted. Any console error, uncaught
exception, failed request or unexpected HTTP error fails the test. Screenshots of every screen,
desktop and phone-sized, land in tests/browser/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.browser import DESKTOP, PHONE, PageWatch, Screenshot, sign_in, wait_until

pytestmark = pytest.mark.e2e

PASSWORD = "Test@1234"
MIB = 1024 * 1024
PART_URL = re.compile(r"[?&]partNumber=(\d+)")
TIMEOUT_MS = 60_000


def sign_up(page: Page, username: str, email: str) -> None:
    page.get_by_role("tab", name="Create account").click()
    page.get_by_label("Username").fill(username)
    page.locator("#sign-up-email").fill(email)
    page.locator("#sign-up-password").fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.locator("#whoami")).to_contain_text(email)


def upload_item(page: Page, name: str) -> Any:
    return page.locator("#uploads li").filter(has_text=name).first


def row(page: Page, name: str) -> Any:
    return page.locator("#file-rows tr").filter(
        has=page.locator("th.name span", has_text=re.compile(f"^{re.escape(name)}$")))


def download_bytes(page: Page, button: str) -> bytes:
    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_bytes()


def test_web_page_end_to_end(stack: Any, browser: Browser, page_watch: PageWatch,
                             screenshot: Screenshot, tmp_path: Path) -> None:
    base = str(stack.edge_url)
    tag = uuid.uuid4().hex[:8]
    alice = (f"alice_{tag}", f"alice-{tag}@example.com")
    bob = (f"bob_{tag}", f"bob-{tag}@example.com")
    small = tmp_path / "small notes.txt"
    small.write_bytes(os.urandom(300 * 1024))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(30 * MIB))
    # A download turns the navigation to the presigned URL into a file: Chromium reports that
    # navigation as aborted, which is what a download is.
    downloads = rf"request failed: GET {re.escape(stack.s3_endpoint)}/.*ERR_ABORTED"

    desk_a = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    desk_b = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = page_watch.watch(desk_a.new_page(), "alice")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" during an upload
    bob_page = page_watch.watch(desk_b.new_page(), "bob")

    # -- sign-in screen; a wrong password shows the server's message and request id in place
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Sign in to GoVault")).to_be_visible()
    screenshot(page, "sign-in")
    with page_watch.expecting(r"/auth/login", r"status of 40[01]"):
        sign_in(page, f"nobody-{tag}@example.com", "wrong-password")
        expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#notice-request")).to_contain_text(re.compile(r"Request id: \S{8,}"))
    expect(page.locator("#sign-in-email")).to_have_value(f"nobody-{tag}@example.com")
    screenshot(page, "wrong-password")

    # -- two people sign up
    sign_up(page, *alice)
    bob_page.goto(base + "/")
    sign_up(bob_page, *bob)
    expect(page.locator("#empty")).to_be_visible()
    screenshot(page, "signed-in-empty")

    # -- a small file through the edge (proxy)
    page.locator("#file-input").set_input_files(str(small))
    expect(upload_item(page, small.name)).to_have_attribute("data-state", "completed",
                                                             timeout=TIMEOUT_MS)
    expect(upload_item(page, small.name)).to_have_attribute("data-method", "proxy")
    expect(row(page, small.name)).to_be_visible()

    # -- the large one straight to the store; parts past the first two are held (not sent), so
    # the page is reloaded with the upload visibly under way
    held: list[Route] = []

    def hold_parts(route: Route) -> None:
        match = PART_URL.search(route.request.url)
        if route.request.method == "PUT" and match and int(match.group(1)) > 2:
            held.append(route)
        else:
            route.continue_()

    page.route(PART_URL, hold_parts)
    # no part is registered on its own: completion lists them all
    registrations: list[str] = []
    completions: list[Any] = []
    page.context.on("request", lambda r: registrations.append(r.url)
                    if r.url.endswith("/api/upload/multipart/part") else None)
    page.context.on("request", lambda r: completions.append(r.post_data_json)
                    if r.url.endswith("/api/upload/multipart/complete") else None)
    page.locator("#file-input").set_input_files(str(big))
    item = upload_item(page, big.name)
    expect(item).to_have_attribute("data-method", "multipart")
    # a stored part's ETag is remembered in the browser (completion lists them all)
    remembered = ("() => Object.values(JSON.parse(localStorage.getItem('govault.uploads') "
                  "|| '{}')).flat().reduce((n, u) => n + Object.keys(u.etags || {}).length, 0)")
    wait_until(page, lambda: len(held) == 4 and page.evaluate(remembered) == 2,
               "parts 1-2 stored and remembered, parts 3-6 in flight")
    # four parts were in flight at once: parallel parts
    expect(item.locator(".detail")).to_contain_text("of 30.0 MiB")
    progress = float(item.locator("progress").get_attribute("value") or 0)
    assert 0 < progress < 30 * MIB
    screenshot(page, "upload-in-progress")

    sent_after_reload: list[int] = []
    with page_watch.expecting(rf"request failed: PUT {re.escape(stack.s3_endpoint)}/"):
        # the parts stay held until the old page is gone: one let go before the reload could be
        # stored and remembered first (seen on a busy machine: "resumed from 15.0 MiB")
        page.reload()
        expect(page.locator("#interrupted")).to_contain_text(big.name)
        page.unroute(PART_URL)
    screenshot(page, "interrupted-upload")
    page.on("request", lambda r: sent_after_reload.append(int(m.group(1)))
            if r.method == "PUT" and (m := PART_URL.search(r.url)) else None)
    page.locator("#file-input").set_input_files(str(big))
    item = upload_item(page, big.name)
    expect(item).to_have_attribute("data-state", "completed", timeout=TIMEOUT_MS)
    expect(item.locator(".detail")).to_contain_text("resumed from 10.0 MiB")
    assert sorted(sent_after_reload) == [3, 4, 5, 6]  # only what had not arrived
    assert registrations == []
    assert [[p["part_number"] for p in c["parts"]] for c in completions] == [[1, 2, 3, 4, 5, 6]]
    expect(page.locator("#interrupted")).to_be_hidden()

    # -- both listed, newest first, with size and type
    expect(page.locator("#file-rows tr")).to_have_count(2)
    expect(page.locator("#file-rows tr").first).to_contain_text(big.name)
    expect(row(page, big.name)).to_contain_text("30.0 MiB")
    expect(row(page, small.name)).to_contain_text("300.0 KiB")
    screenshot(page, "files-listed")

    # -- byte-exact downloads
    with page_watch.expecting(downloads):
        assert download_bytes(page, f"Download: {big.name}") == big.read_bytes()
        assert download_bytes(page, f"Download: {small.name}") == small.read_bytes()

    # -- rename
    page.get_by_role("button", name=f"Rename: {small.name}").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.get_by_label("New name").fill("renamed notes.txt")
    screenshot(page, "rename-dialog")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(row(page, "renamed notes.txt")).to_be_visible()
    expect(row(page, small.name)).to_have_count(0)

    # -- share with bob, who sees it under "Shared with me"
    page.get_by_role("button", name=f"Share: {big.name}").click()
    page.get_by_label("Share with (email)").fill(bob[1])
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.locator(".shares")).to_contain_text(bob[1])
    screenshot(page, "share-dialog")
    page.get_by_role("button", name="Done").click()
    bob_page.get_by_role("tab", name="Shared with me").click()
    expect(row(bob_page, big.name)).to_be_visible()
    expect(row(bob_page, big.name)).to_contain_text("30.0 MiB")
    screenshot(bob_page, "shared-with-me")

    # -- public: the anonymous page shows the file and downloads it
    page.get_by_role("button", name=f"Make public: {big.name}").click()
    link = page.locator("#public-url").input_value()
    assert re.fullmatch(re.escape(base) + r"/p/[0-9a-f-]{36}", link)
    screenshot(page, "public-link")
    page.get_by_role("button", name="Close").click()
    expect(row(page, big.name).locator(".badge")).to_have_text("public")
    anonymous = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    public_page = page_watch.watch(anonymous.new_page(), "anonymous")
    public_page.goto(link)
    expect(public_page.locator("#public-name")).to_have_text(big.name)
    expect(public_page.locator("#public-size")).to_have_text("30.0 MiB")
    screenshot(public_page, "public-page")
    with page_watch.expecting(downloads):
        assert download_bytes(public_page, "Download") == big.read_bytes()

    # -- cancel: a large upload whose parts are all held is cancelled, and its session aborted
    stalled = tmp_path / "cancel me.bin"
    stalled.write_bytes(os.urandom(12 * MIB))
    held.clear()
    page.route(PART_URL, lambda route: held.append(route) if route.request.method == "PUT"
               else route.continue_())
    page.locator("#file-input").set_input_files(str(stalled))
    wait_until(page, lambda: len(held) > 0, "a part of the upload to cancel in flight")
    with page_watch.expecting(rf"request failed: PUT {re.escape(stack.s3_endpoint)}/"), \
            page.expect_response(lambda r: r.url.endswith("/api/upload/abort")) as aborted:
        page.get_by_role("button", name=f"Cancel the upload of {stalled.name}").click()
        expect(upload_item(page, stalled.name)).to_have_attribute("data-state", "cancelled")
    assert aborted.value.status == 204
    page.unroute(PART_URL)
    expect(page.locator("#interrupted")).to_be_hidden()
    expect(row(page, stalled.name)).to_have_count(0)

    # -- delete (with confirmation)
    page.get_by_role("button", name="Delete: renamed notes.txt").click()
    expect(page.get_by_role("dialog")).to_contain_text("will be deleted")
    screenshot(page, "delete-confirmation")
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(row(page, "renamed notes.txt")).to_have_count(0)
    expect(page.locator("#file-rows tr")).to_have_count(1)
    screenshot(page, "after-delete")

    # -- shortcuts: add one, find it under Shortcuts, remove it there
    page.get_by_role("button", name=f"Add shortcut: {big.name}").click()
    expect(page.locator("#notice")).to_contain_text("is in your shortcuts")
    page.get_by_role("tab", name="Shortcuts").click()
    expect(row(page, big.name)).to_be_visible()
    screenshot(page, "shortcuts")
    page.get_by_role("button", name=f"Remove shortcut: {big.name}").click()
    expect(page.locator("#empty")).to_be_visible()
    page.get_by_role("tab", name="My files").click()
    expect(row(page, big.name)).to_be_visible()

    # -- an access token about to expire is refreshed before the next call
    before = page.evaluate("JSON.parse(localStorage.getItem('govault.session'))")
    page.evaluate("""() => {
        const session = JSON.parse(localStorage.getItem('govault.session'));
        session.expires_at = Date.now() / 1000 + 2;
        localStorage.setItem('govault.session', JSON.stringify(session));
    }""")
    with page.expect_response(lambda r: r.url.endswith("/auth/refresh")) as refreshed:
        page.reload()
    assert refreshed.value.status == 200
    expect(row(page, big.name)).to_be_visible()
    after = page.evaluate("JSON.parse(localStorage.getItem('govault.session'))")
    assert after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] > before["expires_at"] - 60

    # -- a file dropped on the drop zone uploads like a picked one
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped, not picked"], "dropped.txt", { type: "text/plain" }));
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
    }""")
    expect(upload_item(page, "dropped.txt")).to_have_attribute("data-state", "completed")
    expect(row(page, "dropped.txt")).to_contain_text("19 B")

    # -- phone-sized, by keyboard: sign in, switch lists with the arrow keys; the share dialog
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[arg-type]
    phone_page = page_watch.watch(phone.new_page(), "phone")
    phone_page.goto(base + "/")
    expect(phone_page.locator("#sign-in-email")).to_be_focused()
    screenshot(phone_page, "phone-sign-in")
    phone_page.keyboard.type(alice[1])
    phone_page.keyboard.press("Tab")
    phone_page.keyboard.type(PASSWORD)
    phone_page.keyboard.press("Enter")
    expect(row(phone_page, big.name)).to_be_visible()
    phone_page.get_by_role("tab", name="My files").focus()
    phone_page.keyboard.press("ArrowRight")
    expect(phone_page.get_by_role("tab", name="Shared with me")).to_be_focused()
    expect(phone_page.get_by_role("tab", name="Shared with me")).to_have_attribute(
        "aria-selected", "true")
    expect(phone_page.locator("#empty")).to_be_visible()
    phone_page.keyboard.press("ArrowLeft")
    expect(row(phone_page, big.name)).to_be_visible()
    screenshot(phone_page, "phone-files")
    phone_page.get_by_role("button", name=f"Share: {big.name}").click()
    expect(phone_page.locator(".shares")).to_contain_text(bob[1])
    screenshot(phone_page, "phone-share-dialog")
    phone_page.get_by_role("button", name="Done").click()

    # -- copy: a second file of the same name and size appears in My files
    page.get_by_role("button", name=f"Copy: {big.name}").first.click()
    expect(row(page, big.name)).to_have_count(2)
    expect(page.locator("#notice")).to_contain_text(f"A copy of “{big.name}”")

    # -- sign out
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to GoVault")).to_be_visible()

    for context in (desk_a, desk_b, anonymous, phone):
        context.close()
    page_watch.assert_clean()
