"""What the services believe only from a holder of the service credential (issue 22, item 7):
auth's Login takes the client address that decides login throttling from `x-client-ip`
metadata, so a direct gRPC call (the ports are reachable from every container of a compose
network) without the credential is refused before any password is judged, and forged addresses
cannot buy more guesses. Through the edge nothing changes (it presents the credential; the
throttle itself is tested in test_auth_api)."""

from __future__ import annotations

import uuid

import aiohttp
import grpc
import pytest
from govault.auth.v1 import auth_pb2, auth_pb2_grpc

from compose import Stack
from tests.support.users import PASSWORD, new_user

pytestmark = pytest.mark.e2e

WRONG = "Wrong@1234"


async def test_login_over_grpc_needs_the_service_credential(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        user = await new_user(http, stack.edge_url, "trust")
    async with grpc.aio.insecure_channel(stack.grpc_addrs["auth"]) as channel:
        login = auth_pb2_grpc.AuthServiceStub(channel).Login
        right = auth_pb2.LoginRequest(email=user.email, password=PASSWORD)
        wrong = auth_pb2.LoginRequest(email=user.email, password=WRONG)
        # 12 guesses from 12 forged addresses: refused unjudged, not 12 fresh throttle budgets
        for n in range(12):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await login(wrong, metadata=(("x-client-ip", f"203.0.113.{n}"),), timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        for metadata, code in (((), grpc.StatusCode.UNAUTHENTICATED),
                               ((("x-govault-service", "guess"),),
                                grpc.StatusCode.PERMISSION_DENIED)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await login(right, metadata=metadata, timeout=10)
            assert refused.value.code() == code
        # the credential holder (the edge) is believed
        answer = await login(right, metadata=(("x-govault-service", stack.service_token),
                                              ("x-client-ip", "203.0.113.99")), timeout=10)
        assert answer.user.user_id == user.user_id and answer.access_token


async def test_the_edge_still_logs_in_and_throttles_by_client_address(stack: Stack) -> None:
    """The guesses refused above counted nowhere: through the edge the first ten failures are
    judged (400), the eleventh attempt waits (429)."""
    async with aiohttp.ClientSession() as http:
        user = await new_user(http, stack.edge_url, "trust")
        async with grpc.aio.insecure_channel(stack.grpc_addrs["auth"]) as channel:
            login = auth_pb2_grpc.AuthServiceStub(channel).Login
            for _ in range(5):
                with pytest.raises(grpc.aio.AioRpcError):
                    await login(auth_pb2.LoginRequest(email=user.email, password=WRONG),
                                metadata=(("x-client-ip", "127.0.0.1"),), timeout=10)
        codes = []
        for _ in range(11):
            async with http.post(f"{stack.edge_url}/auth/login",
                                 json={"email": user.email, "password": WRONG}) as r:
                codes.append((r.status, (await r.json())["code"]))
        assert codes == [(400, "INVALID_CREDENTIALS")] * 10 + [(429, "TOO_MANY_ATTEMPTS")]
        tag = uuid.uuid4().hex[:6]  # and a login of someone else from the same address works
        other = await new_user(http, stack.edge_url, f"trust{tag}")
        assert other.token
