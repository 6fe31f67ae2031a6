"""``GE2TextEmbedder``: a string (a user query) as one vector, for an embedding retriever."""

from __future__ import annotations

from typing import Any

import ge2

from ._component import DEFAULT_KEY, GE2Component

try:
    from haystack import component
    from haystack.utils import Secret
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

__all__ = ["GE2TextEmbedder"]


@component
class GE2TextEmbedder(GE2Component):
    """Embeds a string (a user query) for an embedding retriever.

    A drop-in for google-genai-haystack's ``GoogleGenAITextEmbedder``: same parameters, same
    meaning. ge2 expresses the task for the model (``task: search result | query: ...`` for
    gemini-embedding-2), so ``prefix`` / ``suffix`` are for your own text only.
    """

    default_task = "query"

    def __init__(
        self,
        *,
        api_key: Secret = DEFAULT_KEY,
        api: str | None = None,
        vertex_ai_project: str | None = None,
        vertex_ai_location: str | None = None,
        model: str = ge2.limits.DEFAULT_MODEL,
        prefix: str = "",
        suffix: str = "",
        config: dict[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        dimensions: int | None = None,
        task: str | None = None,
        api_base_url: str | None = None,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
        overflow: str | None = None,
    ) -> None:
        """Nothing is sent until ``run``; every setting is checked now.

        :param api_key: from GEMINI_API_KEY / GOOGLE_API_KEY by default.
        :param api: "gemini", "vertex", or None to let the SDK's environment decide.
        :param config: google-genai's ``EmbedContentConfig`` fields: ``output_dimensionality``
            (as ``dimensions``), ``task_type`` (as ``task``), ``title`` (document task only),
            ``auto_truncate`` (False: as ``overflow="error"``), ``http_options`` (headers,
            api_version, ... for every request). Others raise, naming the alternative.
        :param timeout: seconds per request (default: ge2's 120).
        :param max_retries: attempts in all, the first included, as the SDK's
            ``HttpRetryOptions(attempts=...)`` (default: ge2's policy, 6 retries).
        :param dimensions: vector size, 128..3072 (default 3072).
        :param task: "query" (default), or "question_answering", "fact_checking",
            "code_retrieval", or a symmetric task; the API's spellings work too.
        :param cache: True (ge2's default file), a path, or False.
        :param quota: your rate tier, a ``ge2.Quota`` or a dict of its fields (e.g.
            ``{"requests_per_minute": 100}``): ge2 paces requests to it instead of running
            into 429s. Serialised with the component. Default: unpaced.
        :param overflow: "split" (default) embeds an over-long text in pieces and averages
            them; "error" refuses it.
        """
        self._store(locals())

    prefix: str
    suffix: str

    def _text(self, text: str) -> ge2.Text:
        if not isinstance(text, str):
            raise TypeError(
                "GE2TextEmbedder expects a string as input. "
                "To embed a list of Documents, use GE2DocumentEmbedder."
            )
        return ge2.Text(self.prefix + text + self.suffix, title=self._title)

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        """Embed one string: ``{"embedding": [...], "meta": {"model", "dimensions", "usage"}}``."""
        before = self.embedder.usage
        vector = self.embedder.embed_one(self._text(text), task=self._task)
        return {"embedding": vector, "meta": self._meta(before)}

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    async def run_async(self, text: str) -> dict[str, Any]:
        """Async twin of ``run``."""
        before = self.embedder.usage
        vector = await self.embedder.aembed_one(self._text(text), task=self._task)
        return {"embedding": vector, "meta": self._meta(before)}
