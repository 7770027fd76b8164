"""gRPC transport for AuthService: protobuf ⇄ domain, caller identity from metadata, and the
process wiring (`run`). Domain errors are raised as-is; the shared interceptor maps them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from common.db import open_pool
from common.grpc.server import serve
from common.identity import CLIENT_IP, Context, caller, metadata_value, require_service
from common.logging import get_logger
from common.migrations import apply_migrations
from common.tokens import ALGORITHM, TokenVerifier
from svc_auth.config import AuthSettings
from svc_auth.housekeeping import purge_forever
from svc_auth.models import User
from svc_auth.passwords import Argon2Hasher
from svc_auth.service import AuthService, Session, UserCache
from svc_auth.store import PgStore
from svc_auth.throttle import LoginThrottle
from svc_auth.tokens import TokenIssuer, load_private_key

log = get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


def user_message(user: User) -> auth_pb2.User:
    created = Timestamp()
    created.FromDatetime(user.created_at)
    return auth_pb2.User(user_id=user.user_id, username=user.username, email=user.email,
                         created_at=created)


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        service: AuthService,
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        service_token: str,
    ) -> None:
        self._service = service
        self._issuer = issuer
        self._verifier = verifier
        self._service_token = service_token

    async def SignUp(
        self, request: auth_pb2.SignUpRequest, context: Context
    ) -> auth_pb2.SignUpResponse:
        user = await self._service.sign_up(request.username, request.email, request.password)
        return auth_pb2.SignUpResponse(user_id=user.user_id)

    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.LoginResponse:
        address = metadata_value(context, CLIENT_IP) or ""
        session = await self._service.login(request.email, request.password, address)
        return auth_pb2.LoginResponse(
            access_token=session.access.token,
            refresh_token=session.refresh_token,
            expires_in_s=session.access.expires_in_s,
            user=user_message(session.user),
        )

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: Context
    ) -> auth_pb2.RefreshResponse:
        session: Session = await self._service.refresh(request.refresh_token)
        return auth_pb2.RefreshResponse(
            access_token=session.access.token,
            refresh_token=session.refresh_token,
            expires_in_s=session.access.expires_in_s,
        )

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        await self._service.logout(request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: Context
    ) -> auth_pb2.GetUserResponse:
        identity = await caller(context, self._verifier)
        user = await self._service.get_user(identity.user_id)
        return auth_pb2.GetUserResponse(user=user_message(user))

    async def GetPublicKeys(
        self, request: auth_pb2.GetPublicKeysRequest, context: Context
    ) -> auth_pb2.GetPublicKeysResponse:
        return auth_pb2.GetPublicKeysResponse(keys=[
            auth_pb2.PublicKey(kid=kid, alg=ALGORITHM, public_key_pem=pem)
            for kid, pem in self._issuer.public_keys().items()
        ])

    async def ResolveUsers(
        self, request: auth_pb2.ResolveUsersRequest, context: Context
    ) -> auth_pb2.ResolveUsersResponse:
        require_service(context, self._service_token)
        known, unknown = await self._service.resolve_users(list(request.emails))
        return auth_pb2.ResolveUsersResponse(
            users=[auth_pb2.ResolvedUser(email=given, user_id=user.user_id,
                                         normalized_email=user.email)
                   for given, user in known],
            unknown_emails=unknown,
        )


def build_issuer(settings: AuthSettings) -> TokenIssuer:
    if settings.jwt_private_key_file:
        key = load_private_key(settings.jwt_private_key_file)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        log.warning("jwt_ephemeral_key",
                    message="GOVAULT_JWT_PRIVATE_KEY_FILE is not set: using a key generated at "
                            "start-up; tokens stop verifying when this process restarts")
    return TokenIssuer(key, settings.access_token_ttl_s)


async def run(settings: AuthSettings) -> None:
    """Migrations, pool, hasher, issuer; serve until a signal; then close in reverse order."""
    issuer = build_issuer(settings)
    await apply_migrations(settings.database.url, MIGRATIONS)
    pool = await open_pool(settings.database, "auth")
    hasher = Argon2Hasher(settings.hashing)
    await hasher.start()

    async def own_keys() -> dict[str, str]:
        return issuer.public_keys()

    verifier = TokenVerifier(own_keys)
    verifier.set_keys(issuer.public_keys())
    throttle = LoginThrottle(
        settings.throttle.window_s,
        settings.throttle.max_failures_per_email,
        settings.throttle.max_failures_per_address,
        settings.throttle.max_keys,
    )
    store = PgStore(pool)
    service = AuthService(store, hasher, issuer, throttle, settings.refresh_token_ttl_s,
                          user_cache=UserCache(settings.user_cache_ttl_s))
    servicer = AuthServicer(service, issuer, verifier, settings.service_token)

    def register(server: grpc.aio.Server) -> str:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
        return SERVICE_NAME

    # Expired refresh tokens are purged in the background (0 turns it off).
    purge = (asyncio.create_task(purge_forever(store, settings.token_purge_interval_s))
             if settings.token_purge_interval_s > 0 else None)

    async def close_hasher() -> None:
        if purge is not None:
            purge.cancel()
        hasher.close()

    log.info("auth_starting", kid=issuer.kid, hash_workers=settings.hashing.workers,
             argon2_memory_kib=settings.hashing.memory_kib)
    await serve("auth", settings.server, [register], on_shutdown=[close_hasher, pool.close])
