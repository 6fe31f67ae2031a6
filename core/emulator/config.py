"""The emulator's options, in one dataclass shared by the Python API, HTTP and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ge2 import limits

#: The 5xx answers ``fail_every`` can inject, with the status names the API uses.
FAULT_STATUSES = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass
class EmulatorConfig:
    """Behaviour of a running emulator; every field can change at runtime via ``configure``."""

    #: Accepted API keys; None accepts any non-empty key.
    api_keys: set[str] | None = None
    #: Sleep per request and per embedded input, in milliseconds.
    latency_ms: float = 0.0
    item_latency_ms: float = 0.0
    #: Quota: at most ``rate_limit`` units per sliding ``rate_window_s`` (None: unlimited).
    rate_limit: int | None = None
    rate_window_s: float = 60.0
    #: The Gemini API counts each embedded input ("item"); "request" counts HTTP calls.
    rate_limit_unit: Literal["request", "item"] = "item"
    #: Units per day; past it every call is a 429 with a per-day quotaId that does not clear.
    daily_limit: int | None = None
    #: Every Nth embedding request answers ``fail_status``; every Nth is dropped (no answer).
    fail_every: int | None = None
    fail_status: int = 503
    drop_every: int | None = None
    #: Request body cap (the Gemini API takes about 100 MB inline).
    max_request_bytes: int = limits.MAX_REQUEST_BYTES
    #: Audio cap in seconds (Vertex GA 180 s; Google's cookbook and the preview say 80 s).
    max_audio_seconds: float = limits.MAX_AUDIO_SECONDS
    #: How many recent requests ``stats["request_log"]`` keeps.
    log_size: int = 200
    #: Print one line per request to stderr.
    verbose: bool = False
    #: Batch API: seconds from create to the job's end (pending, then running, half each).
    batch_delay_s: float = 0.0
    #: How a batch job ends: "succeeded", "failed" or "expired".
    batch_outcome: Literal["succeeded", "failed", "expired"] = "succeeded"
    #: Every Nth request of a job answers a per-item error; every Nth results-file line is lost.
    batch_item_fail_every: int | None = None
    batch_missing_every: int | None = None
    #: A results file also carries a line whose key matches no request.
    batch_unknown_key: bool = False
    #: Inline requests per job body (the API's ~20 MB) and requests per job.
    batch_inline_max_bytes: int = 20 * 1024 * 1024
    batch_max_requests: int = 1_000_000

    def validate(self) -> None:
        """Reject option values the emulator cannot honour, before they take effect."""
        if self.rate_limit_unit not in ("request", "item"):
            raise ValueError("rate_limit_unit must be 'request' or 'item'")
        if self.fail_status not in FAULT_STATUSES:
            raise ValueError(f"fail_status must be one of {sorted(FAULT_STATUSES)}")
        if self.batch_outcome not in ("succeeded", "failed", "expired"):
            raise ValueError("batch_outcome must be 'succeeded', 'failed' or 'expired'")
        if self.batch_delay_s < 0:
            raise ValueError("batch_delay_s must be >= 0")
        if self.rate_window_s <= 0:
            raise ValueError("rate_window_s must be positive")
        for name in (
            "rate_limit",
            "daily_limit",
            "fail_every",
            "drop_every",
            "batch_item_fail_every",
            "batch_missing_every",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None")
        if self.api_keys is not None and not isinstance(self.api_keys, set):
            self.api_keys = set(self.api_keys)

    def updated(self, **changes: Any) -> EmulatorConfig:
        """A validated copy with ``changes`` applied; unknown option names raise TypeError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown emulator option(s): {', '.join(unknown)}")
        if "api_keys" in changes and changes["api_keys"] is not None:
            changes["api_keys"] = set(changes["api_keys"])
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for ``GET /emulator/config``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if out["api_keys"] is not None:
            out["api_keys"] = sorted(out["api_keys"])
        return out
