"""The pacer spaces requests evenly at the quota and backs everyone off after a 429."""

from __future__ import annotations

import random

from ge2.errors import QuotaExhausted
from ge2.limits import Quota
from ge2.pacing import HEADROOM, Pacer
from ge2.transport import Failure, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_quota_never_waits() -> None:
    assert Pacer(None).reserve(100) == 0.0


def test_inputs_per_minute_spacing() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600), clock=clock)  # 10 inputs/s
    assert pacer.reserve(10) == 0.0  # first call goes at once, books 1 s (plus headroom)
    assert abs(pacer.reserve(10) - 1.0 / HEADROOM) < 1e-9
    assert abs(pacer.reserve(5) - 2.0 / HEADROOM) < 1e-9
    clock.now += 10
    assert pacer.reserve(1) == 0.0


def test_requests_per_minute_counts_calls_not_inputs() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request"), clock=clock)
    pacer.reserve(100)
    assert abs(pacer.reserve(100) - 0.1 / HEADROOM) < 1e-9


def test_tokens_per_minute_can_dominate() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000, tokens_per_minute=60_000), clock=clock)
    pacer.reserve(1, tokens=2000)  # 2 s of token budget
    assert abs(pacer.reserve(1, tokens=10) - 2.0 / HEADROOM) < 1e-9


def test_back_off_holds_every_caller() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000), clock=clock)
    pacer.back_off(5.0)
    assert pacer.reserve(1) == 5.0


def test_paces_slightly_under_the_quota() -> None:
    """A sliding window of 10/s sees at most 10 calls in any second, even with 15 ms jitter."""
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request"), clock=clock)
    starts = [clock.now + pacer.reserve(100) for _ in range(50)]
    assert 0.9 < HEADROOM < 1.0
    # call k and call k+10 are more than one window apart, with room for jitter
    assert min(b - a for a, b in zip(starts, starts[10:], strict=False)) > 1.015
    assert starts[-1] - starts[0] < 49 * 0.1 * 1.03  # and no slower than ~2% under the quota


def test_retry_after_short_retry_delay_stays_short() -> None:
    """A 30 ms retryDelay is waited plus jitter of at most the delay, not a 1 s stall."""
    random.seed(9)
    failure = Failure(QuotaExhausted("rate limited"), retryable=True, delay=0.03, rate_limited=True)
    waits = [RetryPolicy(base_delay=1.0).delay(0, failure) for _ in range(200)]
    assert min(waits) >= 0.03
    assert max(waits) <= 0.06


def test_retry_after_long_retry_delay_jitters_up_to_base_delay() -> None:
    random.seed(9)
    failure = Failure(QuotaExhausted("rate limited"), retryable=True, delay=38.0, rate_limited=True)
    waits = [RetryPolicy(base_delay=1.0).delay(0, failure) for _ in range(200)]
    assert min(waits) >= 38.0 and max(waits) <= 39.0
    assert max(waits) - min(waits) > 0.5  # workers still spread out
