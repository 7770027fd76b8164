"""Failed-login throttling as OWASP advises: growing delays, never a lockout.

Failures are counted per (email, client address) and per client address. Within a key's
allowance (`GOVAULT_LOGIN_MAX_FAILURES_PER_EMAIL` per email and client, `..._PER_ADDRESS` per
client) nothing is delayed; past it, each further attempt must wait after the last failure, and
the wait doubles with every failure (5 s, 10 s, 20 s … up to `GOVAULT_LOGIN_THROTTLE_MAX_DELAY_S`);
that wait is the Retry-After. A key is forgotten `window_s` after its last failure.

So the correct password is never locked out for a client that has not failed: another client
(another address) is not delayed by someone else's failures against the same account, and a
flood of failures from one address delays only that address. Only failures count, so many
successful logins from one address (the seed's load test: 1000 users behind one IP) never
throttle. A success clears its (email, client) key, not the address's (an attacker cannot reset
an address by logging into their own account).

In-process and bounded (`max_keys`, least recently touched dropped first): one auth process
serves all logins; several replicas would each enforce it on their own share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from svc_auth.config import ThrottleSettings

FIRST_DELAY_S = 5.0


class GrowingDelay:
    """Failures per key → how long the key must wait before its next attempt."""

    def __init__(self, allowance: int, window_s: float, max_delay_s: float = 60.0,
                 max_keys: int = 100_000, first_delay_s: float = FIRST_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._allowance = allowance
        self._window_s = window_s
        self._max_delay_s = max_delay_s
        self._first_delay_s = min(first_delay_s, max_delay_s)
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, last

    def __len__(self) -> int:
        return len(self._failures)

    def delay_s(self, failures: int) -> float:
        """The wait after the `failures`-th failure."""
        if failures < self._allowance:
            return 0.0
        doublings = min(failures - self._allowance, 32)
        return min(self._max_delay_s, self._first_delay_s * float(2 ** doublings))

    def retry_after_s(self, key: str) -> int:
        """0 when `key` may try now, else whole seconds until it may."""
        entry = self._current(key)
        if entry is None:
            return 0
        count, last = entry
        remaining = last + self.delay_s(count) - self._clock()
        return max(1, math.ceil(remaining)) if remaining > 0 else 0

    def record(self, key: str) -> None:
        entry = self._current(key)
        count = entry[0] if entry else 0
        self._failures[key] = (count + 1, self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def _current(self, key: str) -> tuple[int, float] | None:
        entry = self._failures.get(key)
        if entry is not None and self._clock() - entry[1] >= self._window_s:
            del self._failures[key]
            return None
        return entry


class LoginThrottle:
    """The two keys the login rule consults: (email, client) and client."""

    def __init__(
        self,
        window_s: float,
        max_per_email: int,
        max_per_address: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        max_delay_s: float = 60.0,
    ) -> None:
        self._by_client = GrowingDelay(max_per_email, window_s, max_delay_s, max_keys,
                                       clock=clock)
        self._by_address = GrowingDelay(max_per_address, window_s, max_delay_s, max_keys,
                                        clock=clock)

    @classmethod
    def from_settings(cls, settings: ThrottleSettings) -> LoginThrottle:
        return cls(settings.window_s, settings.max_failures_per_email,
                   settings.max_failures_per_address, settings.max_keys,
                   max_delay_s=settings.max_delay_s)

    @staticmethod
    def _client(email: str, address: str) -> str:
        return f"{email}\x00{address}"  # NUL never occurs in either (refused at the boundary)

    def retry_after_s(self, email: str, address: str) -> int:
        wait = self._by_client.retry_after_s(self._client(email, address))
        if address:
            wait = max(wait, self._by_address.retry_after_s(address))
        return wait

    def record_failure(self, email: str, address: str) -> None:
        self._by_client.record(self._client(email, address))
        if address:
            self._by_address.record(address)

    def record_success(self, email: str, address: str) -> None:
        self._by_client.reset(self._client(email, address))
