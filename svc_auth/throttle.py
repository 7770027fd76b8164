"""Failed-login throttling: sliding windows of failures per email and per client address.

Only failures count, so many successful logins from one address (the seed's load test: 1000
users behind one IP) never trip it. A key with `limit` failures inside `window_s` is refused
until its oldest failure leaves the window (that wait is the Retry-After). A success clears the
email's window, not the address's (an attacker cannot reset an address by logging into their
own account).

In-process and bounded (`max_keys`, least recently touched dropped first): one auth process
serves all logins; several replicas would each enforce the limit on their own share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from svc_auth.config import ThrottleSettings


class SlidingWindow:
    def __init__(
        self,
        limit: int,
        window_s: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after_s(self, key: str) -> int:
        """0 when `key` may try now, else whole seconds until it may."""
        times = self._failures.get(key)
        if not times:
            return 0
        now = self._clock()
        self._expire(times, now)
        if not times:
            del self._failures[key]
            return 0
        if len(times) < self._limit:
            return 0
        return max(1, math.ceil(times[0] + self._window_s - now))

    def record(self, key: str) -> None:
        now = self._clock()
        times = self._failures.get(key)
        if times is None:
            times = deque(maxlen=max(self._limit, 1))
            self._failures[key] = times
        else:
            self._failures.move_to_end(key)
        self._expire(times, now)
        times.append(now)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self._window_s:
            times.popleft()


class LoginThrottle:
    """The two windows the login rule consults."""

    def __init__(
        self,
        window_s: float,
        max_per_email: int,
        max_per_address: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_email = SlidingWindow(max_per_email, window_s, max_keys, clock)
        self._by_address = SlidingWindow(max_per_address, window_s, max_keys, clock)

    @classmethod
    def from_settings(cls, settings: ThrottleSettings) -> LoginThrottle:
        return cls(settings.window_s, settings.max_failures_per_email,
                   settings.max_failures_per_address, settings.max_keys)

    def retry_after_s(self, email: str, address: str) -> int:
        wait = self._by_email.retry_after_s(email)
        if address:
            wait = max(wait, self._by_address.retry_after_s(address))
        return wait

    def record_failure(self, email: str, address: str) -> None:
        self._by_email.record(email)
        if address:
            self._by_address.record(address)

    def record_success(self, email: str, address: str) -> None:
        self._by_email.reset(email)
