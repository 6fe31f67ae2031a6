"""``GE2DocumentEmbedder``: text Documents (content plus chosen meta fields), one vector each."""

from __future__ import annotations

from typing import Any

import ge2

from ._component import BATCH, DEFAULT_KEY, DocumentComponent

try:
    from haystack import Document, component
    from haystack.utils import Secret
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

__all__ = ["GE2DocumentEmbedder"]


@component
class GE2DocumentEmbedder(DocumentComponent):
    """Embeds text Documents (content plus chosen meta fields) with the document task.

    A drop-in for google-genai-haystack's ``GoogleGenAIDocumentEmbedder``: same parameters,
    same meaning. A Document over the model's 8,192-token limit is split by ge2 and gets the
    mean of its pieces' vectors. A Document with no text fails clearly, or with
    ``raise_on_failure=False`` comes back without an embedding, listed in
    ``meta["failures"]``; the others keep theirs.
    """

    pooled = True  # ge2 mean-pools the pieces of an over-long text: one vector per Document

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
        batch_size: int = BATCH,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        config: dict[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        dimensions: int | None = None,
        task: str | None = None,
        title_meta_field: str | None = None,
        api_base_url: str | None = None,
        max_concurrency: int = 4,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
        overflow: str | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        """Nothing is sent until ``run``; every setting is checked now.

        :param batch_size: Documents per API call; the API takes at most 100, so a larger
            batch goes out as several calls. ge2 sends ``max_concurrency`` calls at once and
            retries transient failures itself.
        :param config: as ``GE2TextEmbedder``'s; ``config["title"]`` is the title of every
            Document that ``title_meta_field`` gives none.
        :param task: "document" (default), or a symmetric task ("clustering",
            "classification", "similarity"); the API's spellings work too.
        :param title_meta_field: a meta field used as the title in gemini-embedding-2's
            ``title: ... | text: ...`` document instruction.
        :param overflow: "split" (default) embeds an over-long text in pieces and averages
            them; "error" refuses it.
        :param raise_on_failure: False skips Documents that cannot be embedded and lists
            them in ``meta["failures"]`` instead of raising.

        The rest are ``GE2TextEmbedder``'s and Haystack's usual document-embedder options.
        """
        self._store(locals())

    prefix: str
    suffix: str
    title_meta_field: str | None

    def _prepare_texts_to_embed(self, documents: list[Document]) -> list[str]:
        """Meta values and content joined by ``embedding_separator``, within prefix/suffix."""
        return [
            self.prefix
            + self.embedding_separator.join([*self._meta_text(doc), doc.content or ""])
            + self.suffix
            for doc in documents
        ]

    def _input_of(self, doc: Document) -> ge2.Text:
        text = self._prepare_texts_to_embed([doc])[0]
        if not text.strip():
            hint = "; it has a blob: use GE2DocumentImageEmbedder" if doc.blob else ""
            raise ValueError(f"no text to embed (content is empty{hint})")
        title = doc.meta.get(self.title_meta_field) if self.title_meta_field else None
        return ge2.Text(text, title=self._title if title is None else str(title))

    def _check_title(self) -> None:
        DocumentComponent._check_title(self)  # @component rebuilds the class: no bare super()
        if self.title_meta_field and self._task != "document":
            raise ge2.ConfigurationError(
                f"title_meta_field={self.title_meta_field!r} feeds the document instruction, "
                f"but this component embeds with task {self._task!r}; drop one"
            )
