"""The pacer never overfills a quota window, bursts when the window has room, and backs
everyone off after a 429; retry delays honour the server's retryDelay."""

from __future__ import annotations

import random

import pytest

from ge2.errors import QuotaExhausted
from ge2.limits import Quota
from ge2.pacing import HEADROOM, Pacer
from ge2.transport import Failure, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _starts(pacer: Pacer, clock: FakeClock, n: int, items: int = 1, tokens: int = 0) -> list[float]:
    return [clock.now + pacer.reserve(items, tokens) for _ in range(n)]


def test_no_quota_never_waits() -> None:
    assert Pacer(None).reserve(100) == 0.0


def test_a_short_job_goes_out_at_once() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request", window_s=1.0), clock=clock)
    starts = _starts(pacer, clock, 10)
    assert starts == [clock.now] * 10  # 10 per second: the first window has room for all


def test_no_window_ever_holds_more_than_the_quota() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request", window_s=1.0), clock=clock)
    starts = _starts(pacer, clock, 50)
    # call k and call k+10 are more than one window apart, with room for jitter
    assert min(b - a for a, b in zip(starts, starts[10:], strict=False)) >= 1.0 / HEADROOM - 1e-9
    # and a long job runs no slower than ~2% under the quota
    assert starts[-1] - starts[0] <= 4 * 1.0 / HEADROOM + 1e-9


def test_inputs_are_counted_per_input_by_default() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=100), clock=clock)  # free tier: 100 inputs/min
    assert pacer.reserve(60) == 0.0
    assert pacer.reserve(40) == 0.0
    assert pacer.reserve(1) == pytest.approx(60.0 / HEADROOM)


def test_tokens_per_minute_can_dominate() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000, tokens_per_minute=30_000), clock=clock)
    assert pacer.reserve(1, tokens=20_000) == 0.0
    assert pacer.reserve(1, tokens=20_000) == pytest.approx(60.0 / HEADROOM)


def test_an_oversized_request_waits_for_an_empty_window() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=50), clock=clock)
    assert pacer.reserve(10) == 0.0
    assert pacer.reserve(100) == pytest.approx(60.0 / HEADROOM)


def test_time_passing_frees_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request", window_s=1.0), clock=clock)
    _starts(pacer, clock, 10)
    clock.now += 5
    assert pacer.reserve(1) == 0.0


def test_back_off_holds_every_caller() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000), clock=clock)
    pacer.back_off(5.0)
    assert pacer.reserve(1) == 5.0


def test_quota_is_validated() -> None:
    with pytest.raises(ValueError, match="per"):
        Quota(100, per="minute")
    with pytest.raises(ValueError, match="window_s"):
        Quota(100, window_s=0)


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
