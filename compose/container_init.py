"""One-shot init steps of the container stack (`docker-compose.yml`), run with the app image:

    python -m compose.container_init jwt-key /var/lib/govault/keys/jwt_ed25519.pem
        auth's Ed25519 signing key, created once on the named volume (0600), kept afterwards.
    python -m compose.container_init bucket
        the private bucket (GOVAULT_S3_* variables): created if missing, then proven private:
        an anonymous listing must be refused, else this step fails and nothing starts.

Exits non-zero with a one-line reason, so `depends_on: condition: service_completed_successfully`
stops the stack instead of starting services against a missing key or a public bucket.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def jwt_key(path: Path) -> str:
    if path.exists():
        return f"kept existing signing key {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
    return f"created signing key {path}"


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"container_init: {name} is required but not set")
    return value


def anonymous_status(endpoint: str, bucket: str) -> int:
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/{bucket}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def bucket(timeout_s: float = 120.0) -> str:
    from minio import Minio

    from common.s3 import create_bucket

    endpoint = _env("GOVAULT_S3_ENDPOINT")
    name = _env("GOVAULT_S3_BUCKET")
    parts = urlsplit(endpoint)
    s3 = Minio(parts.netloc, access_key=_env("GOVAULT_S3_ACCESS_KEY"),
               secret_key=_env("GOVAULT_S3_SECRET_KEY"), secure=parts.scheme == "https",
               region=os.environ.get("GOVAULT_S3_REGION") or "us-east-1")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            created = create_bucket(s3, name)
            break
        except Exception as exc:  # the store is still starting
            if time.monotonic() > deadline:
                raise SystemExit(f"container_init: S3 at {endpoint} not usable: {exc}") from None
            time.sleep(1.0)
    status = anonymous_status(endpoint, name)
    if status not in (401, 403):
        raise SystemExit(f"container_init: bucket {name!r} answers an anonymous listing with "
                         f"{status}: it must be private (401/403)")
    return f"bucket {name!r} {'created' if created else 'exists'}, private (anonymous: {status})"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "jwt-key":
        print(jwt_key(Path(argv[1])))
        return 0
    if argv == ["bucket"]:
        print(bucket())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
