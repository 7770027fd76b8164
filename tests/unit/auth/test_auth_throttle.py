"""Failed-login throttling (issue 10, defect 11): growing delays per (email, client) and per
client address, never a lockout of a client that has not failed, bounded memory."""

from __future__ import annotations

from svc_auth.throttle import GrowingDelay, LoginThrottle

ALICE = "alice@example.com"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_delays_start_past_the_allowance_and_double_up_to_the_cap() -> None:
    clock = Clock()
    key = GrowingDelay(allowance=3, window_s=300, max_delay_s=60, clock=clock)
    waits = []
    for _ in range(8):
        waits.append(key.retry_after_s("k"))
        clock.t += waits[-1]  # the client waits as told, then fails again
        key.record("k")
    assert waits == [0, 0, 0, 5, 10, 20, 40, 60]
    clock.t += 59
    assert key.retry_after_s("k") == 1
    clock.t += 1
    assert key.retry_after_s("k") == 0  # a wait, never a lockout


def test_a_key_is_forgotten_a_window_after_its_last_failure() -> None:
    clock = Clock()
    key = GrowingDelay(allowance=2, window_s=300, clock=clock)
    key.record("k")
    key.record("k")
    assert key.retry_after_s("k") > 0
    clock.t += 300
    assert key.retry_after_s("k") == 0
    key.record("k")
    assert key.retry_after_s("k") == 0  # counting starts again


def test_memory_is_bounded() -> None:
    key = GrowingDelay(allowance=5, window_s=60, max_keys=100, clock=Clock())
    for i in range(1000):
        key.record(f"k{i}")
    assert len(key) == 100


def test_failures_never_lock_out_a_client_that_has_not_failed() -> None:
    throttle = LoginThrottle(window_s=300, max_per_email=10, max_per_address=50, clock=Clock())
    for _ in range(100):  # an attacker hammers alice's account from one address
        throttle.record_failure(ALICE, "6.6.6.6")
    assert throttle.retry_after_s(ALICE, "6.6.6.6") > 0  # the attacker waits
    assert throttle.retry_after_s(ALICE, "1.2.3.4") == 0  # alice, elsewhere, does not


def test_a_flood_from_one_address_does_not_block_other_accounts_elsewhere() -> None:
    throttle = LoginThrottle(window_s=300, max_per_email=10, max_per_address=50, clock=Clock())
    for i in range(5000):
        throttle.record_failure(f"victim{i}@example.com", "6.6.6.6")
    assert throttle.retry_after_s("bob@example.com", "6.6.6.6") > 0  # that address waits
    assert throttle.retry_after_s("bob@example.com", "1.2.3.4") == 0
    assert throttle.retry_after_s("victim1@example.com", "1.2.3.4") == 0


def test_a_success_clears_the_client_not_the_address() -> None:
    throttle = LoginThrottle(window_s=300, max_per_email=2, max_per_address=3, clock=Clock())
    throttle.record_failure(ALICE, "1.2.3.4")
    throttle.record_failure(ALICE, "1.2.3.4")
    assert throttle.retry_after_s(ALICE, "1.2.3.4") > 0
    throttle.record_success(ALICE, "1.2.3.4")
    assert throttle.retry_after_s(ALICE, "1.2.3.4") == 0
    throttle.record_failure("b@example.com", "1.2.3.4")  # the address's third failure
    assert throttle.retry_after_s("c@example.com", "1.2.3.4") > 0
    assert throttle.retry_after_s("c@example.com", "") == 0


def test_successes_alone_never_throttle() -> None:
    throttle = LoginThrottle(window_s=300, max_per_email=10, max_per_address=50, clock=Clock())
    for i in range(1000):
        assert throttle.retry_after_s(f"user{i}@example.com", "127.0.0.1") == 0
        throttle.record_success(f"user{i}@example.com", "127.0.0.1")
