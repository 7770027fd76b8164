"""Issuing access tokens (EdDSA JWTs) and making refresh tokens.

Access tokens: Ed25519-signed JWTs, header `kid` = a short RFC 7638 thumbprint of the public key,
claims iss/aud/sub/user_id/username/email/iat/exp/jti exactly as `common.tokens.TokenVerifier`
expects. The key comes from a PEM file (GOVAULT_JWT_PRIVATE_KEY_FILE); without one an ephemeral
key is generated (tokens then die with the process; a warning is logged).

Refresh tokens: opaque `secrets.token_urlsafe(32)`; only their SHA-256 is ever stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from common.tokens import ALGORITHM, AUDIENCE, ISSUER


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in_s: int


def load_private_key(path: str) -> Ed25519PrivateKey:
    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: only Ed25519 private keys are accepted")
    return key


def key_id(key: Ed25519PrivateKey) -> str:
    """RFC 7638 JWK thumbprint of the public key, base64url, first 16 characters."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:16]


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


class TokenIssuer:
    def __init__(
        self,
        key: Ed25519PrivateKey,
        access_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.kid = key_id(key)
        self.public_pem = public_pem(key)
        self._ttl_s = access_ttl_s
        self._clock = clock

    def public_keys(self) -> dict[str, str]:
        """kid → PEM public key (one key today; rotation would list the previous one too)."""
        return {self.kid: self.public_pem}

    def issue(self, user_id: str, username: str, email: str) -> AccessToken:
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "user_id": user_id,
            "username": username,
            "email": email,
            "iat": now,
            "exp": now + self._ttl_s,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return AccessToken(token, self._ttl_s)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
