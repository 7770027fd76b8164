"""Dev credentials, generated on a data directory's first run and reused afterwards.

`DATA/credentials.json` (0600) holds the PostgreSQL, S3 and Redis passwords and the service token;
`DATA/jwt_ed25519.pem` (0600) is auth's signing key. Nothing here is a default: every value is
random per data directory, so deleting the directory resets them together with the data.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CREDENTIALS_FILE = "credentials.json"
JWT_KEY_FILE = "jwt_ed25519.pem"


@dataclass(frozen=True)
class Credentials:
    pg_admin_password: str
    pg_password: str
    s3_access_key: str
    s3_secret_key: str
    redis_password: str
    service_token: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            pg_admin_password=secrets.token_urlsafe(24),
            pg_password=secrets.token_urlsafe(24),
            s3_access_key="govault" + secrets.token_hex(6),
            s3_secret_key=secrets.token_urlsafe(30),
            redis_password=secrets.token_urlsafe(24),
            service_token=secrets.token_urlsafe(32),
        )


def load_or_create(data_dir: Path) -> Credentials:
    """Read DATA/credentials.json, creating it (and filling any field a newer launcher added)."""
    path = data_dir / CREDENTIALS_FILE
    fresh = asdict(Credentials.generate())
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    merged = {f.name: stored.get(f.name) or fresh[f.name] for f in fields(Credentials)}
    if merged != stored:
        write_private(path, json.dumps(merged, indent=2) + "\n")
    return Credentials(**merged)


def ensure_jwt_key(data_dir: Path) -> Path:
    """DATA/jwt_ed25519.pem: a PKCS#8 PEM Ed25519 private key for auth (dev only)."""
    path = data_dir / JWT_KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem.decode())
    return path


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (readable by the launcher's user only)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
