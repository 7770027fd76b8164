"""What is limited and how much: route groups, token-bucket limits (`20/s:40`), the settings
read from `GOVAULT_RATE_*`, and a check's decision (the RateLimit-* headers)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Protocol

from pydantic import BeforeValidator

from common.config import Settings, load, var

GROUPS = ("auth", "upload", "files", "default")
SCOPES = ("ip", "user")
EXEMPT_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/openapi.yaml"})
_PREFIXES = (("/auth/", "auth"), ("/api/upload/", "upload"), ("/api/files/", "files"))

# (group, scope) -> spec. Per address: high (the seed's load test comes from one address);
# per user: moderate (a load-test user makes ~4-6 requests per iteration).
DEFAULT_SPECS: dict[tuple[str, str], str] = {
    ("auth", "ip"): "1000/s:2000",
    ("auth", "user"): "20/s:40",
    ("upload", "ip"): "3000/s:6000",
    ("upload", "user"): "50/s:100",
    ("files", "ip"): "3000/s:6000",
    ("files", "user"): "50/s:100",
    ("default", "ip"): "1000/s:2000",
    ("default", "user"): "50/s:100",
}

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*(?::\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Limit:
    """A token bucket: refills `rate_per_s`, holds at most `burst` tokens; a request costs one."""

    rate_per_s: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        """`20/s`, `20/s:40`, `600/m`, `600/m:100`; `0` or `off` → None (no limit)."""
        if text.strip().lower() in {"0", "off", "none", "unlimited"}:
            return None
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(f"rate limit {text!r} is not like '20/s', '20/s:40' or '600/m'")
        amount, unit, burst = float(match[1]), match[2], match[3]
        per_minute = unit.startswith("m")
        rate = amount / 60.0 if per_minute else amount
        if rate <= 0:
            return None
        default_burst = amount if per_minute else amount * 2
        size = int(burst) if burst is not None else max(1, math.ceil(default_burst))
        if size < 1:
            raise ValueError(f"rate limit {text!r}: burst must be at least 1")
        return cls(rate, size)

    def refill_s(self, tokens: float) -> float:
        """Seconds until a bucket holding `tokens` is full again."""
        return max(0.0, (self.burst - tokens) / self.rate_per_s)


def _limit(value: object) -> object:
    return Limit.parse(value) if isinstance(value, str) else value


RateSpec = Annotated[Limit | None, BeforeValidator(_limit)]


def _rate(group: str, scope: str) -> Any:
    who = "client address" if scope == "ip" else "verified user"
    routes = next((f"`{prefix}*`" for prefix, name in _PREFIXES if name == group),
                  "every other route")
    return var(f"RATE_{group.upper()}_{scope.upper()}", DEFAULT_SPECS[(group, scope)],
               validate_default=True, description=(
                   f"token bucket per {who} on {routes}: `20/s`, `20/s:40` (a burst of 40), "
                   "`600/m`; `off`: no limit"))


class RateLimitSettings(Settings):
    """`GOVAULT_RATE_*`: one bucket spec per (group, scope), the switch, and the Redis modes."""

    rate_limit_enabled: bool = var("RATE_LIMIT_ENABLED", True, description=(
        "`false` turns rate limiting off"))
    rate_auth_ip: RateSpec = _rate("auth", "ip")
    rate_auth_user: RateSpec = _rate("auth", "user")
    rate_upload_ip: RateSpec = _rate("upload", "ip")
    rate_upload_user: RateSpec = _rate("upload", "user")
    rate_files_ip: RateSpec = _rate("files", "ip")
    rate_files_user: RateSpec = _rate("files", "user")
    rate_default_ip: RateSpec = _rate("default", "ip")
    rate_default_user: RateSpec = _rate("default", "user")
    rate_redis_timeout_s: float = var("RATE_REDIS_TIMEOUT_S", 0.25, gt=0, description=(
        "bound of one Redis call; past it the edge counts in its own memory"))
    rate_redis_retry_s: float = var("RATE_REDIS_RETRY_S", 5.0, gt=0, description=(
        "wait before trying a failed Redis again"))
    rate_redis_sync_ms: float = var("RATE_REDIS_SYNC_MS", 100.0, ge=0, description=(
        "with Redis: spending is synced every this many ms and Redis decides near empty; 0: "
        "one Redis call per request"))
    rate_max_local_keys: int = var("RATE_MAX_LOCAL_KEYS", 200_000, ge=1, description=(
        "buckets kept in memory (least recently used dropped first)"))

    @property
    def enabled(self) -> bool:
        return self.rate_limit_enabled

    @cached_property
    def limits(self) -> Mapping[tuple[str, str], Limit | None]:
        return {(group, scope): getattr(self, f"rate_{group}_{scope}")
                for group in GROUPS for scope in SCOPES}

    @property
    def redis_timeout_s(self) -> float:
        return self.rate_redis_timeout_s

    @property
    def redis_retry_s(self) -> float:
        return self.rate_redis_retry_s

    @property
    def redis_sync_s(self) -> float:
        return self.rate_redis_sync_ms / 1000.0

    @property
    def max_local_keys(self) -> int:
        return self.rate_max_local_keys

    @classmethod
    def disabled(cls) -> RateLimitSettings:
        return load(cls, {"GOVAULT_RATE_LIMIT_ENABLED": "false"})


def route_group(path: str) -> str | None:
    """The group a path belongs to; None for the exempt operational routes."""
    if path in EXEMPT_PATHS:
        return None
    for prefix, group in _PREFIXES:
        if path.startswith(prefix):
            return group
    return "default"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # burst of the bucket closest to empty
    remaining: int  # whole tokens left in it
    reset_s: int  # seconds until it is full again
    retry_after_s: int  # when refused: seconds until every bucket has a token

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


Bucket = tuple[str, Limit]  # (key, limit)


def decide(limits: list[Limit], tokens: list[float], allowed: bool, wait_s: float) -> Decision:
    """Folds the buckets' states (after the check) into the headers' view of them."""
    index = min(range(len(limits)), key=lambda i: tokens[i] / limits[i].burst)
    limit = limits[index]
    return Decision(
        allowed=allowed,
        limit=limit.burst,
        remaining=max(0, math.floor(tokens[index])),
        reset_s=math.ceil(limit.refill_s(tokens[index])),
        retry_after_s=max(1, math.ceil(wait_s)),
    )


class Store(Protocol):
    async def take(self, buckets: list[Bucket]) -> Decision: ...
