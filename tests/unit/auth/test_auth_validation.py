"""Input rules for accounts: usernames, emails (normalised), passwords."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from svc_auth.rules import normalize_email, validate_email, validate_password, validate_username


@pytest.mark.parametrize("name", ["abc", "alice_01", "a.b-c", "A" * 64, "Test_User.9"])
def test_valid_usernames(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize("name", ["", "ab", "A" * 65, "has space", "semi;colon", "ünï", "a/b",
                                  "tab\tname", "new\nline"])
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_username(name)


@pytest.mark.parametrize(("raw", "stored"), [
    ("alice@example.com", "alice@example.com"),
    ("  Alice@Example.COM\n", "alice@example.com"),
    ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
    ("u_1@my-host.io", "u_1@my-host.io"),
])
def test_valid_emails_are_normalised(raw: str, stored: str) -> None:
    assert validate_email(raw) == stored == normalize_email(raw)


@pytest.mark.parametrize("raw", ["", "alice", "alice@", "@example.com", "alice@example",
                                 "a b@example.com", "alice@@example.com", "alice@exa mple.com",
                                 "alice@-example.com", "<alice@example.com>",
                                 "a" * 65 + "@example.com", "alice@" + "a" * 250 + ".com",
                                 "alice@example.c"])
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_email(raw)


@pytest.mark.parametrize("password", ["Test@1234", "x" * 8, "x" * 256, "pässwörd-ünïcode"])
def test_valid_passwords(password: str) -> None:
    assert validate_password(password) == password


@pytest.mark.parametrize("password", ["", "x" * 7, "x" * 257, "nul\x00inside"])
def test_invalid_passwords(password: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_password(password)
