"""The pacer spaces requests evenly at the quota and backs everyone off after a 429."""

from __future__ import annotations

from ge2.limits import Quota
from ge2.pacing import Pacer


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
    assert pacer.reserve(10) == 0.0  # first call goes at once, books 1 s
    assert pacer.reserve(10) == 1.0
    assert pacer.reserve(5) == 2.0
    clock.now += 10
    assert pacer.reserve(1) == 0.0


def test_requests_per_minute_counts_calls_not_inputs() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=600, per="request"), clock=clock)
    pacer.reserve(100)
    assert abs(pacer.reserve(100) - 0.1) < 1e-9


def test_tokens_per_minute_can_dominate() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000, tokens_per_minute=60_000), clock=clock)
    pacer.reserve(1, tokens=2000)  # 2 s of token budget
    assert abs(pacer.reserve(1, tokens=10) - 2.0) < 1e-9


def test_back_off_holds_every_caller() -> None:
    clock = FakeClock()
    pacer = Pacer(Quota(requests_per_minute=6000), clock=clock)
    pacer.back_off(5.0)
    assert pacer.reserve(1) == 5.0
