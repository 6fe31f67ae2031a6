"""The SDK boundary: build the client, call embed_content, convert and classify errors.

This is the one module that knows google-genai's exception types and the API's error
bodies (RetryInfo, QuotaFailure); everything above it sees ``ge2.errors`` only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from . import pacing
from .errors import (
    APIError,
    ConfigurationError,
    QuotaExhausted,
    RequestRejected,
    ServiceUnavailable,
)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level exception types of whichever HTTP stacks the SDK may use."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (
        ("httpx", "TransportError"),
        ("httpx2", "TransportError"),
        ("aiohttp", "ClientError"),
        ("requests", "ConnectionError"),
    ):
        try:
            mod = __import__(module)
            found.append(getattr(mod, name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
RETRYABLE_CODES = frozenset({429, 500, 502, 503, 504})


def make_client(
    *,
    api_key: str | None = None,
    vertexai: bool | None = None,
    project: str | None = None,
    location: str | None = None,
    base_url: str | None = None,
    timeout_s: float | None = None,
    credentials: Any = None,
    http_options: types.HttpOptions | Mapping[str, Any] | None = None,
) -> genai.Client:
    """A google-genai client that reads the SDK's own environment the way the SDK does.

    Only what the caller set explicitly is passed on; GEMINI_API_KEY / GOOGLE_API_KEY,
    GOOGLE_GEMINI_BASE_URL and the Vertex variables are left to the SDK. ``http_options``
    (headers, api_version, client_args, ...) is the caller's; ``base_url`` and ``timeout_s``
    given explicitly win over it. Its ``retry_options`` must already be taken out
    (``split_retry_options``): ge2 retries, the SDK must not retry a second time.
    """
    http: dict[str, Any] = http_options_dict(http_options)
    if http.get("retry_options") is not None:
        raise ConfigurationError(
            "http_options.retry_options reached the client: ge2 does the retrying; pass "
            "the options to ge2.Embedder(http_options=...) so they become its retry policy"
        )
    http.pop("retry_options", None)
    if base_url:
        http["base_url"] = base_url
    if timeout_s:
        http["timeout"] = int(timeout_s * 1000)
    kwargs: dict[str, Any] = {}
    if api_key:
        kwargs["api_key"] = api_key
    if vertexai is not None:
        kwargs["vertexai"] = vertexai
    if project:
        kwargs["project"] = project
    if location:
        kwargs["location"] = location
    if credentials is not None:
        kwargs["credentials"] = credentials
    if http:
        kwargs["http_options"] = types.HttpOptions(**http)
    try:
        return genai.Client(**kwargs)
    except ValueError as exc:
        raise ConfigurationError(
            f"{exc} Set GEMINI_API_KEY (Gemini API) or GOOGLE_GENAI_USE_VERTEXAI=true with "
            "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION (Vertex AI), or run offline "
            "against the emulator: `ge2 emulator`, then GOOGLE_GEMINI_BASE_URL=<its url> "
            "GEMINI_API_KEY=test."
        ) from exc


def http_options_dict(options: types.HttpOptions | Mapping[str, Any] | None) -> dict[str, Any]:
    """The set fields of an ``HttpOptions`` (or of a dict of its fields), as a dict."""
    if options is None:
        return {}
    if isinstance(options, types.HttpOptions):
        return {k: v for k, v in options.model_dump(exclude_none=True).items()}
    if isinstance(options, Mapping):
        unknown = set(options) - set(types.HttpOptions.model_fields)
        if unknown:
            raise ConfigurationError(
                f"http_options has unknown field(s) {sorted(unknown)}; the fields of "
                f"google.genai.types.HttpOptions are {sorted(types.HttpOptions.model_fields)}"
            )
        return {k: v for k, v in options.items() if v is not None}
    raise ConfigurationError(
        f"http_options must be a google.genai.types.HttpOptions or a dict, not "
        f"{type(options).__name__}"
    )


def retry_policy_of(
    options: types.HttpRetryOptions | Mapping[str, Any] | None, default: RetryPolicy
) -> RetryPolicy:
    """The SDK's ``HttpRetryOptions`` as ge2's own retry policy (which also reads RetryInfo).

    ``attempts`` counts the first try, as in the SDK; ``jitter`` is always applied by ge2;
    status codes other than ge2's retryable set (429, 5xx) cannot be honoured and raise.
    """
    if options is None:
        return default
    fields = (
        options.model_dump(exclude_none=True)
        if isinstance(options, types.HttpRetryOptions)
        else {k: v for k, v in dict(options).items() if v is not None}
    )
    unknown = set(fields) - set(types.HttpRetryOptions.model_fields)
    if unknown:
        raise ConfigurationError(f"retry_options has unknown field(s) {sorted(unknown)}")
    codes = fields.get("http_status_codes")
    if codes is not None and not set(codes) <= RETRYABLE_CODES:
        raise ConfigurationError(
            f"retry_options.http_status_codes={sorted(codes)}: ge2 retries only "
            f"{sorted(RETRYABLE_CODES)} (others are not transient); drop the others"
        )
    attempts = fields.get("attempts")
    return RetryPolicy(
        max_retries=max(0, int(attempts) - 1) if attempts is not None else default.max_retries,
        base_delay=float(fields.get("initial_delay", default.base_delay)),
        max_delay=float(fields.get("max_delay", default.max_delay)),
        exp_base=float(fields.get("exp_base", default.exp_base)),
    )


def vertex_batches_supported() -> bool:
    """Whether this google-genai can send several contents in one Vertex AI call.

    google-genai 2.x sends Vertex embeddings through ``:embedContent``, one content per
    call (it raises ValueError for more); 3.x adds ``:batchEmbedContents``.
    """
    api_type = getattr(types, "EmbeddingApiType", None)
    return api_type is not None and hasattr(api_type, "BATCH_EMBED_CONTENTS")


def limiter_key(client: genai.Client, model: str) -> tuple[str, ...]:
    """Who shares one quota: (API, credentials identity, endpoint, model), no secret in it.

    Gemini API: a digest of the API key and the base URL. Vertex AI: project and location
    (quotas belong to the project), plus the base URL. Only a key's digest is kept.
    """
    api = client._api_client
    http = getattr(api, "_http_options", None)
    base_url = str(getattr(http, "base_url", "") or "")
    if is_vertex(client):
        creds = getattr(api, "_credentials", None)
        who = getattr(creds, "service_account_email", None) or (
            f"credentials@{id(creds):x}" if creds is not None else ""
        )
        key = getattr(api, "api_key", None)
        if key:
            who = "key:" + pacing.secret_digest(str(key))
        return (
            "vertex",
            str(getattr(api, "project", "") or ""),
            str(getattr(api, "location", "") or ""),
            str(who),
            base_url,
            model,
        )
    key = getattr(api, "api_key", None) or ""
    return ("gemini", "key:" + pacing.secret_digest(str(key)), base_url, model)


def describe_retry(failure: Failure, attempt: int, max_retries: int, wait: float) -> str:
    """The DEBUG line for one retry."""
    return (
        f"retrying after {failure.error} (attempt {attempt + 1} of {max_retries}, "
        f"waiting {wait:.2f}s)"
    )


def is_vertex(client: genai.Client) -> bool:
    return bool(
        getattr(client, "vertexai", False) or getattr(client._api_client, "vertexai", False)
    )


_DELAY_RE = re.compile(r"^\s*([\d.]+)s\s*$")
_MESSAGE_DELAY_RE = re.compile(r"retry in ([\d.]+)\s*s", re.IGNORECASE)


def _details_list(details: Any) -> list[dict[str, Any]]:
    """The ``error.details`` array, whatever shape the SDK version hands over."""
    if isinstance(details, dict):
        inner = details.get("error", details)
        found = inner.get("details", []) if isinstance(inner, dict) else []
        return [d for d in found if isinstance(d, dict)]
    if isinstance(details, list):
        return [d for d in details if isinstance(d, dict)]
    return []


@dataclass(frozen=True)
class Failure:
    """A classified API or transport failure: retry it (after ``delay`` at least) or not."""

    error: APIError
    retryable: bool
    delay: float = 0.0
    rate_limited: bool = False
    #: A per-day quota (waiting will not clear it today).
    per_day: bool = False
    #: The service failed (5xx, dropped connection): what the circuit breaker counts.
    server: bool = False


def classify(exc: BaseException) -> Failure:
    """Convert an SDK or transport exception to ge2's and decide whether to retry."""
    if isinstance(exc, genai_errors.APIError):
        code = int(exc.code) if exc.code is not None else 0
        status = exc.status
        message = exc.message or str(exc)
        details = _details_list(getattr(exc, "details", None))
        if code == 429:
            delay = 0.0
            per_day = False
            for d in details:
                kind = str(d.get("@type", ""))
                if kind.endswith("RetryInfo"):
                    m = _DELAY_RE.match(str(d.get("retryDelay", "")))
                    if m:
                        delay = float(m.group(1))
                elif kind.endswith("QuotaFailure"):
                    for v in d.get("violations", []) or []:
                        if "perday" in str(v.get("quotaId", "")).lower():
                            per_day = True
            if not delay:
                m2 = _MESSAGE_DELAY_RE.search(message)
                delay = float(m2.group(1)) if m2 else 0.0
            if per_day:
                return Failure(
                    QuotaExhausted(
                        f"daily quota exhausted ({message}); waiting will not help today. Raise "
                        "the project's quota, use another key/tier, or resume tomorrow (with "
                        "cache=True finished items are kept).",
                        code=code,
                        status=status,
                        details=details,
                    ),
                    retryable=False,
                    rate_limited=True,
                    per_day=True,
                )
            return Failure(
                QuotaExhausted(
                    f"rate limited: {message}", code=code, status=status, details=details
                ),
                retryable=True,
                delay=delay,
                rate_limited=True,
            )
        if code in RETRYABLE_CODES:
            return Failure(
                ServiceUnavailable(
                    f"{code} {status}: {message}", code=code, status=status, details=details
                ),
                retryable=True,
                server=True,
            )
        return Failure(
            RequestRejected(
                f"{code} {status}: {message}", code=code, status=status, details=details
            ),
            retryable=False,
        )
    if isinstance(exc, TRANSPORT_ERRORS):
        return Failure(
            ServiceUnavailable(f"connection failed: {type(exc).__name__}: {exc}"),
            retryable=True,
            server=True,
        )
    raise exc


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, never shorter than the server's retryDelay."""

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    exp_base: float = 2.0

    def delay(self, attempt: int, failure: Failure) -> float:
        backoff = min(self.max_delay, self.base_delay * (self.exp_base**attempt))
        jittered = random.uniform(backoff / 2, backoff)
        if failure.delay:
            # At least what the server asked, plus jitter so workers spread out: at most the
            # delay itself, so a 30 ms retryDelay is not followed by a 1 s stall.
            return failure.delay + random.uniform(0, min(failure.delay, self.base_delay))
        return jittered


def embed_config(
    dimensions: int, task_type: str | None, title: str | None
) -> types.EmbedContentConfig:
    """The call-level config: output size and, for models that read them, task and title."""
    return types.EmbedContentConfig(
        output_dimensionality=dimensions, task_type=task_type, title=title
    )


def vectors_of(response: types.EmbedContentResponse, expected: int) -> list[list[float]]:
    """The response's vectors; raises if the API answered with a different count."""
    embeddings = response.embeddings or []
    if len(embeddings) != expected:
        raise APIError(
            f"the API returned {len(embeddings)} embeddings for {expected} inputs; refusing to "
            "guess which is which"
        )
    return [list(e.values or []) for e in embeddings]
