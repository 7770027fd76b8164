"""Edge rate limiter: bucket arithmetic, settings, fallback when Redis fails, and the middleware's
429 answer (status, body, headers) as a client sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common.config import ConfigError, load
from common.tokens import Identity, TokenError, TokenVerifier
from edge import middleware
from edge.keys import VERIFIER
from edge.ratelimit import middleware as ratelimit
from edge.ratelimit import spec
from edge.ratelimit.local import LocalStore
from edge.ratelimit.middleware import LIMITER, RateLimiter
from edge.ratelimit.spec import Limit, RateLimitSettings, route_group

Client = TestClient[web.Request, web.Application]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------------------- parsing, settings
@pytest.mark.parametrize(
    ("spec", "rate", "burst"),
    [
        ("20/s", 20.0, 40),
        ("20/s:5", 20.0, 5),
        ("600/m", 10.0, 600),
        ("60/min:10", 1.0, 10),
        (" 2.5 / s : 3 ", 2.5, 3),
        ("1/s", 1.0, 2),
    ],
)
def test_limit_parse(spec: str, rate: float, burst: int) -> None:
    assert Limit.parse(spec) == Limit(rate, burst)


@pytest.mark.parametrize("spec", ["0", "off", "OFF", "none"])
def test_limit_parse_disabled(spec: str) -> None:
    assert Limit.parse(spec) is None


@pytest.mark.parametrize("spec", ["20", "fast", "20/h", "-1/s", "20/s:x", "20/s:0"])
def test_limit_parse_rejects(spec: str) -> None:
    with pytest.raises(ValueError):
        Limit.parse(spec)


def test_settings_defaults_and_overrides() -> None:
    settings = load(RateLimitSettings, {
        "GOVAULT_RATE_UPLOAD_USER": "5/s:7",
        "GOVAULT_RATE_FILES_IP": "off",
    })
    assert settings.enabled
    assert settings.limits[("upload", "user")] == Limit(5.0, 7)
    assert settings.limits[("files", "ip")] is None
    assert settings.limits[("auth", "ip")] == Limit.parse(spec.DEFAULT_SPECS[("auth", "ip")])
    assert set(settings.limits) == {(g, s) for g in spec.GROUPS for s in spec.SCOPES}


def test_settings_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="GOVAULT_RATE_AUTH_USER"):
        load(RateLimitSettings, {"GOVAULT_RATE_AUTH_USER": "lots"})


def test_settings_can_be_disabled() -> None:
    assert not load(RateLimitSettings, {"GOVAULT_RATE_LIMIT_ENABLED": "false"}).enabled


def test_defaults_fit_the_seed_load_test() -> None:
    """1000 users behind one address at ~1500 req/s, ~5 requests per user per iteration."""
    limits = load(RateLimitSettings, {}).limits
    for group in ("upload", "files"):
        ip = limits[(group, "ip")]
        assert ip is not None and ip.rate_per_s >= 1500 and ip.burst >= 3000
    for group in spec.GROUPS:
        user = limits[(group, "user")]
        assert user is not None and user.burst >= 20 and user.rate_per_s >= 10


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/auth/login", "auth"),
        ("/auth/me", "auth"),
        ("/api/upload/proxy/chunk", "upload"),
        ("/api/files/me/owned", "files"),
        ("/api/files/f/123/download", "files"),
        ("/nope", "default"),
        ("/authx", "default"),
        ("/health", None),
        ("/ready", None),
        ("/openapi.json", None),
    ],
)
def test_route_group(path: str, group: str | None) -> None:
    assert route_group(path) == group


# ----------------------------------------------------------------------------- local buckets
def test_bucket_allows_burst_then_refuses_then_refills() -> None:
    clock = FakeClock()
    store = LocalStore(clock=clock)
    bucket = [("k", Limit(2.0, 3))]
    decisions = [store.take_now(bucket) for _ in range(3)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = store.take_now(bucket)
    assert not refused.allowed
    assert refused.retry_after_s == 1  # one token at 2/s: 0.5 s, rounded up
    assert refused.headers()["Retry-After"] == "1"
    clock.now += 0.5
    assert store.take_now(bucket).allowed
    assert not store.take_now(bucket).allowed
    clock.now += 100
    after = store.take_now(bucket)
    assert after.allowed and after.remaining == 2  # never above the burst


def test_retry_after_for_slow_bucket() -> None:
    clock = FakeClock()
    store = LocalStore(clock=clock)
    bucket = [("slow", Limit(1 / 60, 1))]
    assert store.take_now(bucket).allowed
    refused = store.take_now(bucket)
    assert not refused.allowed and refused.retry_after_s == 60
    assert refused.reset_s == 60


def test_all_or_nothing_across_buckets() -> None:
    """A refusal by the user's bucket does not spend the address's budget (and vice versa)."""
    clock = FakeClock()
    store = LocalStore(clock=clock)
    ip, user = ("ip", Limit(1.0, 10)), ("user", Limit(1.0, 1))
    assert store.take_now([ip, user]).allowed
    for _ in range(5):
        assert not store.take_now([ip, user]).allowed
    only_ip = store.take_now([ip])
    assert only_ip.allowed and only_ip.remaining == 8  # 10 - first request - this one


def test_headers_describe_the_bucket_closest_to_empty() -> None:
    store = LocalStore(clock=FakeClock())
    decision = store.take_now([("ip", Limit(100.0, 1000)), ("user", Limit(1.0, 4))])
    assert decision.headers() == {
        "RateLimit-Limit": "4", "RateLimit-Remaining": "3", "RateLimit-Reset": "1"}


def test_keys_are_independent() -> None:
    store = LocalStore(clock=FakeClock())
    assert store.take_now([("a", Limit(1.0, 1))]).allowed
    assert not store.take_now([("a", Limit(1.0, 1))]).allowed
    assert store.take_now([("b", Limit(1.0, 1))]).allowed


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    store = LocalStore(max_keys=100, clock=clock)
    limit = Limit(10.0, 5)
    for i in range(1000):
        store.take_now([(f"k{i}", limit)])
        clock.now += 0.01
    assert len(store) <= 100
    # a bucket in use right now survives a sweep of the full ones
    clock.now += 1000
    for _ in range(5):
        store.take_now([("hot", limit)])
    for i in range(200):
        store.take_now([(f"n{i}", limit)])
    assert len(store) <= 100


# ----------------------------------------------------------------------------- limiter, fallback
class BrokenStore:
    def __init__(self) -> None:
        self.calls = 0

    async def take(self, buckets: list[spec.Bucket]) -> spec.Decision:
        self.calls += 1
        raise ConnectionError("redis is down")


def _tiny(**specs: str) -> RateLimitSettings:
    env = {f"GOVAULT_RATE_{k.upper()}": v for k, v in specs.items()}
    return load(RateLimitSettings, env)


async def test_shared_store_failure_falls_back_then_retries() -> None:
    clock = FakeClock()
    broken = BrokenStore()
    limiter = RateLimiter(_tiny(files_user="1/s:2"), shared=broken, clock=clock)
    first = await limiter.check("files", "10.0.0.1", "u1")
    assert first is not None and first.allowed
    assert broken.calls == 1 and not limiter.using_shared
    assert (await limiter.check("files", "10.0.0.1", "u1")).allowed  # type: ignore[union-attr]
    third = await limiter.check("files", "10.0.0.1", "u1")
    assert third is not None and not third.allowed  # the local budget is enforced meanwhile
    assert broken.calls == 1  # no Redis call while it is marked down
    clock.now += limiter.settings.redis_retry_s
    await limiter.check("files", "10.0.0.1", "u1")
    assert broken.calls == 2


async def test_no_bucket_when_both_scopes_are_off() -> None:
    limiter = RateLimiter(_tiny(default_ip="off", default_user="off"))
    assert await limiter.check("default", "10.0.0.1", "u1") is None


# ----------------------------------------------------------------------------- middleware (HTTP)
class FakeVerifier:
    async def verify(self, token: str) -> Identity:
        if not token.startswith("valid-"):
            raise TokenError("invalid access token")
        return Identity(token.removeprefix("valid-"), "name", "e@example.com", 2e9, token)


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _client(settings: RateLimitSettings) -> Client:
    app = web.Application(middlewares=[middleware.observe, ratelimit.limit])
    app[LIMITER] = RateLimiter(settings)
    app[VERIFIER] = cast(TokenVerifier, FakeVerifier())
    for path in ("/api/files/me/owned", "/health", "/auth/login"):
        app.router.add_get(path, _ok)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def tiny_client() -> AsyncIterator[Client]:
    client = await _client(_tiny(files_user="1/m:2", files_ip="1000/s", auth_ip="1/m:1"))
    yield client
    await client.close()


async def test_user_over_budget_gets_429_while_another_user_is_served(
    tiny_client: Client,
) -> None:
    alice = {"Authorization": "Bearer valid-alice"}
    bob = {"Authorization": "Bearer valid-bob"}
    for expected_remaining in ("1", "0"):
        response = await tiny_client.get("/api/files/me/owned", headers=alice)
        assert response.status == 200
        assert response.headers["RateLimit-Limit"] == "2"
        assert response.headers["RateLimit-Remaining"] == expected_remaining
    refused = await tiny_client.get("/api/files/me/owned",
                                    headers={**alice, "X-Request-ID": "rl-test-0001"})
    assert refused.status == 429
    body = await refused.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["request_id"] == "rl-test-0001" and body["error"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) > 0
    assert (await tiny_client.get("/api/files/me/owned", headers=bob)).status == 200


async def test_invalid_token_gets_no_user_bucket(tiny_client: Client) -> None:
    """A forged token must not spend a real user's budget: only the address bucket applies."""
    for _ in range(5):
        response = await tiny_client.get("/api/files/me/owned",
                                         headers={"Authorization": "Bearer forged-alice"})
        assert response.status == 200
    ok = await tiny_client.get("/api/files/me/owned",
                               headers={"Authorization": "Bearer valid-alice"})
    assert ok.status == 200


