"""Auth's domain records: what `store.py` returns and `service.py` works with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Credentials:
    user: User
    password_hash: str


@dataclass(frozen=True)
class RefreshTokenRecord:
    """A stored refresh token (by hash) with the state of its family."""

    family_id: str
    user: User
    expires_at: datetime
    rotated: bool
    family_revoked: bool
