"""svc_auth: accounts, passwords and tokens (gRPC `govault.auth.v1.AuthService`).

Owns the auth database (users, refresh-token families) and the Ed25519 signing key. It is the
only process that hashes passwords (Argon2id, off the event loop, bounded: `passwords.py`) and
the only one that issues access tokens (`tokens.py`); every other process only verifies them
with the public keys served by GetPublicKeys.

Layers: `server.py` (protobuf ⇄ domain, caller identity from metadata) → `service.py` (rules:
validation, login throttling, refresh rotation and reuse detection; no grpc/psycopg) →
`store.py` (the only SQL). It must not read another service's database, log passwords or tokens,
or block the event loop.
"""