async def test_address_bucket_and_exempt_health(tiny_client: Client) -> None:
    assert (await tiny_client.get("/auth/login")).status == 200
    refused = await tiny_client.get("/auth/login")
    assert refused.status == 429
    assert (await refused.json())["code"] == "RATE_LIMITED"
    for _ in range(20):
        assert (await tiny_client.get("/health")).status == 200


async def test_disabled_limiter_adds_nothing() -> None:
    client = await _client(RateLimitSettings.disabled())
    try:
        response = await client.get("/auth/login")
        assert response.status == 200 and "RateLimit-Limit" not in response.headers
    finally:
        await client.close()


async def test_metric_counts_refusals(tiny_client: Client) -> None:
    before = ratelimit.RATE_LIMITED.labels("auth")._value.get()
    await tiny_client.get("/auth/login")
    await tiny_client.get("/auth/login")
    assert ratelimit.RATE_LIMITED.labels("auth")._value.get() >= before + 1


async def test_seed_load_pattern_is_never_limited() -> None:
    """The seed's load test through the default limits: 1000 users behind ONE address, all
    logging in at once, then iterations of refresh, list, session, chunk, complete at a peak of
    ~1500 requests/s for a minute, with extra-eager users (5 iterations/s). Not one refusal."""
    clock = FakeClock()
    limiter = RateLimiter(load(RateLimitSettings, {}), clock=clock)
    refused = 0

    async def hit(group: str, user: int | None) -> None:
        nonlocal refused
        decision = await limiter.check(group, "203.0.113.7", f"user-{user}" if user else None)
        refused += decision is not None and not decision.allowed

    for _ in range(1000):  # start: every user logs in within the same instant
        await hit("auth", None)
    iteration = [("auth", False), ("files", True), ("upload", True), ("upload", True),
                 ("upload", True)]
    tick = 0.01
    per_tick = int(1500 * tick / len(iteration))  # iterations started per tick at 1500 req/s
    next_user = 0
    for _ in range(int(60 / tick)):
        clock.now += tick
        for _ in range(per_tick):
            next_user = next_user % 1000 + 1
            for group, with_token in iteration:
                await hit(group, next_user if with_token else None)
    for _ in range(20):  # an eager user: 5 iterations within one second
        clock.now += 0.2
        for group, with_token in iteration:
            await hit(group, 1 if with_token else None)
    assert refused == 0
