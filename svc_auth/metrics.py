"""Auth metrics (names and label sets as in CONTRIBUTING.md; labels from closed sets only)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from common.metrics import LATENCY_BUCKETS

LOGIN_OUTCOMES = ("success", "invalid_credentials", "throttled", "overloaded")
REFRESH_OUTCOMES = ("success", "invalid", "reused")

LOGINS = Counter("govault_auth_logins_total", "Login attempts by outcome", ["outcome"])
PASSWORD_HASH_SECONDS = Histogram(
    "govault_auth_password_hash_seconds",
    "Time spent computing one Argon2id hash or verification (in the worker thread)",
    buckets=LATENCY_BUCKETS,
)
REFRESHES = Counter("govault_auth_refresh_total", "Refresh-token rotations by outcome",
                    ["outcome"])

for _outcome in LOGIN_OUTCOMES:
    LOGINS.labels(_outcome)
for _outcome in REFRESH_OUTCOMES:
    REFRESHES.labels(_outcome)
