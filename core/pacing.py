"""Even pacing to a quota, so a long job runs at the allowed rate instead of into 429s.

One schedule serves threads and coroutines alike: ``reserve`` books the next free slot and
returns how long the caller must wait; the caller sleeps (``time.sleep`` or
``asyncio.sleep``) on its own.
"""

from __future__ import annotations

import threading
import time

from .limits import Quota

#: Pace to this share of the quota. At exactly 100% every request lands on the edge of the
#: server's window, so any jitter between our clock and its counter (a slow wake-up, a busy
#: server) makes a 429; 2% slack absorbs ~20 ms of jitter per second of window.
HEADROOM = 0.98


class Pacer:
    """Books requests on a timeline spaced by the quota (a GCRA-style scheduler)."""

    def __init__(self, quota: Quota | None, clock: object = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = 0.0

    def reserve(self, items: int, tokens: int = 0) -> float:
        """Book a request of ``items`` inputs and ``tokens`` tokens; seconds to wait before it."""
        if self.quota is None:
            return 0.0
        q = self.quota
        units = items if q.per == "input" else 1
        cost = units * 60.0 / q.requests_per_minute
        if q.tokens_per_minute:
            cost = max(cost, tokens * 60.0 / q.tokens_per_minute)
        cost /= HEADROOM
        with self._lock:
            now = self._clock()  # type: ignore[operator]
            start = max(now, self._next_free)
            self._next_free = start + cost
            return float(start - now)

    def back_off(self, seconds: float) -> None:
        """After a 429, hold every caller back: the server told us the window is full."""
        with self._lock:
            now = self._clock()  # type: ignore[operator]
            self._next_free = max(self._next_free, now + seconds)
