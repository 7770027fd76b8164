"""In-memory fakes of the auth service's seams (svc_auth/seams.py): Accounts and Hasher, and a
clock. tests/contract/ runs the same cases against them and the real adapters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from common.errors import AlreadyExists, ResourceExhausted
from svc_auth.models import Credentials, RefreshTokenRecord, User


@dataclass
class _Token:
    family_id: str
    user_id: str
    expires_at: datetime
    rotated: bool = False


class FakeAccounts:
    """The Store protocol in memory, with the same conditional-rotation semantics."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.users: dict[str, Credentials] = {}
        self.tokens: dict[bytes, _Token] = {}
        self.revoked: set[str] = set()
        self.before_rotate: asyncio.Event | None = None
        self._now = now  # the database's clock

    async def create_user(self, username: str, email: str, password_hash: str) -> User:
        for creds in self.users.values():
            if creds.user.email == email:
                raise AlreadyExists("taken", "EMAIL_TAKEN")
            if creds.user.username.lower() == username.lower():
                raise AlreadyExists("taken", "USERNAME_TAKEN")
        user = User(str(uuid.uuid4()), username, email, datetime.now(UTC))
        self.users[user.user_id] = Credentials(user, password_hash)
        return user

    async def credentials_by_email(self, email: str) -> Credentials | None:
        return next((c for c in self.users.values() if c.user.email == email), None)

    async def user_by_id(self, user_id: str) -> User | None:
        creds = self.users.get(user_id)
        return creds.user if creds else None

    async def users_by_emails(self, emails: Sequence[str]) -> list[User]:
        return [c.user for c in self.users.values() if c.user.email in emails]

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        self.users[user_id] = replace(self.users[user_id], password_hash=password_hash)

    async def create_family(self, user_id: str, token_hash: bytes, expires_at: datetime) -> str:
        family_id = str(uuid.uuid4())
        self.tokens[token_hash] = _Token(family_id, user_id, expires_at)
        return family_id

    async def find_refresh_token(self, token_hash: bytes) -> RefreshTokenRecord | None:
        token = self.tokens.get(token_hash)
        if token is None:
            return None
        return RefreshTokenRecord(token.family_id, self.users[token.user_id].user,
                                  token.expires_at, token.rotated,
                                  token.family_id in self.revoked)

    async def rotate_refresh_token(self, old_hash: bytes, new_hash: bytes,
                                   expires_at: datetime) -> User | None:
        if self.before_rotate is not None:
            await self.before_rotate.wait()
        token = self.tokens.get(old_hash)
        if (token is None or token.rotated or token.family_id in self.revoked
                or token.expires_at <= self._now()):
            return None
        token.rotated = True
        self.tokens[new_hash] = _Token(token.family_id, token.user_id, expires_at)
        return self.users[token.user_id].user

    async def revoke_family(self, family_id: str) -> None:
        self.revoked.add(family_id)


class FakeHasher:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.overloaded = False
        self.stale = False

    async def hash(self, password: str) -> str:
        self._spend("hash")
        return f"h:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self._spend("verify")
        return password_hash == f"h:{password}"

    async def verify_dummy(self, password: str) -> None:
        self._spend("dummy")

    def needs_rehash(self, password_hash: str) -> bool:
        return self.stale

    def _spend(self, kind: str) -> None:
        if self.overloaded:
            raise ResourceExhausted("busy", "OVERLOADED")
        self.calls.append(kind)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.wall = datetime(2026, 1, 1, tzinfo=UTC)

    def mono(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=self.t)
