"""svc_auth: accounts, passwords and tokens (gRPC `govault.auth.v1.AuthService`).

Owns the auth database (users, refresh-token families) and the Ed25519 signing key. It is the
only process that hashes passwords (Argon2id, off the event loop, bounded: `passwords.py`) and
the only one that issues access tokens (`tokens.py`); every other process only verifies them
with the public keys served by GetPublicKeys.

Layers: `__main__.py` (the composition root: all wiring) · `server.py` (protobuf ⇄ domain,
caller identity from metadata) → `service.py` (the entry point: login throttling, refresh
rotation and reuse detection; no grpc/psycopg) with `rules.py` (input checks, no I/O) and
`seams.py` (the Protocols: Accounts, Hasher, Issuer, Throttle) → `store.py` (PgAccounts, the
only SQL), `passwords.py` (Argon2Hasher), `tokens.py` (TokenIssuer), `throttle.py`,
`housekeeping.py` (refresh-token purge). It must not read another service's database, log
passwords or tokens, or block the event loop.
"""

from common.runtime import prepare_process

prepare_process()  # before grpc is imported: see common/runtime.py
