"""The limiter learns the limit from 429s, caps it by a given quota, and trips on outages."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import ge2
from ge2 import pacing, transport
from ge2.errors import ServiceOutage, ServiceUnavailable
from ge2.limits import Quota
from ge2.pacing import Limiter, Ticket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _go(lim: Limiter, units: int) -> Ticket:
    ticket = lim.depart(units)
    assert isinstance(ticket, Ticket)
    return ticket


def test_no_rate_until_a_429_then_the_accepted_rate() -> None:
    clock = FakeClock()
    lim = Limiter(max_concurrency=16, clock=clock)
    assert lim.reserve(100) == 0.0 and lim.learned_rate is None
    done = [_go(lim, 100) for _ in range(4)]
    clock.now += 0.5
    for t in done:
        lim.succeeded(t)
    assert lim.learned_rate is None
    in_flight = [_go(lim, 100) for _ in range(3)]  # sent before the refused one: let in
    refused = _go(lim, 100)
    clock.now += 0.01
    lim.rate_limited(refused, 0.2)
    # Not final while calls sent before the refusal are unanswered: a lower bound meanwhile.
    assert lim.learned_rate is not None and lim.learned_rate <= 400
    clock.now += 0.5
    for t in in_flight:
        lim.succeeded(t)
    # 4 + 3 calls of 100 inputs were accepted in the second before the 429.
    assert lim.learned_rate == pytest.approx(700.0)
    # Everyone waits the retryDelay, then calls are spaced at the learned pace.
    clock.now = refused.sent + 0.01
    lim.back_off(0.0)
    first = lim.reserve(100)
    second = lim.reserve(100)
    assert second - first == pytest.approx(100 / (700 * pacing.LEARNED_HEADROOM))


def test_one_cut_per_episode_and_at_most_half() -> None:
    clock = FakeClock()
    lim = Limiter(clock=clock)
    sent = [_go(lim, 10) for _ in range(10)]
    clock.now += 0.1
    lim.rate_limited(sent[-1], 0.0)
    for t in sent[:-1]:
        lim.succeeded(t)
    rate = lim.learned_rate
    assert rate == pytest.approx(90.0)
    # A second 429 for a call sent before the cut says nothing new.
    late = Ticket(sent[0].sent, 10)
    lim.rate_limited(late, 0.0)
    assert lim.learned_rate == pytest.approx(rate)
    # A later 429 with nothing accepted cuts to at most half, never to zero.
    clock.now += 5.0
    lone = _go(lim, 10)
    lim.rate_limited(lone, 0.0)
    assert lim.learned_rate == pytest.approx(rate / 2)
    for _ in range(20):
        clock.now += 5.0
        lim.rate_limited(_go(lim, 10), 0.0)
    assert lim.learned_rate == pytest.approx(10 / pacing.STEADY_MEASURE_S)


def test_a_given_quota_is_a_ceiling_the_learned_rate_never_exceeds() -> None:
    clock = FakeClock()
    lim = Limiter(clock=clock)
    lim.learned_rate = 10_000.0  # the server seems to allow far more
    quota = Quota(requests_per_minute=600)  # 10 inputs/s
    lim.reserve(10, quota=quota)
    assert lim.reserve(10, quota=quota) == pytest.approx(1.0 / pacing.HEADROOM)
    # and a learned rate below the quota wins
    lim2 = Limiter(clock=clock)
    lim2.learned_rate = 5.0
    lim2.reserve(10, quota=quota)
    assert lim2.reserve(10, quota=quota) == pytest.approx(2.0 / pacing.LEARNED_HEADROOM)


def test_sends_in_any_window_stay_within_the_learned_rate() -> None:
    clock = FakeClock()
    lim = Limiter(clock=clock)
    lim.learned_rate = 200.0  # two calls of 100 per ~second
    _go(lim, 100)
    _go(lim, 100)
    wait = lim.depart(100)
    assert isinstance(wait, float) and 0 < wait <= pacing.SEND_WINDOW_S
    clock.now += wait
    assert isinstance(lim.depart(100), Ticket)


def test_calls_in_flight_grow_while_calls_succeed_up_to_the_cap() -> None:
    clock = FakeClock()
    lim = Limiter(max_concurrency=8, clock=clock)
    assert lim.concurrency_limit == pacing.INITIAL_CONCURRENCY
    for _ in range(20):
        t = _go(lim, 1)
        clock.now += 0.05
        lim.succeeded(t)
    assert lim.concurrency_limit == 8


def test_latency_rising_shrinks_calls_in_flight() -> None:
    clock = FakeClock()
    lim = Limiter(max_concurrency=32, clock=clock)
    for _ in range(30):
        t = _go(lim, 1)
        clock.now += 0.05
        lim.succeeded(t)
    before = lim.concurrency_limit
    for _ in range(10):
        t = _go(lim, 1)
        clock.now += 2.0  # the server slows down 40x
        lim.succeeded(t)
    assert lim.concurrency_limit < before


def test_slots_block_beyond_the_limit_and_hand_over() -> None:
    lim = Limiter(max_concurrency=1)
    lim.window = 1.0
    lim.acquire()
    got = threading.Event()

    def second() -> None:
        lim.acquire()
        got.set()
        lim.release()

    th = threading.Thread(target=second)
    th.start()
    assert not got.wait(0.05)
    lim.release()
    th.join(2)
    assert got.is_set() and lim.in_flight == 0


def test_async_slots_and_cancellation_give_the_slot_back() -> None:
    lim = Limiter(max_concurrency=1)
    lim.window = 1.0

    async def main() -> None:
        await lim.aacquire()
        waiter = asyncio.create_task(lim.aacquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lim.release()
        await asyncio.wait_for(lim.aacquire(), 1)
        lim.release()

    asyncio.run(main())
    assert lim.in_flight == 0


def test_breaker_opens_after_consecutive_failures_and_half_opens() -> None:
    clock = FakeClock()
    lim = Limiter(clock=clock, breaker_threshold=3, breaker_cooldown_s=10.0)
    cause = ServiceUnavailable("503 UNAVAILABLE: down", code=503)
    assert lim.failed(_go(lim, 1), cause, server=True) is None
    lim.succeeded(_go(lim, 1))  # a success in between resets the count
    for _ in range(2):
        assert lim.failed(_go(lim, 1), cause, server=True) is None
    outage = lim.failed(_go(lim, 1), cause, server=True)
    assert isinstance(outage, ServiceOutage) and isinstance(outage, ServiceUnavailable)
    assert "503 UNAVAILABLE: down" in str(outage) and "run again to resume" in str(outage)
    assert lim.admit() is outage
    clock.now += 10.0
    assert lim.admit() is None  # one trial call
    assert lim.admit() is outage  # the others wait for its answer
    trial = _go(lim, 1)
    assert lim.failed(trial, cause, server=True) is not None  # failed: open again
    assert lim.admit() is not None
    clock.now += 10.0
    assert lim.admit() is None
    lim.succeeded(_go(lim, 1))
    assert lim.admit() is None  # closed


def test_client_errors_do_not_count_towards_the_breaker() -> None:
    lim = Limiter(breaker_threshold=2)
    bad = ge2.RequestRejected("400", code=400)
    for _ in range(5):
        assert lim.failed(_go(lim, 1), bad, server=False) is None
    assert lim.admit() is None


def test_at_most_one_warning_per_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    lim = Limiter(clock=clock)
    caplog.set_level(logging.DEBUG, logger="ge2")
    for i in range(50):
        lim.rate_limited(Ticket(clock.now, 1), 0.0)
        lim.note_retry(f"retry {i}")
        clock.now += 0.1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    debugs = [r for r in caplog.records if r.getMessage().startswith("retry ")]
    assert len(warnings) == 1 and len(debugs) == 50
    assert "429" in warnings[0].getMessage()
    clock.now += pacing.WARN_EVERY_S
    lim.rate_limited(Ticket(clock.now, 1), 0.0)
    lim.note_retry("retry again")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "50 answer(s) were 429" in warnings[1].getMessage()
    assert (lim.learned_rate or 0) >= 1 / pacing.STEADY_MEASURE_S  # never down to nothing


def test_one_shared_limiter_per_credentials_and_model_and_no_raw_key() -> None:
    a = ge2.Embedder(api_key="secret-key-1", base_url="http://127.0.0.1:9")
    b = ge2.Embedder(api_key="secret-key-1", base_url="http://127.0.0.1:9", dimensions=256)
    c = ge2.Embedder(api_key="secret-key-2", base_url="http://127.0.0.1:9")
    d = ge2.Embedder(api_key="secret-key-1", base_url="http://127.0.0.1:9", limiter="private")
    e = ge2.Embedder(api_key="secret-key-1", base_url="http://127.0.0.1:9", model="other")
    la, lb, lc, ld, le = (x._limiter() for x in (a, b, c, d, e))
    assert la is lb
    assert len({id(la), id(lc), id(ld), id(le)}) == 4
    key = transport.limiter_key(a.client, a.model)
    assert "secret-key-1" not in repr(key)
    assert pacing.secret_digest("secret-key-1") in repr(key)


def test_an_explicit_limiter_is_shared_and_a_bad_value_is_refused() -> None:
    lim = Limiter()
    a = ge2.Embedder(api_key="k", limiter=lim)
    b = ge2.Embedder(api_key="other", limiter=lim, max_concurrency=8)
    assert a._limiter() is lim and b._limiter() is lim
    with pytest.raises(ge2.ConfigurationError, match="private"):
        ge2.Embedder(api_key="k", limiter="global")  # type: ignore[arg-type]


def test_usage_reports_the_learned_rate() -> None:
    emb = ge2.Embedder(api_key="k", limiter="private")
    assert emb.usage.learned_rate is None
    lim = emb._limiter()
    lim.learned_rate = 100.0
    usage = emb.usage
    assert usage.learned_rate == pytest.approx(100.0 * pacing.LEARNED_HEADROOM)
    assert "inputs/s (learned)" in str(usage)


def test_one_cause_for_many_inputs_is_said_once() -> None:
    cause = ServiceOutage("the embedding service looks down")
    failures = [ge2.ItemFailure(i, cause, f"text {i}") for i in range(30)]
    err = ge2.EmbeddingError([None] * 30, failures)
    assert str(err).count("looks down") == 1
    assert "#0" in str(err) and "+20 more" in str(err)
