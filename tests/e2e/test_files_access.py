"""Every files route against every role (owner, editor, viewer, stranger, anonymous), over HTTP
through the whole stack: the exact status, and — when the answer is 4xx — that nothing changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.support.files import upload_file
from tests.support.users import User, new_user

pytestmark = pytest.mark.e2e

ROLES = ("owner", "editor", "viewer", "stranger", "anon")
CHALLENGE = 'Bearer realm="govault"'


@dataclass(frozen=True)
class People:
    owner: User
    editor: User
    viewer: User
    stranger: User
    extra: User  # a recipient for share calls

    def auth(self, role: str) -> dict[str, str]:
        return {} if role == "anon" else getattr(self, role).auth


@pytest.fixture(scope="module")
async def people(edge_url: str) -> People:
    async with aiohttp.ClientSession() as session:
        return People(*[await new_user(session, edge_url, role[:3])
                        for role in ("owner", "editor", "viewer", "stranger", "extra")])


async def shared_file(http: aiohttp.ClientSession, edge_url: str, people: People,
                      public: bool = False) -> str:
    file_id = await upload_file(http, edge_url, people.owner, b"matrix bytes", "matrix.txt")
    recipients = [{"email": people.editor.email, "permission": "editor"},
                  {"email": people.viewer.email, "permission": "viewer"}]
    async with http.post(f"{edge_url}/api/files/f/{file_id}/shares", headers=people.owner.auth,
                         json={"recipients": recipients}) as r:
        assert r.status == 201, await r.text()
    if public:
        async with http.post(f"{edge_url}/api/files/f/{file_id}/public",
                             headers=people.owner.auth) as r:
            assert r.status == 201, await r.text()
    return file_id


async def _json(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with http.get(url, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else None)


async def snapshot(http: aiohttp.ClientSession, edge_url: str, people: People,
                   file_id: str) -> Any:
    """Everything a route could have changed, as the owner and every user sees it."""
    state: list[Any] = [
        await _json(http, f"{edge_url}/api/files/f/{file_id}", people.owner.auth),
        await _json(http, f"{edge_url}/api/files/f/{file_id}/shares", people.owner.auth),
    ]
    for user in (people.owner, people.editor, people.viewer, people.stranger, people.extra):
        for listing in ("owned", "shared", "shortcuts"):
            status, body = await _json(http, f"{edge_url}/api/files/me/{listing}?limit=100",
                                       user.auth)
            state.append((status, sorted((f["file_id"], f["name"], f["is_public"])
                                         for f in body["files"])))
    return state


def route(people: People, file_id: str, name: str) -> tuple[str, str, dict[str, Any] | None]:
    f = f"/api/files/f/{file_id}"
    return {
        "get": ("GET", f, None),
        "download": ("GET", f"{f}/download", None),
        "rename": ("PATCH", f, {"name": "renamed.txt"}),
        "delete": ("DELETE", f, None),
        "copy": ("POST", f"{f}/copy", None),
        "share": ("POST", f"{f}/shares",
                  {"recipients": [{"email": people.extra.email, "permission": "viewer"}]}),
        "list_shares": ("GET", f"{f}/shares", None),
        "update_share": ("PATCH", f"{f}/shares/{people.viewer.user_id}",
                         {"permission": "editor"}),
        "remove_share": ("DELETE", f"{f}/shares/{people.viewer.user_id}", None),
        "make_public": ("POST", f"{f}/public", None),
        "make_private": ("DELETE", f"{f}/public", None),
        "add_shortcut": ("POST", f"{f}/shortcut", None),
        "remove_shortcut": ("DELETE", f"{f}/shortcut", None),
        "owned": ("GET", "/api/files/me/owned", None),
        "shared": ("GET", "/api/files/me/shared", None),
        "shortcuts": ("GET", "/api/files/me/shortcuts", None),
    }[name]


#                      owner editor viewer stranger anon
PRIVATE: dict[str, tuple[int, int, int, int, int]] = {
    "get":             (200, 200, 200, 404, 401),
    "download":        (200, 200, 200, 404, 401),
    "rename":          (204, 204, 403, 404, 401),
    "delete":          (204, 403, 403, 404, 401),
    "copy":            (201, 201, 201, 404, 401),
    "share":           (201, 403, 403, 404, 401),
    "list_shares":     (200, 403, 403, 404, 401),
    "update_share":    (204, 403, 403, 404, 401),
    "remove_share":    (204, 403, 403, 404, 401),
    "make_public":     (201, 403, 403, 404, 401),
    "make_private":    (204, 403, 403, 404, 401),
    "add_shortcut":    (201, 201, 201, 404, 401),
    "remove_shortcut": (204, 204, 204, 204, 401),
    "owned":           (200, 200, 200, 200, 401),
    "shared":          (200, 200, 200, 200, 401),
    "shortcuts":       (200, 200, 200, 200, 401),
}
# The same file made public: strangers and anonymous callers may read it (and users copy/star it).
PUBLIC: dict[str, tuple[int, int, int, int, int]] = {
    **PRIVATE,
    "get":             (200, 200, 200, 200, 200),
    "download":        (200, 200, 200, 200, 200),
    "rename":          (204, 204, 403, 403, 401),
    "delete":          (204, 403, 403, 403, 401),
    "copy":            (201, 201, 201, 201, 401),
    "share":           (201, 403, 403, 403, 401),
    "list_shares":     (200, 403, 403, 403, 401),
    "update_share":    (204, 403, 403, 403, 401),
    "remove_share":    (204, 403, 403, 403, 401),
    "make_public":     (201, 403, 403, 403, 401),
    "make_private":    (204, 403, 403, 403, 401),
    "add_shortcut":    (201, 201, 201, 201, 401),
}
CASES = [(table, name, role)
         for table in ("private", "public")
         for name in PRIVATE
         for role in ROLES]


@pytest.mark.parametrize(("table", "name", "role"), CASES)
async def test_route_by_role(http: aiohttp.ClientSession, edge_url: str, people: People,
                             table: str, name: str, role: str) -> None:
    file_id = await shared_file(http, edge_url, people, public=table == "public")
    expected = (PRIVATE if table == "private" else PUBLIC)[name][ROLES.index(role)]
    method, path, body = route(people, file_id, name)
    before = await snapshot(http, edge_url, people, file_id)
    async with http.request(method, f"{edge_url}{path}", headers=people.auth(role),
                            json=body) as r:
        text = await r.text()
        assert r.status == expected, f"{method} {path} as {role}: {r.status} {text}"
        if r.status >= 400:
            error = await r.json()
            assert set(error) >= {"error", "code", "request_id"}
            if r.status == 404:
                assert error["code"] == "FILE_NOT_FOUND"
            if r.status == 401:  # only anonymous callers here: asked to sign in
                assert r.headers["WWW-Authenticate"] == CHALLENGE
        elif r.status != 204 and method == "GET" and name not in ("owned", "shared",
                                                                  "shortcuts"):
            payload = await r.json()
            if name == "get":
                assert payload["file_id"] == file_id
                assert payload["is_public"] is (table == "public")
                assert payload["access"] == {"owner": "owner", "editor": "editor",
                                             "viewer": "viewer"}.get(role, "public")
    if expected >= 400:
        assert await snapshot(http, edge_url, people, file_id) == before


async def test_unknown_file_is_404_for_everyone(http: aiohttp.ClientSession, edge_url: str,
                                                people: People) -> None:
    missing = str(uuid.uuid4())
    for name in PRIVATE:
        if name in ("owned", "shared", "shortcuts", "remove_shortcut"):
            continue
        method, path, body = route(people, missing, name)
        async with http.request(method, f"{edge_url}{path}", headers=people.owner.auth,
                                json=body) as r:
            assert r.status == 404, f"{name}: {r.status} {await r.text()}"
            assert (await r.json())["code"] == "FILE_NOT_FOUND"


async def test_anonymous_reads_of_private_or_missing_files_ask_to_sign_in(
        http: aiohttp.ClientSession, edge_url: str, people: People) -> None:
    """No Authorization: a private file and a missing one get the same 401 with a Bearer
    challenge (a browser prompts for sign-in); a signed-in stranger still gets 404 for both;
    a public file answers the anonymous caller."""
    private = await shared_file(http, edge_url, people)
    missing = str(uuid.uuid4())
    answers = []
    for file_id in (private, missing):
        for suffix in ("", "/download"):
            url = f"{edge_url}/api/files/f/{file_id}{suffix}"
            async with http.get(url) as r:
                body = await r.json()
                assert r.status == 401, body
                assert r.headers["WWW-Authenticate"] == CHALLENGE
                assert body["code"] == "UNAUTHENTICATED"
                assert body["request_id"] == r.headers["X-Request-ID"]
                answers.append(body["error"])
            async with http.get(url, headers=people.stranger.auth) as r:
                assert r.status == 404 and (await r.json())["code"] == "FILE_NOT_FOUND"
                assert "WWW-Authenticate" not in r.headers
    assert len(set(answers)) == 1  # nothing tells a missing file from a private one
    public = await shared_file(http, edge_url, people, public=True)
    for suffix in ("", "/download"):
        async with http.get(f"{edge_url}/api/files/f/{public}{suffix}") as r:
            assert r.status == 200, await r.text()
