"""The auth service's composition root: `python -m svc_auth` reads settings, wires the store,
hasher, issuer, throttle and service, and serves until SIGTERM/SIGINT. All wiring is here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from govault.auth.v1 import auth_pb2_grpc

from common import background
from common.db import DatabaseProbe, open_pool
from common.grpc.server import serve
from common.logging import configure_logging, get_logger
from common.loop import install_event_loop
from common.metrics import start_metrics_server
from common.migrations import apply_migrations
from common.tokens import TokenVerifier
from svc_auth.config import AuthSettings
from svc_auth.housekeeping import purge_once
from svc_auth.passwords import Argon2Hasher
from svc_auth.server import SERVICE_NAME, AuthServicer
from svc_auth.service import AuthService, UserCache
from svc_auth.store import PgAccounts
from svc_auth.throttle import LoginThrottle
from svc_auth.tokens import TokenIssuer, load_private_key

SERVICE = "auth"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PURGE_JOB = "auth.refresh_token_purge"  # the advisory lock of the purge's passes

log = get_logger(__name__)


def build_issuer(settings: AuthSettings) -> TokenIssuer:
    if settings.jwt_private_key_file:
        key = load_private_key(settings.jwt_private_key_file)
    else:
        key = Ed25519PrivateKey.generate()
        log.warning("jwt_ephemeral_key",
                    message="GOVAULT_JWT_PRIVATE_KEY_FILE is not set: using a key generated at "
                            "start-up; tokens stop verifying when this process restarts")
    return TokenIssuer(key, settings.access_token_ttl_s)


async def run(settings: AuthSettings) -> None:
    """Migrations, pool, hasher, issuer; serve until a signal; then close in reverse order."""
    issuer = build_issuer(settings)
    await apply_migrations(settings.db.url, MIGRATIONS)
    pool = await open_pool(settings.db, SERVICE)
    hasher = Argon2Hasher(settings.hashing)
    await hasher.start()

    async def own_keys() -> dict[str, str]:
        return issuer.public_keys()

    verifier = TokenVerifier(own_keys)
    verifier.set_keys(issuer.public_keys())
    throttle = LoginThrottle.from_settings(settings.throttle)
    accounts = PgAccounts(pool)
    service = AuthService(accounts, hasher, issuer, throttle, settings.refresh_token_ttl_s,
                          user_cache=UserCache(settings.user_cache_ttl_s))
    servicer = AuthServicer(service, issuer, verifier, settings.service_token)

    def register(server: grpc.aio.Server) -> str:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
        return SERVICE_NAME

    # Expired refresh tokens are purged in the background (0 turns it off); with replicas, by
    # one of them at a time (common.background.led).
    purge = background.start(settings.token_purge_interval_s, "refresh_token_purge",
                             background.led(pool, PURGE_JOB, lambda: purge_once(accounts)))

    database = DatabaseProbe(settings.db)

    async def close() -> None:
        await background.stop([purge])
        await database.close()
        hasher.close()
        await pool.close()

    log.info("auth_starting", kid=issuer.kid, hash_workers=settings.hashing.workers,
             argon2_memory_kib=settings.hashing.memory_kib)
    await serve(SERVICE, settings.server, [register], on_shutdown=[close],
                probes={"database": database})


def main() -> None:
    settings = AuthSettings.from_env()
    configure_logging(SERVICE, settings.server.log_level)
    start_metrics_server(settings.server.metrics_port, settings.server.host)
    install_event_loop()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
