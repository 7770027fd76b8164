"""Routes for the auth area: sign-up, login, refresh, logout, and the caller's account.

Each handler decodes its body into the area's model (`edge.api.auth`: fields, types and the
documented formats and lengths), makes one call to the auth service and shapes the answer.
Unknown JSON fields are ignored (clients of the original send `username` with a login).
"""

from __future__ import annotations

from aiohttp import web
from govault.auth.v1 import auth_pb2

from edge.api import auth as api
from edge.auth import require_identity
from edge.keys import USER_ID
from edge.request import read_model
from edge.shape import reply, timestamp
from edge.upstream import call, upstreams


async def signup(request: web.Request) -> web.Response:
    body = await read_model(request, api.SignUp)
    message = auth_pb2.SignUpRequest(username=body.username, email=body.email,
                                     password=body.password)
    answer = await call(request, upstreams(request).auth.SignUp, message)
    return reply(api.SignUpReply(message="signup successful", user_id=answer.user_id))


async def login(request: web.Request) -> web.Response:
    body = await read_model(request, api.Login)
    message = auth_pb2.LoginRequest(email=body.email, password=body.password)
    answer = await call(request, upstreams(request).auth.Login, message, as_service=True)
    user = answer.user
    request[USER_ID] = user.user_id
    return reply(api.LoginReply(
        token=answer.access_token, username=user.username, email=user.email,
        user_id=user.user_id, refresh_token=answer.refresh_token,
        expires_in=answer.expires_in_s))


async def refresh(request: web.Request) -> web.Response:
    body = await read_model(request, api.Refresh)
    message = auth_pb2.RefreshRequest(refresh_token=body.refresh_token)
    answer = await call(request, upstreams(request).auth.Refresh, message)
    return reply(api.RefreshReply(token=answer.access_token, refresh_token=answer.refresh_token,
                                  expires_in=answer.expires_in_s))


async def logout(request: web.Request) -> web.Response:
    body = await read_model(request, api.Logout)
    message = auth_pb2.LogoutRequest(refresh_token=body.refresh_token)
    await call(request, upstreams(request).auth.Logout, message)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    answer = await call(request, upstreams(request).auth.GetUser, auth_pb2.GetUserRequest(),
                        identity=identity)
    user = answer.user
    return reply(api.Me(user_id=user.user_id, username=user.username, email=user.email,
                        created_at=timestamp(user.created_at)))


def setup_routes(app: web.Application) -> None:
    for operation, handler in ((api.SIGNUP, signup), (api.LOGIN, login),
                               (api.REFRESH, refresh), (api.LOGOUT, logout), (api.ME, me)):
        app.router.add_route(operation.method.upper(), operation.path, handler)
