"""Creating users over the public API, for end-to-end tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import aiohttp

PASSWORD = "Test@1234"


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    email: str
    password: str
    token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_user(session: aiohttp.ClientSession, base_url: str, prefix: str = "u") -> User:
    """Signs up and logs in a fresh user; fails the test on any non-200."""
    tag = uuid.uuid4().hex[:10]
    username = f"{prefix}_{tag}"
    email = f"{prefix}-{tag}@example.com"
    async with session.post(f"{base_url}/auth/signup",
                            json={"username": username, "email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    async with session.post(f"{base_url}/auth/login",
                            json={"email": email, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    return User(body["user_id"], username, email, PASSWORD, body["token"], body["refresh_token"])
