"""google-genai option shapes the frameworks' Google classes take, as ``ge2.Embedder`` settings.

llama-index-embeddings-google-genai (``embedding_config``) and google-genai-haystack
(``config``) both pass an ``EmbedContentConfig`` straight to the SDK. Here each of its
fields has one entry: the ge2 setting it becomes, or why ge2 cannot honour it and what to do
instead. Nothing is accepted and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ge2
from ge2 import tasks, transport

__all__ = ["EMBED_CONFIG", "client_options", "embed_config_settings", "merge_settings"]

_Convert = Callable[[Any], dict[str, Any]]


def _task(value: Any) -> dict[str, Any]:
    return {"task": tasks.normalize_task(str(value))}


def _overflow(auto_truncate: Any) -> dict[str, Any]:
    # The API's auto_truncate=False refuses an over-long text; True cuts its tail off silently.
    # ge2 never drops text: it refuses it, or (the default) embeds it in pieces and averages.
    if not isinstance(auto_truncate, bool):
        raise TypeError("must be True or False")
    return {"overflow": "split" if auto_truncate else "error"}


#: ``EmbedContentConfig`` field -> the ge2 settings it becomes (a converter), or why ge2
#: cannot honour it (a message naming the alternative).
EMBED_CONFIG: dict[str, _Convert | str] = {
    "output_dimensionality": lambda v: {"dimensions": int(v)},
    "task_type": _task,
    "title": lambda v: {"title": str(v)},
    "auto_truncate": _overflow,
    "http_options": lambda v: {"http_options": transport.http_options_dict(v)},
    "mime_type": (
        "ge2 reads each input's type from its content; drop it, or give the type with the "
        "input (ge2.load(data, mime=...))"
    ),
    "document_ocr": (
        "OCR of PDF pages is a Vertex AI option ge2 does not send (it sends a PDF as it is, "
        "text layer included); drop it, or render scanned pages as images"
    ),
    "audio_track_extraction": (
        "a video's sound track is a Vertex AI option ge2 does not send (Google lists it as "
        "not working yet); drop it and embed the audio as its own ge2.Audio input"
    ),
}


def _fields(config: Any, argument: str) -> dict[str, Any]:
    """The set fields of an ``EmbedContentConfig`` (or a dict of its fields)."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return {str(k): v for k, v in config.items() if v is not None}
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        return dict(dump(exclude_none=True))
    raise ge2.ConfigurationError(
        f"{argument} must be a google.genai.types.EmbedContentConfig or a dict, "
        f"not {type(config).__name__}"
    )


def embed_config_settings(config: Any, argument: str) -> dict[str, Any]:
    """``config``'s fields as ge2 settings (dimensions, task, title, overflow, http_options).

    Raises ``ge2.ConfigurationError`` naming ``argument`` and the field for a field ge2 cannot
    honour (with the alternative) or does not know.
    """
    settings: dict[str, Any] = {}
    for key, value in _fields(config, argument).items():
        rule = EMBED_CONFIG.get(key)
        if rule is None:
            known = ", ".join(EMBED_CONFIG)
            raise ge2.ConfigurationError(
                f"{argument}[{key!r}] is not an EmbedContentConfig field ge2 knows ({known})"
            )
        if isinstance(rule, str):
            raise ge2.ConfigurationError(f"{argument}[{key!r}]={value!r}: {rule}")
        try:
            settings.update(rule(value))
        except (TypeError, ValueError) as exc:
            raise ge2.ConfigurationError(f"{argument}[{key!r}]={value!r}: {exc}") from exc
    return settings


def merge_settings(
    explicit: Mapping[str, Any], derived: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """``explicit`` plus ``derived`` (from a peer argument); the two may not disagree.

    ``explicit`` holds what the caller set under ge2's names (None = not set).
    """
    merged = {k: v for k, v in explicit.items() if v is not None}
    for key, value in derived.items():
        mine = merged.get(key)
        if mine is not None and mine != value:
            raise ge2.ConfigurationError(
                f"{key}={mine!r} and {source} (which gives {key}={value!r}) disagree; set one"
            )
        merged[key] = value
    return merged


def client_options(
    http_options: Any,
    *,
    timeout: float | None,
    retry_options: Mapping[str, Any] | None,
    retry_source: str,
) -> dict[str, Any]:
    """``ge2.Embedder`` keyword arguments for the SDK's ``http_options`` plus a peer's
    timeout and retry arguments (``retry_options``: ``HttpRetryOptions`` fields).

    An ``http_options`` timeout holds unless ``timeout`` is given; retries come either from
    ``http_options.retry_options`` or from the peer's retry arguments, not both.
    """
    http = transport.http_options_dict(http_options)
    if retry_options:
        if http.get("retry_options") is not None:
            raise ge2.ConfigurationError(
                f"http_options.retry_options and {retry_source} both set the retries; set one"
            )
        http["retry_options"] = dict(retry_options)
    options: dict[str, Any] = {"http_options": http or None}
    if timeout is not None:
        options["timeout"] = float(timeout)
    elif http.get("timeout") is not None:
        options["timeout"] = None  # ge2's default would win over the caller's http_options
    return options
