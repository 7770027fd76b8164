"""The user directory: auth `ResolveUsers` (emails → user ids), called with the service
credential and a deadline. Auth errors other than "unavailable" are not the caller's fault."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from common.identity import current_request_id, outgoing_metadata
from svc_files.errors import Unavailable
from svc_files.models import ResolvedUser


class AuthDirectory:
    def __init__(
        self, stub: auth_pb2_grpc.AuthServiceStub, service_token: str, timeout_s: float
    ) -> None:
        self._stub = stub
        self._service_token = service_token
        self._timeout_s = timeout_s

    async def resolve(self, emails: Sequence[str]) -> dict[str, ResolvedUser]:
        metadata = outgoing_metadata(
            service_token=self._service_token, request_id=current_request_id()
        )
        try:
            reply = await self._stub.ResolveUsers(
                auth_pb2.ResolveUsersRequest(emails=list(emails)),
                timeout=self._timeout_s,
                metadata=metadata,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("the auth service is unavailable") from None
            raise RuntimeError(f"ResolveUsers failed: {exc.code().name}") from None
        found: dict[str, ResolvedUser] = {}
        for user in reply.users:
            normalized = (user.normalized_email or user.email).strip().lower()
            resolved = ResolvedUser(user.user_id, normalized)
            found[user.email.strip().lower()] = resolved
            found[normalized] = resolved
        return found
