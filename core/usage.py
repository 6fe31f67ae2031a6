"""Usage counters: what a job cost, in requests, items, retries, cache hits and dollars."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from . import limits

#: The Batch API bills about half the standard price.
BATCH_PRICE_FACTOR = 0.5


@dataclass
class Usage:
    """A snapshot of an Embedder's counters (``Embedder.usage``)."""

    requests: int = 0
    items: int = 0
    retries: int = 0
    rate_limited: int = 0
    cache_hits: int = 0
    failures: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    by_modality: dict[str, int] = field(default_factory=dict)
    #: Items, tokens and estimated cost through the Batch API (not counted above).
    batch_items: int = 0
    batch_tokens: int = 0
    batch_cost_usd: float = 0.0
    #: Batch API jobs created, and what their collected items would have cost online.
    batch_jobs: int = 0
    batch_online_cost_usd: float = 0.0
    #: Inputs/s the limiter paces to, learned from the server's 429s (None: no limit met).
    learned_rate: float | None = None
    #: Calls the limiter currently lets be in flight at once.
    concurrency_limit: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        mods = ", ".join(f"{k} {v}" for k, v in sorted(self.by_modality.items())) or "none"
        return (
            f"{self.items} items ({mods}) in {self.requests} requests, {self.retries} retries "
            f"({self.rate_limited} rate-limited), {self.cache_hits} cache hits, "
            f"{self.failures} failures, ~{self.tokens} tokens, ~${self.cost_usd:.4f}"
            + (f", pacing {self.learned_rate:.1f} inputs/s (learned)" if self.learned_rate else "")
        ) + (
            f"; batch: {self.batch_items} items, ~{self.batch_tokens} tokens, "
            f"~${self.batch_cost_usd:.4f} (online ~${self.batch_online_cost_usd:.4f}), "
            f"{self.batch_jobs} jobs created"
            if self.batch_items or self.batch_jobs
            else ""
        )


class UsageMeter:
    """Thread-safe counters behind ``Usage``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self._usage, name, getattr(self._usage, name) + n)

    def embedded(self, modality: str, tokens: int) -> None:
        """One item came back from the API: count it and its estimated cost."""
        price = limits.PRICE_PER_MILLION_TOKENS.get(
            modality, limits.PRICE_PER_MILLION_TOKENS["text"]
        )
        with self._lock:
            u = self._usage
            u.items += 1
            u.tokens += tokens
            u.cost_usd += tokens * price / 1_000_000
            u.by_modality[modality] = u.by_modality.get(modality, 0) + 1

    def embedded_batch(self, modality: str, tokens: int) -> None:
        """One item came back from a Batch API job: counted apart, at the batch price."""
        price = limits.PRICE_PER_MILLION_TOKENS.get(
            modality, limits.PRICE_PER_MILLION_TOKENS["text"]
        )
        with self._lock:
            u = self._usage
            u.batch_items += 1
            u.batch_tokens += tokens
            u.batch_cost_usd += tokens * price * BATCH_PRICE_FACTOR / 1_000_000
            u.batch_online_cost_usd += tokens * price / 1_000_000

    def snapshot(self) -> Usage:
        with self._lock:
            u = self._usage
            return Usage(**{**asdict(u), "by_modality": dict(u.by_modality)})

    def reset(self) -> None:
        with self._lock:
            self._usage = Usage()
