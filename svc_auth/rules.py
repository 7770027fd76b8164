"""Sign-up and login input rules that need nothing but their arguments (no I/O)."""

from __future__ import annotations

import re

from common.errors import InvalidArgument

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
# local@domain.tld: no whitespace, control characters, quotes or angle brackets; one @; a dot in
# the domain with labels of letters, digits and hyphens.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}"
    r"@(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
PASSWORD_MIN, PASSWORD_MAX = 8, 256


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidArgument(
            "username must be 3-64 characters: letters, digits, '_', '.' or '-'")
    return username


def validate_email(email: str) -> str:
    normalized = normalize_email(email)
    if len(normalized) > 254 or not EMAIL_RE.match(normalized):
        raise InvalidArgument("email must be a valid address such as name@example.com")
    return normalized


def validate_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidArgument(
            f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long")
    if "\x00" in password:
        raise InvalidArgument("password must not contain NUL characters")
    return password
