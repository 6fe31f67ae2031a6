"""The limiter: fast and polite with or without a known quota.

A given ``quota=`` is a hard ceiling, paced evenly (a GCRA-style schedule). Without one, the
limiter learns the limit from the server: calls in flight grow while calls succeed and
latency holds (slow start, then additive increase, in the spirit of TCP and Netflix's
concurrency-limits); a 429 sets the pace to the inputs per second the server actually
accepted just before it and holds everyone back for the ``retryDelay``; later, the pace
probes upward, rarely, so a raised quota is found without a 429 storm. One ``Limiter`` per
(credentials, model) is shared in the process, so two Embedders on one project do not each
believe they own the quota. A circuit breaker ends a total outage fast.

One schedule serves threads and coroutines alike: ``reserve`` books the next free slot and
returns how long the caller must wait; the caller sleeps (``time.sleep`` or
``asyncio.sleep``) on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .errors import APIError, ServiceOutage
from .limits import Quota

logger = logging.getLogger("ge2")

#: Pace to this share of a given quota. At exactly 100% every request lands on the edge of
#: the server's window, so any jitter between our clock and its counter (a slow wake-up, a
#: busy server) makes a 429; 2% slack absorbs ~20 ms of jitter per second of window.
HEADROOM = 0.98
#: Pace to this share of a learned rate: the estimate itself is noisy by a call or so.
LEARNED_HEADROOM = 0.97
#: Calls in flight before anything is known: conservative; slow start doubles it per round.
INITIAL_CONCURRENCY = 2
#: Shortest window over which the accepted rate is measured after a 429, in seconds.
MIN_MEASURE_S = 1.0
#: After a cut, the pace recovers toward the measured rate with this time constant (s).
RECOVER_S = 2.0
#: Window measured after a 429 once a rate is known (longer: steadier).
STEADY_MEASURE_S = 3.0
#: Against a learned rate, inputs actually sent in any window this long stay within it (a
#: little over a second: the server's clock sees our sends a little later than we do).
SEND_WINDOW_S = 1.05
#: Successes and in-flight calls are remembered this long (the longest quota window).
HISTORY_S = 120.0
#: After a 429, hold the learned pace this long before probing above it; a probe that
#: meets a 429 doubles the hold (up to ``MAX_PROBE_HOLD_S``), so probing costs at most one
#: 429 per hold.
PROBE_HOLD_S = 60.0
MAX_PROBE_HOLD_S = 300.0
#: A probe raises the pace by this share.
PROBE_STEP = 0.05
#: Latency "holds" while a call takes at most this multiple of the recent minimum (+ slack).
LATENCY_TOLERANCE = 2.0
LATENCY_SLACK_S = 0.05
#: Consecutive failed calls (5xx, dropped connections; no success in between) that open the
#: circuit breaker, and how long it stays open before one trial call may go.
BREAKER_THRESHOLD = 8
BREAKER_COOLDOWN_S = 30.0
#: At most one WARNING line per this many seconds summarises rate limiting and retries.
WARN_EVERY_S = 30.0


@dataclass
class Ticket:
    """One call on its way: when it left and how many inputs it carries."""

    sent: float
    units: int
    trial: bool = False


class Limiter:
    """Shared pacing, concurrency and outage state for one (credentials, model).

    Thread-safe; async callers use ``aacquire``. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 1,
        clock: Callable[[], float] = time.monotonic,
        breaker_threshold: int = BREAKER_THRESHOLD,
        breaker_cooldown_s: float = BREAKER_COOLDOWN_S,
        probe_hold_s: float = PROBE_HOLD_S,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.cap = max(1, max_concurrency)
        # pacing
        self._next_free = 0.0
        self.learned_rate: float | None = None  # inputs/s the server accepted, once known
        self._last_cut = -1e18
        self._cut_anchor = -1e18
        self._target = 0.0
        self._cut_rate = 0.0
        self._cut_time = 0.0
        self._probe_hold = probe_hold_s
        self._base_hold = probe_hold_s
        self._probing = False
        self._episode: tuple[float, float, float | None, float] | None = None
        # concurrency
        self.window = float(INITIAL_CONCURRENCY)
        self._slow_start = True
        self.in_flight = 0
        self._waiters: deque[Callable[[], None]] = deque()
        self._open: dict[int, Ticket] = {}
        self._accepted: deque[tuple[float, int]] = deque()
        self._sends: deque[tuple[float, int]] = deque()
        self._latencies: deque[tuple[float, float]] = deque()
        self._last_latency_cut = -1e18
        self._smoothed: float | None = None
        # outage breaker
        self._threshold = breaker_threshold
        self._cooldown = breaker_cooldown_s
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False
        self._outage: ServiceOutage | None = None
        # quiet logging
        self._last_warn = -1e18
        self._pending_429 = 0
        self._pending_5xx = 0
        self.rejections = 0

    # -- configuration -------------------------------------------------------------------

    def attach(self, max_concurrency: int, quota: Quota | None) -> None:
        """A new user of this limiter: the concurrency cap is the largest any user allows.

        With a quota given, the pacer holds the rate, so calls in flight need no slow start.
        """
        with self._lock:
            self.cap = max(self.cap, max_concurrency)
            if quota is not None and self._slow_start:
                self.window = max(self.window, float(max_concurrency))

    @property
    def concurrency_limit(self) -> int:
        return max(1, min(self.cap, int(self.window)))

    # -- concurrency slots ---------------------------------------------------------------

    def acquire(self) -> None:
        """Block until a call may be in flight."""
        event = threading.Event()
        with self._lock:
            if self.in_flight < self.concurrency_limit and not self._waiters:
                self.in_flight += 1
                return
            self._waiters.append(event.set)
        event.wait()

    async def aacquire(self) -> None:
        """Async twin of ``acquire``; a cancelled waiter gives its slot back."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, fut)

        with self._lock:
            if self.in_flight < self.concurrency_limit and not self._waiters:
                self.in_flight += 1
                return
            self._waiters.append(wake)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if wake in self._waiters:
                    self._waiters.remove(wake)
                    raise
            self.release()
            raise

    def release(self) -> None:
        """A call left flight: hand its slot to the next waiter, if the limit allows."""
        with self._lock:
            self.in_flight -= 1
            wake = self._handoff()
        for w in wake:
            w()

    def _handoff(self) -> list[Callable[[], None]]:
        wake: list[Callable[[], None]] = []
        while self._waiters and self.in_flight < self.concurrency_limit:
            self.in_flight += 1
            wake.append(self._waiters.popleft())
        return wake

    # -- pacing --------------------------------------------------------------------------

    def reserve(self, units: int, tokens: int = 0, quota: Quota | None = None) -> float:
        """Book a call of ``units`` inputs and ``tokens`` tokens; seconds to wait before it.

        The cost on the shared timeline is the larger of what ``quota`` (a ceiling) and the
        learned rate allow, so several users with the same quota stay within it together.
        """
        cost = 0.0
        if quota is not None:
            n = units if quota.per == "input" else 1
            cost = n * 60.0 / quota.requests_per_minute
            if quota.tokens_per_minute:
                cost = max(cost, tokens * 60.0 / quota.tokens_per_minute)
            cost /= HEADROOM
        with self._lock:
            if self.learned_rate:
                cost = max(cost, units / (self.learned_rate * LEARNED_HEADROOM))
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + cost
            return float(start - now)

    def back_off(self, seconds: float) -> None:
        """Hold every caller back: the server said its window is full for ``seconds``."""
        with self._lock:
            self._next_free = max(self._next_free, self._clock() + seconds)

    # -- outcomes ------------------------------------------------------------------------

    def admit(self) -> ServiceOutage | None:
        """None if a call may go now; the outage error while the breaker is open.

        After the cool-down one caller gets through as a trial (half-open); its answer
        closes the breaker or opens it again.
        """
        with self._lock:
            if self._opened_at is None:
                return None
            if self._trial_out or self._clock() < self._opened_at + self._cooldown:
                return self._outage
            self._trial_out = True
            return None

    def depart(self, units: int) -> Ticket | float:
        """Record that a call leaves now, or seconds to wait if it must not leave yet.

        The booked schedule spaces calls evenly, but a thread or task that wakes late lets
        the next ones bunch up; against a learned rate, the inputs actually sent in the last
        ``SEND_WINDOW_S`` are checked too, so late wake-ups never add up to a burst.
        """
        with self._lock:
            now = self._clock()
            while self._sends and self._sends[0][0] <= now - SEND_WINDOW_S:
                self._sends.popleft()
            if self.learned_rate and self._sends:
                budget = max(self.learned_rate * SEND_WINDOW_S, float(units))
                used = sum(u for _, u in self._sends)
                if used + units > budget:
                    freed, wait = 0, SEND_WINDOW_S
                    for stamp, u in self._sends:
                        freed += u
                        if used - freed + units <= budget:
                            wait = stamp + SEND_WINDOW_S - now
                            break
                    return max(wait, 1e-3)
            self._sends.append((now, units))
            trial = self._trial_out and self._opened_at is not None
            ticket = Ticket(now, units, trial)
            self._open[id(ticket)] = ticket
            return ticket

    def succeeded(self, ticket: Ticket) -> None:
        """The call was answered with vectors: count its inputs as accepted, grow."""
        with self._lock:
            now = self._clock()
            self._open.pop(id(ticket), None)
            self._accepted.append((ticket.sent, ticket.units))
            self._forget(now)
            self._close_breaker()
            latency = now - ticket.sent
            self._latencies.append((now, latency))
            floor = min(lat for _, lat in self._latencies)
            self._smoothed = (
                latency if self._smoothed is None else (0.8 * self._smoothed + 0.2 * latency)
            )
            if self._smoothed > LATENCY_TOLERANCE * floor + LATENCY_SLACK_S:
                # The server is slowing down: fewer calls in flight, at most once a round.
                if now - self._last_latency_cut > self._smoothed:
                    self.window = max(float(INITIAL_CONCURRENCY), self.window * 0.9)
                    self._slow_start = False
                    self._last_latency_cut = now
            elif self.window < self.cap:
                # Once a rate is learned the pace holds the quota, so calls in flight only
                # need to follow latency: they keep growing by one per success.
                grow_fast = self._slow_start or self.learned_rate is not None
                self.window += 1.0 if grow_fast else 1.0 / self.window
            if self.learned_rate and self.learned_rate < self._target:
                gap = (self._target - self._cut_rate) * math.exp(
                    -(now - self._cut_time) / RECOVER_S
                )
                self.learned_rate = self._target - gap
            if self.learned_rate and now - self._last_cut >= self._probe_hold:
                # Clean for a whole hold: try a little faster (a raised quota is found).
                self.learned_rate *= 1.0 + PROBE_STEP
                self._target = self._cut_rate = self.learned_rate
                self._last_cut = now
                self._probing = True
            self._settle()
            wake = self._handoff()
        for w in wake:
            w()

    def rate_limited(self, ticket: Ticket, delay: float, *, per_day: bool = False) -> None:
        """A 429: pace to the rate the server accepted just before, hold back ``delay``.

        One cut per episode: 429s for calls sent before the last cut were sent at the old
        pace and say nothing new. The accepted rate is final once every call sent before
        the refused one has its answer; until then the known successes give a lower bound.
        """
        with self._lock:
            now = self._clock()
            self._open.pop(id(ticket), None)
            self.rejections += 1
            self._pending_429 += 1
            self._close_breaker()
            self._slow_start = False
            if not per_day and ticket.sent > self._last_cut:
                # Discovery measures the last second (the pace was still rising); later 429s
                # measure longer, so one call's jitter does not read as a lower quota.
                # (not reaching back past the previous cut: the pace was lower then).
                shortest = MIN_MEASURE_S
                if self.learned_rate is not None:
                    since = ticket.sent - self._cut_anchor
                    shortest = max(MIN_MEASURE_S, min(STEADY_MEASURE_S, since))
                horizon = min(HISTORY_S, max(shortest, delay))
                self._cut_anchor = ticket.sent
                floor = ticket.units / horizon  # at least one such call per window
                self._episode = (ticket.sent, horizon, self.learned_rate, floor)
                known = self._accepted_between(ticket.sent - horizon, ticket.sent)
                self._set_rate(known / horizon, self.learned_rate, floor)
                if self._probing:
                    self._probe_hold = min(MAX_PROBE_HOLD_S, self._probe_hold * 2)
                else:
                    self._probe_hold = self._base_hold
                self._probing = False
                self._last_cut = now
            if delay > 0:
                self._next_free = max(self._next_free, now + delay)
            self._settle()

    def _accepted_between(self, start: float, end: float) -> int:
        return sum(u for sent, u in self._accepted if start < sent <= end)

    def _set_rate(self, measured: float, before: float | None, floor: float) -> None:
        """Cut the pace after a 429 and set what it recovers to (the rate just accepted).

        The first 429 sets both to the measured rate. Later: cut by at least 10% (AIMD)
        and at most half, then recover over a few seconds to the measured rate (a 429 from
        jitter costs a dip, not a minute at a lower pace; a lowered quota keeps it lower).
        """
        if before is None:
            self.learned_rate = self._target = max(floor, measured)
        else:
            self.learned_rate = max(floor, before / 2, min(before * 0.9, measured))
            self._target = max(self.learned_rate, min(before, measured))
        self._cut_rate = self.learned_rate
        self._cut_time = self._clock()

    def _settle(self) -> None:
        """Finish the open 429 episode once every call sent before it has its answer."""
        if self._episode is None:
            return
        anchor, horizon, before, floor = self._episode
        if any(t.sent <= anchor for t in self._open.values()):
            return
        self._episode = None
        accepted = self._accepted_between(anchor - horizon, anchor)
        if accepted:
            self._set_rate(accepted / horizon, before, floor)
        logger.debug(
            "limit learned: %d inputs accepted in the %.2f s before a 429: %.1f inputs/s",
            accepted,
            horizon,
            self.learned_rate or 0.0,
        )

    def failed(self, ticket: Ticket, error: APIError, *, server: bool) -> ServiceOutage | None:
        """A call failed (``server``: a 5xx or a dropped connection). Returns the outage
        error if the breaker is now open, so the caller stops instead of retrying."""
        with self._lock:
            self._open.pop(id(ticket), None)
            self._settle()
            if not server:
                if ticket.trial:
                    self._close_breaker()
                return None
            self._pending_5xx += 1
            self._consecutive += 1
            if ticket.trial or (self._opened_at is None and self._consecutive >= self._threshold):
                self._opened_at = self._clock()
                self._trial_out = False
                self._outage = ServiceOutage(
                    f"the embedding service looks down: {self._consecutive} calls in a row "
                    f"failed (last: {error}); ge2 stopped sending instead of retrying every "
                    "item. Inputs embedded before the outage are kept (EmbeddingError.vectors, "
                    "and the cache when on); run again to resume",
                    code=error.code,
                    status=error.status,
                    details=error.details,
                )
            return self._outage if self._opened_at is not None else None

    def abandoned(self, ticket: Ticket) -> None:
        """The call ended in a way that says nothing about the server (a local error)."""
        with self._lock:
            self._open.pop(id(ticket), None)
            self._settle()
            if ticket.trial:
                self._trial_out = False

    def _close_breaker(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_out = False
        self._outage = None

    def _forget(self, now: float) -> None:
        while self._accepted and self._accepted[0][0] < now - HISTORY_S:
            self._accepted.popleft()
        while self._latencies and self._latencies[0][0] < now - HISTORY_S / 2:
            self._latencies.popleft()

    # -- quiet logging -------------------------------------------------------------------

    def note_retry(self, message: str) -> None:
        """Per-retry detail at DEBUG; at most one WARNING per ``WARN_EVERY_S`` summarising."""
        logger.debug("%s", message)
        with self._lock:
            now = self._clock()
            if now - self._last_warn < WARN_EVERY_S:
                return
            self._last_warn = now
            n429, n5xx = self._pending_429, self._pending_5xx
            self._pending_429 = self._pending_5xx = 0
            rate, limit = self.learned_rate, self.concurrency_limit
        parts = []
        if n429:
            pace = (
                f"now pacing to {rate * LEARNED_HEADROOM:.1f} inputs/s learned from the server"
                if rate
                else "pace not learned yet"
            )
            parts.append(f"{n429} answer(s) were 429 (rate limited); {pace}")
        if n5xx:
            parts.append(f"{n5xx} call(s) failed with a server or connection error")
        summary = "; ".join(parts) or "retrying"
        logger.warning(
            "ge2: %s; up to %d calls in flight; retrying (next summary in %.0f s at most, "
            "per-retry details at DEBUG; quota=ge2.Quota(...) sets a ceiling)",
            summary,
            limit,
            WARN_EVERY_S,
        )


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Pacer:
    """One Embedder's view of its limiter: its own quota ceiling over the shared state.

    ``reserve`` and ``back_off`` keep the original even-pacing API; the limiter is bound on
    first use (the shared one for the Embedder's credentials and model, or a private one).
    """

    def __init__(
        self,
        quota: Quota | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_concurrency: int = 1,
        limiter: Limiter | None = None,
    ) -> None:
        self.quota = quota
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._limiter = limiter
        self._bind_lock = threading.Lock()
        if limiter is not None:
            limiter.attach(max_concurrency, quota)

    @property
    def bound(self) -> bool:
        return self._limiter is not None

    def bind(self, factory: Callable[[], Limiter]) -> Limiter:
        """The limiter, created by ``factory`` on first use."""
        with self._bind_lock:
            if self._limiter is None:
                self._limiter = factory()
                self._limiter.attach(self.max_concurrency, self.quota)
            return self._limiter

    @property
    def limiter(self) -> Limiter:
        return self.bind(lambda: Limiter(max_concurrency=self.max_concurrency, clock=self._clock))

    def reserve(self, items: int, tokens: int = 0) -> float:
        """Book a request of ``items`` inputs and ``tokens`` tokens; seconds to wait before it."""
        return self.limiter.reserve(items, tokens, self.quota)

    def back_off(self, seconds: float) -> None:
        """After a 429, hold every caller back: the server told us the window is full."""
        self.limiter.back_off(seconds)


# -- one limiter per (credentials, model) in the process ------------------------------------

_SHARED: dict[Hashable, Limiter] = {}
_SHARED_LOCK = threading.Lock()


def secret_digest(secret: str) -> str:
    """A stable, non-reversible name for a key (the registry never holds the key itself)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def shared_limiter(key: Hashable) -> Limiter:
    """The process's limiter for ``key`` ((credentials identity, endpoint, model))."""
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = Limiter()
        return found


def forget_shared() -> None:
    """Drop every shared limiter (what was learned starts over); for tests and long runs."""
    with _SHARED_LOCK:
        _SHARED.clear()


__all__ = [
    "HEADROOM",
    "Limiter",
    "Pacer",
    "Ticket",
    "forget_shared",
    "secret_digest",
    "shared_limiter",
]
