"""gRPC transport for AuthService: protobuf ⇄ domain and caller identity from metadata, nothing
else (the process is wired in __main__.py). Domain errors are raised as-is; the shared
interceptor maps them."""

from __future__ import annotations

from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from common.grpc.identity import caller, require_service
from common.grpc.metadata import Context, client_ip
from common.grpc.timestamps import timestamp_pb
from common.tokens import ALGORITHM, TokenVerifier
from svc_auth.models import User
from svc_auth.service import AuthService, Session
from svc_auth.tokens import TokenIssuer

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


def user_message(user: User) -> auth_pb2.User:
    return auth_pb2.User(user_id=user.user_id, username=user.username, email=user.email,
                         created_at=timestamp_pb(user.created_at))


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
        # the client address decides throttling: only a caller holding the service credential
        # (the edge, which saw the client) may say what it is
        require_service(context, self._service_token)
        address = client_ip(context) or ""
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

