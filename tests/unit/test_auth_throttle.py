"""The failed-login sliding windows: limits, Retry-After, expiry, resets, bounded memory."""

from __future__ import annotations

from svc_auth.throttle import LoginThrottle, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_window_trips_at_the_limit_and_reports_the_wait() -> None:
    clock = Clock()
    window = SlidingWindow(limit=3, window_s=60, clock=clock)
    for _ in range(2):
        window.record("k")
        clock.t += 10
    assert window.retry_after_s("k") == 0
    window.record("k")  # failures at t=0, 10, 20
    assert window.retry_after_s("k") == 40  # until the t=0 failure leaves the window
    clock.t = 60.5
    assert window.retry_after_s("k") == 0


def test_keys_are_independent_and_reset_clears() -> None:
    window = SlidingWindow(limit=1, window_s=60, clock=Clock())
    window.record("a")
    assert window.retry_after_s("a") > 0
    assert window.retry_after_s("b") == 0
    window.reset("a")
    assert window.retry_after_s("a") == 0


def test_memory_is_bounded() -> None:
    window = SlidingWindow(limit=5, window_s=60, max_keys=100, clock=Clock())
    for i in range(1000):
        window.record(f"k{i}")
    assert len(window) == 100


def test_login_throttle_success_resets_email_not_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(window_s=300, max_per_email=2, max_per_address=3, clock=clock)
    throttle.record_failure("a@example.com", "1.2.3.4")
    throttle.record_failure("a@example.com", "1.2.3.4")
    assert throttle.retry_after_s("a@example.com", "5.6.7.8") > 0
    throttle.record_success("a@example.com", "1.2.3.4")
    assert throttle.retry_after_s("a@example.com", "5.6.7.8") == 0
    throttle.record_failure("b@example.com", "1.2.3.4")
    assert throttle.retry_after_s("c@example.com", "1.2.3.4") > 0  # address has 3 failures
    assert throttle.retry_after_s("c@example.com", "") == 0


def test_successes_alone_never_throttle() -> None:
    throttle = LoginThrottle(window_s=300, max_per_email=10, max_per_address=50, clock=Clock())
    for i in range(1000):
        assert throttle.retry_after_s(f"user{i}@example.com", "127.0.0.1") == 0
        throttle.record_success(f"user{i}@example.com", "127.0.0.1")
