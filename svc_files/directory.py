"""The user directory: auth `ResolveUsers` (emails → user ids), called with the service
credential and a deadline; its failures become domain errors by the one shared policy
(`common.grpc.client.rpc_error_to_domain`)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from common.grpc.client import rpc_error_to_domain
from common.grpc.metadata import current_request_id, outgoing_metadata
from svc_files.models import ResolvedUser


class AuthDirectory:
    def __init__(
        self, stub: auth_pb2_grpc.AuthServiceAsyncStub, service_token: str, timeout_s: float
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
            raise rpc_error_to_domain(exc, "auth") from None
        found: dict[str, ResolvedUser] = {}
        for user in reply.users:
            normalized = (user.normalized_email or user.email).strip().lower()
            resolved = ResolvedUser(user.user_id, normalized)
            found[user.email.strip().lower()] = resolved
            found[normalized] = resolved
        return found
