"""Access-token verification shared by the edge and every service.

Tokens are EdDSA (Ed25519) JWTs signed by the auth service; the header names the key (`kid`).
Verifiers pin the algorithm (so `none` and HMAC tokens are rejected whatever their header says),
fetch public keys through a loader (auth's GetPublicKeys), and refetch once when an unknown `kid`
appears (key rotation), at most every `refetch_interval_s`.

A verified token is remembered (bounded LRU keyed by the token string) until it expires, so the
edge and each service pay for the signature check once per token rather than once per request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

ALGORITHM = "EdDSA"
ISSUER = "govault-auth"
AUDIENCE = "govault"


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    email: str
    expires_at: float
    token: str


class TokenError(Exception):
    """The token is not acceptable. `expired` tells the caller which message to give."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


# One base64url segment without padding, as JWS compact serialization writes it.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def unverified_header(token: str) -> dict[str, object]:
    """The JOSE header of a compact JWS, only to pick the key: `jwt.decode` checks it again.
    (PyJWT's get_unverified_header decodes and checks the whole token, a second time per token.)"""
    segment, dot, _ = token.partition(".")
    if not dot or _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise TokenError("malformed access token")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise TokenError("malformed access token") from None
    if not isinstance(header, dict):
        raise TokenError("malformed access token")
    return header


KeyLoader = Callable[[], Awaitable[dict[str, str]]]  # kid → PEM public key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("only Ed25519 public keys are accepted")
    return key


class TokenVerifier:
    def __init__(
        self,
        loader: KeyLoader,
        cache_size: int = 50_000,
        refetch_interval_s: float = 5.0,
        leeway_s: float = 5.0,
    ) -> None:
        self._loader = loader
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._cache: OrderedDict[str, Identity] = OrderedDict()
        self._cache_size = cache_size
        self._refetch_interval_s = refetch_interval_s
        self._last_fetch = 0.0
        self._leeway_s = leeway_s
        self._lock = asyncio.Lock()

    def set_keys(self, keys: dict[str, str]) -> None:
        self._keys = {kid: load_public_key(pem) for kid, pem in keys.items()}

    async def refresh_keys(self, force: bool = False) -> None:
        async with self._lock:
            now = time.monotonic()
            if not force and now - self._last_fetch < self._refetch_interval_s:
                return
            self.set_keys(await self._loader())
            self._last_fetch = time.monotonic()

    async def verify(self, token: str) -> Identity:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached.expires_at + self._leeway_s > now:
                self._cache.move_to_end(token)
                return cached
            del self._cache[token]
            raise TokenError("access token expired", expired=True)
        if not token.isascii():  # PyJWT would raise encoding it (a lone surrogate: not UTF-8)
            raise TokenError("malformed access token")
        header = unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenError("access token algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("access token has no key id")
        key = self._keys.get(kid)
        if key is None:
            await self.refresh_keys()
            key = self._keys.get(kid)
            if key is None:
                raise TokenError("access token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("access token expired", expired=True) from None
        except jwt.PyJWTError:
            raise TokenError("invalid access token") from None
        identity = Identity(
            user_id=str(claims.get("user_id") or claims["sub"]),
            username=str(claims.get("username", "")),
            email=str(claims.get("email", "")),
            expires_at=float(claims["exp"]),
            token=token,
        )
        self._cache[token] = identity
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return identity


def auth_key_loader(stub: auth_pb2_grpc.AuthServiceAsyncStub, timeout_s: float = 5.0) -> KeyLoader:
    """A KeyLoader reading the auth service's GetPublicKeys."""

    async def load() -> dict[str, str]:
        response = await stub.GetPublicKeys(auth_pb2.GetPublicKeysRequest(), timeout=timeout_s)
        return {key.kid: key.public_key_pem for key in response.keys}

    return load
