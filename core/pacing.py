"""Pacing to a quota, so a job runs at the allowed rate instead of into 429 storms.

Quotas are counted in windows (the Gemini API: inputs and tokens per minute). The pacer
keeps a log of what it booked and starts a request at the earliest moment when the window
that ends then still has room: a short job goes out at once, a long one settles at the
quota's rate, and no window ever holds more than the quota allows. One schedule serves
threads and coroutines alike: ``reserve`` books a slot and returns how long to wait; the
caller sleeps (``time.sleep`` or ``asyncio.sleep``) on its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .limits import Quota

#: Pace to this share of the quota. The server's window starts when a request arrives, and
#: arrival times jitter (a slow wake-up, a busy server); stretching our window by ~2% absorbs
#: ~20 ms of jitter per second of window.
HEADROOM = 0.98


class Pacer:
    """Books requests so that no quota window (``Quota.window_s``) is ever overfilled."""

    def __init__(self, quota: Quota | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._lock = threading.Lock()
        self._log: deque[tuple[float, float, float]] = deque()  # (start, units, tokens)
        self._hold_until = 0.0

    def _capacity(self) -> tuple[float, float, float]:
        q = self.quota
        assert q is not None
        share = q.window_s / 60.0
        units = q.requests_per_minute * share
        tokens = q.tokens_per_minute * share if q.tokens_per_minute else float("inf")
        return q.window_s / HEADROOM, units, tokens

    def reserve(self, items: int, tokens: int = 0) -> float:
        """Book a request of ``items`` inputs and ``tokens`` tokens; seconds to wait before it."""
        if self.quota is None:
            return 0.0
        window, cap_units, cap_tokens = self._capacity()
        # A request larger than a whole window waits for an empty window (and still counts
        # as full), rather than never fitting.
        units = min(float(items if self.quota.per == "input" else 1), cap_units)
        tokens_ = min(float(tokens), cap_tokens)
        with self._lock:
            now = self._clock()
            while self._log and self._log[0][0] <= now - window:
                self._log.popleft()
            start = max(now, self._hold_until, self._log[-1][0] if self._log else now)
            while True:
                live = [entry for entry in self._log if entry[0] > start - window]
                used_units = sum(entry[1] for entry in live)
                used_tokens = sum(entry[2] for entry in live)
                if used_units + units <= cap_units + 1e-9 and used_tokens + tokens_ <= cap_tokens:
                    break
                start = live[0][0] + window  # when the oldest booking leaves the window
            self._log.append((start, units, tokens_))
            return float(start - now)

    def back_off(self, seconds: float) -> None:
        """After a 429, hold every caller back: the server told us the window is full."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)
