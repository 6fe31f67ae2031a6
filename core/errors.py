"""ge2's exceptions, in one hierarchy.

The SDK's errors are converted to these in exactly one place (``ge2._transport``), so
adapters and users catch ``ge2.GE2Error`` subclasses whatever SDK version is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class GE2Error(Exception):
    """Base class of every error ge2 raises on purpose."""


class MissingExtraError(GE2Error, ImportError):
    """An adapter's framework is not installed; the message is the pip line that fixes it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f'{package} is not installed. Install it with:  pip install "ge2[{extra}]"'
        )
        self.package = package
        self.extra = extra


class InputError(GE2Error, ValueError):
    """An input is unusable; raised before any request is sent.

    The message names the item (its index and a short description), what is wrong, the
    limit involved and how to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        index: int | None = None,
        item: str | None = None,
        fix: str | None = None,
        over_limit: bool = False,
    ) -> None:
        where = []
        if index is not None:
            where.append(f"input #{index}")
        if item:
            where.append(item)
        prefix = f"{' '.join(where)}: " if where else ""
        message = prefix + problem
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)
        self.problem = problem
        self.index = index
        self.item = item
        self.fix = fix
        #: True when the input is valid but over the model's limits (splitting would help).
        self.over_limit = over_limit


class ConfigurationError(GE2Error, ValueError):
    """ge2 was set up in a way that cannot work (no credentials, bad dimensions, ...)."""


class APIError(GE2Error):
    """The embedding API answered with an error (after ge2's retries, where they apply)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.details = details


class RequestRejected(APIError):
    """A 4xx other than 429: the request itself is wrong, so it is not retried."""


class QuotaExhausted(APIError):
    """A 429 that waiting will not clear (a per-day quota), or retries ran out on 429s."""


class ServiceUnavailable(APIError):
    """5xx answers or dropped connections persisted through every retry."""


class ServiceOutage(ServiceUnavailable):
    """Every call failed for a while (a full outage): ge2 stopped sending (circuit breaker).

    The remaining inputs fail at once with this one error instead of each waiting out its
    own retries; what was embedded before is kept, and the next run resumes.
    """


@dataclass
class ItemFailure:
    """One input that could not be embedded, with its position in the caller's list."""

    index: int
    error: BaseException
    item: str = ""

    def __str__(self) -> str:
        label = f" ({self.item})" if self.item else ""
        return f"input #{self.index}{label}: {self.error}"


class EmbeddingError(GE2Error):
    """Some inputs failed; the others were embedded, cached and are kept on this error.

    ``vectors[i]`` is the (pooled) vector of input ``i``, or ``None`` where that input failed;
    ``pieces[i]`` its pieces when it was split;
    ``failures`` lists each failed input with its index and cause. Nothing embedded is lost:
    read ``vectors``, or re-run (successful items come from the cache when it is on).
    """

    def __init__(
        self,
        vectors: Sequence[Any],
        failures: Sequence[ItemFailure],
        pieces: Sequence[Any] | None = None,
    ) -> None:
        self.vectors = list(vectors)
        self.failures = list(failures)
        #: Per input, its embedded pieces (``ge2.Piece``) or None where it failed: what
        #: ``embed_pieces`` would have returned for the inputs that succeeded.
        self.pieces = list(pieces) if pieces is not None else [None] * len(self.vectors)
        ok = sum(v is not None for v in self.vectors)
        head = (
            f"{len(self.failures)} of {len(self.vectors)} inputs failed ({ok} embedded and kept "
            "on this error as .vectors)"
        )
        causes = {id(f.error) for f in self.failures}
        if len(self.failures) > 1 and len(causes) == 1:
            # One cause for all (an outage, a daily quota): say it once, then list the inputs.
            where = ", ".join(f"#{f.index}" for f in self.failures[:10])
            more = f" (+{len(self.failures) - 10} more)" if len(self.failures) > 10 else ""
            super().__init__(f"{head}: {self.failures[0].error} [inputs {where}{more}]")
            return
        shown = "; ".join(str(f) for f in self.failures[:5])
        more = f" (+{len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        super().__init__(f"{head}: {shown}{more}")
