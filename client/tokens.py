"""Where a client keeps its tokens, and the refresh that rotates them.

Refresh tokens rotate on every use and a reused one revokes the whole family, so two refreshes
of the same token must never race: within a process a lock serialises them, and a `TokenStore`
may also hold a lock across processes (the CLI's file store does). Whoever gets the lock first
refreshes; the others find the store already holds a newer access token and adopt it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from client.errors import AuthError, LoginRequired
from client.models import Tokens


class TokenStore(Protocol):
    def load(self) -> Tokens | None: ...

    def save(self, tokens: Tokens | None) -> None: ...

    def exclusive(self) -> AbstractContextManager[object]:
        """Held around a refresh; excludes other processes sharing the store, if any."""
        ...


class MemoryTokenStore:
    """Tokens held by this process only (library use; the default)."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens

    def load(self) -> Tokens | None:
        return self._tokens

    def save(self, tokens: Tokens | None) -> None:
        self._tokens = tokens

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        yield


LOGIN_AGAIN = "your session has expired or was revoked: log in again"


class TokenKeeper:
    """The current tokens, refreshed at most once per expiry however many threads notice it.
    `rotate(refresh_token)` performs POST /auth/refresh and returns the new tokens."""

    def __init__(self, store: TokenStore, rotate: Callable[[str], Tokens]) -> None:
        self._store = store
        self._rotate = rotate
        self._lock = threading.Lock()
        self._tokens = store.load()

    @property
    def tokens(self) -> Tokens | None:
        return self._tokens

    def require(self) -> Tokens:
        if self._tokens is None:
            raise LoginRequired(401, "UNAUTHENTICATED", "not logged in: log in first")
        return self._tokens

    def set(self, tokens: Tokens | None) -> None:
        with self._lock:
            self._tokens = tokens
            self._store.save(tokens)

    def refresh(self, rejected_access_token: str) -> Tokens:
        """New tokens after `rejected_access_token` got a 401; LoginRequired when the refresh
        token is no longer accepted."""
        with self._lock, self._store.exclusive():
            stored = self._store.load()
            if stored is not None and stored.access_token != rejected_access_token:
                self._tokens = stored  # someone (a thread, another process) already refreshed
                return stored
            current = stored or self._tokens
            if current is None or not current.refresh_token:
                raise LoginRequired(401, "UNAUTHENTICATED", "not logged in: log in first")
            try:
                fresh = self._rotate(current.refresh_token)
            except AuthError as exc:
                raise LoginRequired(exc.status, exc.code, f"{LOGIN_AGAIN} ({exc.message})",
                                    exc.request_id) from exc
            fresh = Tokens(fresh.access_token, fresh.refresh_token, current.user_id,
                           current.username, current.email)
            self._tokens = fresh
            self._store.save(fresh)
            return fresh
