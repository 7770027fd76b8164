"""Rate limiting at the edge: token buckets per client address and per user, per route group.

    request ──► group (auth · upload · files · default; /health, /ready, /openapi.json exempt)
            ──► buckets: ip:<group>:<address>  and, with a valid access token, user:<group>:<id>
            ──► one atomic check of both (all or nothing) ──► 429 RATE_LIMITED + Retry-After

Limits come from `GOVAULT_RATE_<GROUP>_<IP|USER>` = `<n>/s` or `<n>/m`, optionally `:<burst>`
(`0` or `off` disables that bucket); `GOVAULT_RATE_LIMIT_ENABLED=false` turns the whole thing off.
The defaults let the seed's load test (1000 users behind ONE address, ~1500 req/s at peak) run
without a single 429: per-address budgets are high, per-user budgets moderate.

With `GOVAULT_REDIS_URL` several edge processes share one budget through Redis, in one of two
modes (`GOVAULT_RATE_REDIS_SYNC_MS`):
- synced (default, 100 ms): each edge decides from its in-process buckets at once, and every
  interval sends what it spent to Redis in ONE atomic Lua call, getting the shared levels back.
  A request costs ~10 µs instead of a Redis round trip (~100-250 µs of edge CPU measured here);
  edges can together overshoot a budget by what they spend within one interval.
- strict (`0`): every request is one atomic Lua token-bucket call (Redis's clock).
Each Redis call has a short timeout; when Redis fails the limiter logs it once, keeps deciding
from its in-process buckets, and tries Redis again a few seconds later. A limiter problem never
turns into a 500.

The user id is the verified one: the token verifier caches verified tokens, so checking here and
again in the handler costs one signature check per token, not two per request. An unverifiable
token gets no user bucket (the handler answers 401 anyway), so nobody can spend another user's
budget with a forged token.

Every answer of a limited group carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (the bucket closest to empty; reset = seconds until it is full again).

Modules: `spec` (groups, limits, settings, decisions), `local` (in-process buckets), `redis`
(the shared store: strict and synced modes), `middleware` (the limiter and the aiohttp
middleware). Import from the modules; this package imports nothing so that settings can be read
without loading the middleware.
"""
