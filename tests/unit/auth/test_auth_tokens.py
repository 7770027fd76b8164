"""Access tokens issued by svc_auth.tokens, checked by common.tokens.TokenVerifier: good tokens
pass; alg none, HMAC-signed, tampered, expired and unknown-kid tokens are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.tokens import TokenError, TokenVerifier
from svc_auth.tokens import (
    TokenIssuer,
    hash_refresh_token,
    key_id,
    load_private_key,
    new_refresh_token,
)

USER = ("5f0c7b1e-2a55-4d8e-9a59-8f1f2f3c4d5e", "alice", "alice@example.com")


def verifier_for(*issuers: TokenIssuer) -> TokenVerifier:
    keys: dict[str, str] = {}
    for issuer in issuers:
        keys.update(issuer.public_keys())

    async def load() -> dict[str, str]:
        return keys

    verifier = TokenVerifier(load, refetch_interval_s=0)
    verifier.set_keys(keys)
    return verifier


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(Ed25519PrivateKey.generate(), access_ttl_s=900)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _pad(s: str) -> str:
    return s + "=" * (-len(s) % 4)


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(_pad(header))),
            json.loads(base64.urlsafe_b64decode(_pad(payload))), signature)


async def test_issued_token_verifies_with_expected_claims(issuer: TokenIssuer) -> None:
    access = issuer.issue(*USER)
    assert access.expires_in_s == 900
    header, claims, _ = _parts(access.token)
    assert header == {"alg": "EdDSA", "kid": issuer.kid, "typ": "JWT"}
    assert claims["iss"] == "govault-auth" and claims["aud"] == "govault"
    assert claims["sub"] == claims["user_id"] == USER[0]
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 32
    identity = await verifier_for(issuer).verify(access.token)
    assert (identity.user_id, identity.username, identity.email) == USER


async def test_every_token_has_its_own_jti(issuer: TokenIssuer) -> None:
    first, second = issuer.issue(*USER).token, issuer.issue(*USER).token
    assert _parts(first)[1]["jti"] != _parts(second)[1]["jti"]


def test_kid_is_a_short_stable_thumbprint() -> None:
    key = Ed25519PrivateKey.generate()
    assert key_id(key) == key_id(key) == TokenIssuer(key, 60).kid
    assert len(key_id(key)) == 16
    assert key_id(key) != key_id(Ed25519PrivateKey.generate())


async def test_expired_token_is_refused(issuer: TokenIssuer) -> None:
    old = TokenIssuer(Ed25519PrivateKey.generate(), access_ttl_s=60,
                      clock=lambda: time.time() - 3600)
    with pytest.raises(TokenError) as caught:
        await verifier_for(old).verify(old.issue(*USER).token)
    assert caught.value.expired


async def test_alg_none_is_refused(issuer: TokenIssuer) -> None:
    _, claims, _ = _parts(issuer.issue(*USER).token)
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{_b64(claims)}."
    with pytest.raises(TokenError) as caught:
        await verifier_for(issuer).verify(forged)
    assert not caught.value.expired


@pytest.mark.parametrize("bad", ["\udcff", "\udcc3(", "\u00e9"])
async def test_a_token_with_a_byte_that_is_not_ascii_is_malformed_not_an_error(
        issuer: TokenIssuer, bad: str) -> None:
    """A header byte above 0x7f reaches the verifier as a lone surrogate (aiohttp decodes headers
    with surrogateescape); PyJWT raised UnicodeEncodeError on it (a 500 on every route; found by
    the fuzz run of issue 22's hostile re-pass)."""
    token = issuer.issue(*USER).token
    with pytest.raises(TokenError, match="malformed") as caught:
        await verifier_for(issuer).verify(token[:40] + bad + token[40:])
    assert not caught.value.expired


@pytest.mark.parametrize("header", [
    "", "e30", "W10", "bm90IGpzb24", "eyJhbGciOiJFZERTQSJ9=", "eyJhbGci+OiJFZERTQSJ9",
    "eyJhbGciOiJFZERTQSJ9!", "a", "eyJhbGciOiJFZERTQSIsImtpZCI6Ik"])
async def test_a_header_that_is_not_a_json_object_in_base64url_is_malformed(
        issuer: TokenIssuer, header: str) -> None:
    """The verifier reads the header itself to pick the key (PyJWT checks it again): empty, `{}` (no
    algorithm), a JSON list, not JSON, padded, a character outside base64url, one character
    too many, a truncated object."""
    _, payload, signature = issuer.issue(*USER).token.split(".")
    with pytest.raises(TokenError, match=r"malformed|algorithm not accepted") as caught:
        await verifier_for(issuer).verify(".".join((header, payload, signature)))
    assert not caught.value.expired


async def test_a_token_without_dots_is_malformed(issuer: TokenIssuer) -> None:
    with pytest.raises(TokenError, match="malformed"):
        await verifier_for(issuer).verify(issuer.issue(*USER).token.replace(".", ""))


async def test_hmac_token_signed_with_the_public_key_is_refused(issuer: TokenIssuer) -> None:
    _, claims, _ = _parts(issuer.issue(*USER).token)
    for secret in (issuer.public_pem, "secret"):
        signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{_b64(claims)}"
        mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        with pytest.raises(TokenError):
            await verifier_for(issuer).verify(forged)


async def test_tampered_payload_is_refused(issuer: TokenIssuer) -> None:
    header, claims, signature = _parts(issuer.issue(*USER).token)
    claims["user_id"] = claims["sub"] = "00000000-0000-0000-0000-000000000000"
    forged = f"{_b64(header)}.{_b64(claims)}.{signature}"
    with pytest.raises(TokenError):
        await verifier_for(issuer).verify(forged)


async def test_token_from_another_key_with_same_kid_is_refused(issuer: TokenIssuer) -> None:
    other = TokenIssuer(Ed25519PrivateKey.generate(), 900)
    claims = _parts(issuer.issue(*USER).token)[1]
    forged = jwt.encode(claims, other._key, algorithm="EdDSA", headers={"kid": issuer.kid})
    with pytest.raises(TokenError):
        await verifier_for(issuer).verify(forged)


async def test_unknown_kid_is_refused_after_a_refetch(issuer: TokenIssuer) -> None:
    stranger = TokenIssuer(Ed25519PrivateKey.generate(), 900)
    with pytest.raises(TokenError, match="unknown key"):
        await verifier_for(issuer).verify(stranger.issue(*USER).token)


async def test_wrong_audience_or_issuer_is_refused(issuer: TokenIssuer) -> None:
    claims = _parts(issuer.issue(*USER).token)[1]
    for change in ({"aud": "someone-else"}, {"iss": "evil"}):
        forged = jwt.encode(claims | change, issuer._key, algorithm="EdDSA",
                            headers={"kid": issuer.kid})
        with pytest.raises(TokenError):
            await verifier_for(issuer).verify(forged)


def test_private_key_loads_from_pem(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "jwt.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    assert key_id(load_private_key(str(path))) == key_id(key)


def test_refresh_tokens_are_random_and_stored_as_sha256() -> None:
    a, b = new_refresh_token(), new_refresh_token()
    assert a != b and len(a) >= 43
    assert hash_refresh_token(a) == hash_refresh_token(a)
    assert len(hash_refresh_token(a)) == 32
    assert hash_refresh_token(a) != hash_refresh_token(b)
