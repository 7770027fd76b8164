"""Auth rules: sign-up validation, login (constant-ish cost, throttled), refresh-token rotation
with reuse detection, logout, account lookups. No grpc, psycopg or argon2 here: the store,
hasher, token issuer and throttle are small Protocols, so the rules are tested with fakes.

Refresh tokens: each login opens a family; each refresh marks the presented token rotated and
adds its successor to the family with a conditional update, so of two concurrent refreshes
with the same token exactly one wins. Presenting a rotated token again (including losing that
race) is reuse: the whole family is revoked and every token in it stops working.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from common.errors import InvalidArgument, ResourceExhausted, token_refused
from common.logging import get_logger
from svc_auth import errors
from svc_auth.metrics import LOGINS, REFRESHES
from svc_auth.models import Credentials, RefreshTokenRecord, User
from svc_auth.rules import normalize_email, validate_email, validate_password, validate_username
from svc_auth.seams import Accounts, Hasher, Issuer, Throttle
from svc_auth.tokens import AccessToken, hash_refresh_token, new_refresh_token

log = get_logger(__name__)

RESOLVE_MAX = 1000


@dataclass(frozen=True)
class Session:
    """What login and refresh hand back."""

    access: AccessToken
    refresh_token: str
    user: User


class UserCache:
    """A small TTL + LRU cache of account rows for GetUser (every `/auth/me` and nothing else).
    Accounts cannot be renamed or deleted through the API today, so a short TTL only bounds how
    long a manual database edit takes to show. `ttl_s=0` disables it."""

    def __init__(self, ttl_s: float, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def get(self, user_id: str) -> User | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[user_id]
            return None
        return entry[1]

    def put(self, user: User) -> None:
        if self._ttl_s <= 0:
            return
        self._entries[user.user_id] = (self._clock() + self._ttl_s, user)
        self._entries.move_to_end(user.user_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthService:
    def __init__(
        self,
        store: Accounts,
        hasher: Hasher,
        issuer: Issuer,
        throttle: Throttle,
        refresh_ttl_s: int,
        now: Callable[[], datetime] = _utcnow,
        user_cache: UserCache | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._issuer = issuer
        self._throttle = throttle
        self._refresh_ttl = timedelta(seconds=refresh_ttl_s)
        self._now = now
        self._user_cache = user_cache or UserCache(ttl_s=0)

    async def sign_up(self, username: str, email: str, password: str) -> User:
        username = validate_username(username)
        email = validate_email(email)
        password = validate_password(password)
        password_hash = await self._hasher.hash(password)
        user = await self._store.create_user(username, email, password_hash)
        log.info("user_created", user_id=user.user_id)
        return user

    async def login(self, email: str, password: str, client_address: str = "") -> Session:
        email = normalize_email(email)
        if not email or not password:
            raise InvalidArgument("email and password are required")
        wait = self._throttle.retry_after_s(email, client_address)
        if wait:
            LOGINS.labels("throttled").inc()
            raise errors.too_many_attempts(wait)
        credentials = await self._store.credentials_by_email(email)
        try:
            if credentials is None:
                # Same cost as a wrong password, so timing does not reveal which emails exist.
                await self._hasher.verify_dummy(password)
                ok = False
            else:
                ok = await self._hasher.verify(credentials.password_hash, password)
        except ResourceExhausted:
            LOGINS.labels("overloaded").inc()
            raise
        if not ok or credentials is None:
            self._throttle.record_failure(email, client_address)
            LOGINS.labels("invalid_credentials").inc()
            raise errors.invalid_credentials()
        self._throttle.record_success(email, client_address)
        LOGINS.labels("success").inc()
        await self._upgrade_hash(credentials, password)
        return await self._open_session(credentials.user)

    async def refresh(self, refresh_token: str) -> Session:
        token_hash = hash_refresh_token(refresh_token)
        successor = new_refresh_token()
        # The common case (a current token) rotates in one statement; anything else is read
        # back to say why it was refused.
        user = await self._store.rotate_refresh_token(
            token_hash, hash_refresh_token(successor),
            self._now() + self._refresh_ttl) if refresh_token else None
        if user is None:
            record = await self._store.find_refresh_token(token_hash) if refresh_token else None
            if record is None or record.family_revoked or record.expires_at <= self._now():
                REFRESHES.labels("invalid").inc()
                raise errors.invalid_refresh_token()
            # rotated already (reuse), or by a concurrent refresh with the same token just now
            await self._reused(record)
        REFRESHES.labels("success").inc()
        return Session(self._issuer.issue(user.user_id, user.username, user.email),
                       successor, user)

    async def logout(self, refresh_token: str) -> None:
        if not refresh_token:
            return
        record = await self._store.find_refresh_token(hash_refresh_token(refresh_token))
        if record is not None and not record.family_revoked:
            await self._store.revoke_family(record.family_id)

    async def get_user(self, user_id: str) -> User:
        user = self._user_cache.get(user_id)
        if user is None:
            user = await self._store.user_by_id(user_id)
            if user is None:
                raise token_refused("the account for this token no longer exists")
            self._user_cache.put(user)
        return user

    async def resolve_users(
        self, emails: Sequence[str]
    ) -> tuple[list[tuple[str, User]], list[str]]:
        """(given email, user) for known emails, and the given emails with no account."""
        if len(emails) > RESOLVE_MAX:
            raise InvalidArgument(f"at most {RESOLVE_MAX} emails per call")
        wanted = {given: normalize_email(given) for given in emails}
        found = {user.email: user
                 for user in await self._store.users_by_emails(sorted(set(wanted.values())))}
        known = [(given, found[norm]) for given, norm in wanted.items() if norm in found]
        unknown = [given for given, norm in wanted.items() if norm not in found]
        return known, unknown

    async def _open_session(self, user: User) -> Session:
        refresh_token = new_refresh_token()
        await self._store.create_family(user.user_id, hash_refresh_token(refresh_token),
                                        self._now() + self._refresh_ttl)
        return Session(self._issuer.issue(user.user_id, user.username, user.email),
                       refresh_token, user)

    async def _reused(self, record: RefreshTokenRecord) -> NoReturn:
        await self._store.revoke_family(record.family_id)
        REFRESHES.labels("reused").inc()
        log.warning("refresh_token_reused", user_id=record.user.user_id,
                    family_id=record.family_id)
        raise errors.refresh_token_reused()

    async def _upgrade_hash(self, credentials: Credentials, password: str) -> None:
        """Re-hash with the current parameters after a successful login (best effort)."""
        if not self._hasher.needs_rehash(credentials.password_hash):
            return
        try:
            new_hash = await self._hasher.hash(password)
        except ResourceExhausted:
            return
        await self._store.update_password_hash(credentials.user.user_id, new_hash)
