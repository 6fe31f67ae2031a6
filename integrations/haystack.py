"""Haystack components for Gemini Embedding 2: text, document and media-document embedders.

``GE2TextEmbedder`` (queries), ``GE2DocumentEmbedder`` (text Documents) and
``GE2DocumentImageEmbedder`` (images, audio, video, PDFs from a ``ByteStream`` blob or a file
path in ``meta``) put everything into one vector space, so a text query retrieves media.
Parameter names follow Haystack's embedders and google-genai-haystack's
``GoogleGenAI*Embedder`` so that swapping the class name is enough. Batching, concurrency,
retries, splitting and task instructions are ``ge2.Embedder``'s; these classes translate.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ge2

try:
    from haystack import Document, component, default_from_dict, default_to_dict, logging
    from haystack.utils import Secret, deserialize_secrets_inplace
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

__all__ = [
    "GE2DocumentEmbedder",
    "GE2DocumentImageEmbedder",
    "GE2MultimodalDocumentEmbedder",
    "GE2TextEmbedder",
]

logger = logging.getLogger(__name__)

_DEFAULT_KEY = Secret.from_env_var(["GEMINI_API_KEY", "GOOGLE_API_KEY"], strict=False)
_USAGE_FIELDS = ("requests", "items", "retries", "cache_hits", "failures", "tokens", "cost_usd")
_BATCH = ge2.limits.MAX_BATCH_REQUESTS


class _GE2Component:
    """Shared by all three: settings kept as given, one lazily built ``ge2.Embedder``.

    Every ``__init__`` parameter is stored under its own name, and ``to_dict`` serialises
    exactly those, so the two cannot drift apart. The key stays a ``Secret``.
    """

    # Settings every component has (the rest default here for the text embedder).
    api_key: Secret
    api: str | None
    vertex_ai_project: str | None
    vertex_ai_location: str | None
    model: str
    dimensions: int | None
    config: dict[str, Any] | None
    api_base_url: str | None
    timeout: float | None
    max_retries: int | None
    cache: bool | str
    quota: ge2.Quota | None
    overflow: str = "split"
    progress_bar: bool = False
    batch_size: int = _BATCH
    max_concurrency: int = 4

    def _store(self, settings: dict[str, Any]) -> None:
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self":
                setattr(self, name, settings[name])
        if self.api not in (None, "gemini", "vertex"):
            raise ValueError(f"api={self.api!r}: use 'gemini', 'vertex' or None (environment)")
        unknown = sorted(set(self.config or {}) - {"output_dimensionality", "task_type"})
        if unknown:
            raise ValueError(
                f"config keys {unknown} are not supported: ge2 takes output_dimensionality "
                "(or dimensions=...) and expresses the task itself"
            )
        if "task_type" in (self.config or {}):
            logger.warning("config['task_type'] is ignored: ge2 expresses the task for the model")
        self.quota = ge2.Quota.of(self.quota)  # a dict (from YAML) checked now, not at run
        self._embedder: ge2.Embedder | None = None

    def to_dict(self) -> dict[str, Any]:
        """Serialise the settings; the key as its environment variable names, never its value."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        values = {n: getattr(self, n) for n in names}
        if values.get("image_size"):
            values["image_size"] = list(values["image_size"])  # YAML has no tuples
        if values["quota"] is not None:
            values["quota"] = dataclasses.asdict(values["quota"])
        return default_to_dict(self, **values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild from ``to_dict`` output; the key is resolved from the environment again."""
        params = dict(data.get("init_parameters", {}))
        deserialize_secrets_inplace(params, keys=["api_key"])  # explicit: older Haystack too
        return default_from_dict(cls, {**data, "init_parameters": params})

    def warm_up(self) -> None:
        """Build the ``ge2.Embedder`` once (no request is sent); ``run`` calls it too."""
        if self._embedder is not None:
            return
        dimensions = self.dimensions or (self.config or {}).get("output_dimensionality")
        options: dict[str, Any] = {
            "api_key": self.api_key.resolve_value() if self.api_key else None,
            "vertexai": None if self.api is None else self.api == "vertex",
            "project": self.vertex_ai_project,
            "location": self.vertex_ai_location,
            "base_url": self.api_base_url,
            "cache": self.cache,
            "batch_size": self.batch_size,
            "max_concurrency": self.max_concurrency,
            "quota": self.quota,
            # True means "when it helps": ge2 shows one on a terminal for multi-batch jobs.
            "progress": None if self.progress_bar else False,
            "dimensions": dimensions,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "overflow": self.overflow,
        }
        self._embedder = ge2.Embedder(
            self.model, **{k: v for k, v in options.items() if v is not None}
        )

    @property
    def embedder(self) -> ge2.Embedder:
        """The component's ``ge2.Embedder`` (usage counters, cache), built on first use."""
        self.warm_up()
        assert self._embedder is not None
        return self._embedder

    def close(self) -> None:
        """Release the cache file handle, if any."""
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    def _meta(self, before: ge2.Usage) -> dict[str, Any]:
        after = self.embedder.usage
        usage = {f: getattr(after, f) - getattr(before, f) for f in _USAGE_FIELDS}
        return {"model": self.model, "dimensions": self.embedder.dimensions, "usage": usage}


@component
class GE2TextEmbedder(_GE2Component):
    """Embeds a string (a user query) for an embedding retriever.

    ge2 expresses the task for the model (``task: search result | query: ...`` for
    gemini-embedding-2), so ``prefix`` / ``suffix`` are for your own text only.
    """

    def __init__(
        self,
        *,
        api_key: Secret = _DEFAULT_KEY,
        api: str | None = None,
        vertex_ai_project: str | None = None,
        vertex_ai_location: str | None = None,
        model: str = ge2.limits.DEFAULT_MODEL,
        dimensions: int | None = None,
        prefix: str = "",
        suffix: str = "",
        task: str = "query",
        config: dict[str, Any] | None = None,
        api_base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
    ) -> None:
        """Nothing is sent until ``run``.

        :param api_key: from GEMINI_API_KEY / GOOGLE_API_KEY by default.
        :param api: "gemini", "vertex", or None to let the SDK's environment decide.
        :param dimensions: vector size, 128..3072 (default 3072); google-genai-haystack's
            ``config={"output_dimensionality": n}`` works too.
        :param task: "query", or "question_answering", "fact_checking", "code_retrieval".
        :param cache: True (ge2's default file), a path, or False.
        :param quota: your rate tier, a ``ge2.Quota`` or a dict of its fields (e.g.
            ``{"requests_per_minute": 100}``): ge2 paces requests to it instead of running
            into 429s. Serialised with the component. Default: unpaced.
        """
        self._store(locals())

    prefix: str
    suffix: str
    task: str

    def _text(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(
                "GE2TextEmbedder expects a string as input. "
                "To embed a list of Documents, use GE2DocumentEmbedder."
            )
        return self.prefix + text + self.suffix

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        """Embed one string: ``{"embedding": [...], "meta": {"model", "dimensions", "usage"}}``."""
        before = self.embedder.usage
        vector = self.embedder.embed_one(self._text(text), task=self.task)
        return {"embedding": vector, "meta": self._meta(before)}

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    async def run_async(self, text: str) -> dict[str, Any]:
        """Async twin of ``run``."""
        before = self.embedder.usage
        vector = await self.embedder.aembed_one(self._text(text), task=self.task)
        return {"embedding": vector, "meta": self._meta(before)}


@dataclass
class _Job:
    """One ``run``: the Documents, their ge2 inputs, who is sent (``todo``), who failed why."""

    documents: list[Document]
    inputs: list[Any]
    failures: dict[int, str]
    before: ge2.Usage
    todo: list[int] = dataclasses.field(default_factory=list)

    @property
    def items(self) -> list[Any]:
        return [self.inputs[i] for i in self.todo]


def _reason(exc: ge2.InputError) -> str:
    """An InputError without its ``input #k`` (k counts the inputs sent, not the Documents)."""
    return f"{exc.item}: {exc.problem}" + (f". Fix: {exc.fix}" if exc.fix else "")


class _DocumentComponent(_GE2Component):
    """Shared by the document embedders: skip-or-raise on failures, Documents out."""

    #: One pooled vector per Document (text), or one Document per piece (media).
    pooled: bool = False
    raise_on_failure: bool
    meta_fields_to_embed: list[str] | None
    embedding_separator: str
    prefix: str = ""
    suffix: str = ""
    title_meta_field: str | None = None
    file_path_meta_field: str = "file_path"
    root_path: str | None = None
    image_size: tuple[int, int] | None = None

    def _meta_text(self, doc: Document) -> list[str]:
        fields = self.meta_fields_to_embed or []
        return [str(doc.meta[k]) for k in fields if doc.meta.get(k) is not None]

    def _inputs(self, documents: list[Document]) -> tuple[list[Any], dict[int, str]]:
        """One ge2 input per Document (None where it cannot be made) and the reasons."""
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(
                f"{type(self).__name__} expects a list of Documents as input. "
                "To embed a string, use GE2TextEmbedder."
            )
        inputs: list[Any] = []
        failures: dict[int, str] = {}
        for i, doc in enumerate(documents):
            try:
                inputs.append(self._input_of(doc))
            except (ValueError, OSError) as exc:  # ge2.InputError is a ValueError
                if self.raise_on_failure:
                    raise ValueError(f"Document {doc.id!r}: {exc}") from exc
                inputs.append(None)
                failures[i] = str(exc)
        return inputs, failures

    def _input_of(self, doc: Document) -> Any:
        raise NotImplementedError

    def _prepare_documents(self, documents: list[Document]) -> _Job:
        """The Documents as ge2 inputs; with ``raise_on_failure=False`` the ones the adapter
        or the core (``Embedder.check``) refuses are set aside, so one call embeds the rest."""
        job = _Job(documents, *self._inputs(documents), before=self.embedder.usage)
        job.todo = [i for i, item in enumerate(job.inputs) if item is not None]
        if job.todo and not self.raise_on_failure:
            refused = self.embedder.check(job.items, task="document")
            for i, exc in zip(job.todo, refused, strict=True):
                if exc is not None:
                    job.failures[i] = _reason(exc)
            job.todo = [i for i in job.todo if i not in job.failures]
        return job

    def _embed(self, items: list[Any]) -> list[Any]:
        """Per item its vector (``pooled``) or its pieces; no call at all for no items."""
        embed = self.embedder.embed if self.pooled else self.embedder.embed_pieces
        results: list[Any] = embed(items, task="document") if items else []
        return results

    async def _aembed(self, items: list[Any]) -> list[Any]:
        embed = self.embedder.aembed if self.pooled else self.embedder.aembed_pieces
        results: list[Any] = await embed(items, task="document") if items else []
        return results

    def _partial(self, job: _Job, exc: ge2.EmbeddingError) -> list[Any]:
        """Some inputs failed at the API: keep every result that came back, report the rest."""
        if self.raise_on_failure:
            raise exc
        for failure in exc.failures:
            job.failures[job.todo[failure.index]] = str(failure.error)
        kept: list[Any] = exc.vectors if self.pooled else exc.pieces
        return kept

    def _documents_for(self, doc: Document, item: Any, result: Any) -> list[Document]:
        return [replace(doc, embedding=result)]

    def _parse_documents(self, job: _Job, results: list[Any]) -> dict[str, Any]:
        """Documents in order (a split one as its pieces), failures in ``meta["failures"]``."""
        by_position = dict(zip(job.todo, results, strict=True))
        out: list[Document] = []
        for i, doc in enumerate(job.documents):
            result = by_position.get(i)
            if result is None:
                out.append(replace(doc))  # not embedded; listed in meta["failures"]
            else:
                out.extend(self._documents_for(doc, job.inputs[i], result))
        meta = self._meta(job.before)
        if job.failures:
            meta["failures"] = [
                {"document_id": job.documents[i].id, "error": job.failures[i]}
                for i in sorted(job.failures)
            ]
            logger.warning(
                "{failed} of {total} documents were not embedded; see meta['failures']",
                failed=len(job.failures),
                total=len(job.documents),
            )
        return {"documents": out, "meta": meta}

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed ``documents``: ``{"documents": [... with .embedding], "meta": {...}}``."""
        job = self._prepare_documents(documents)
        try:
            results = self._embed(job.items)
        except ge2.EmbeddingError as exc:
            results = self._partial(job, exc)
        return self._parse_documents(job, results)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """Async twin of ``run``."""
        job = self._prepare_documents(documents)
        try:
            results = await self._aembed(job.items)
        except ge2.EmbeddingError as exc:
            results = self._partial(job, exc)
        return self._parse_documents(job, results)


@component
class GE2DocumentEmbedder(_DocumentComponent):
    """Embeds text Documents (content plus chosen meta fields) with the document task.

    A Document over the model's 8,192-token limit is split by ge2 and gets the mean of its
    pieces' vectors. A Document with no text fails clearly, or with ``raise_on_failure=False``
    comes back without an embedding, listed in ``meta["failures"]``; the others keep theirs.
    """

    pooled = True  # ge2 mean-pools the pieces of an over-long text: one vector per Document

    def __init__(
        self,
        *,
        api_key: Secret = _DEFAULT_KEY,
        api: str | None = None,
        vertex_ai_project: str | None = None,
        vertex_ai_location: str | None = None,
        model: str = ge2.limits.DEFAULT_MODEL,
        dimensions: int | None = None,
        prefix: str = "",
        suffix: str = "",
        batch_size: int = _BATCH,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        title_meta_field: str | None = None,
        config: dict[str, Any] | None = None,
        api_base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_concurrency: int = 4,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
        overflow: str = "split",
        raise_on_failure: bool = True,
    ) -> None:
        """Nothing is sent until ``run``.

        :param batch_size: inputs per API call (at most 100); ge2 sends ``max_concurrency``
            calls at once and retries transient failures itself.
        :param title_meta_field: a meta field used as the title in gemini-embedding-2's
            ``title: ... | text: ...`` document instruction.
        :param overflow: "split" embeds an over-long text in pieces and averages them;
            "error" refuses it.
        :param raise_on_failure: False skips Documents that cannot be embedded and lists
            them in ``meta["failures"]`` instead of raising.

        The rest are ``GE2TextEmbedder``'s and Haystack's usual document-embedder options.
        """
        self._store(locals())

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
        return ge2.Text(text, title=None if title is None else str(title))


@component
class GE2DocumentImageEmbedder(_DocumentComponent):
    """Embeds media Documents (images, audio, video, PDFs) in the same space as text.

    The media is the Document's ``blob`` (a ``ByteStream``) or the file at
    ``meta[file_path_meta_field]`` (under ``root_path``); a PDF with ``meta["page_number"]``
    embeds that page. Types are read from the content, not the name. An input over the
    model's limits (a PDF over 6 pages, a long video or clip) is split by ge2 and each piece
    becomes its own Document with ``source_id``, ``split_id`` and its page range or seconds
    in ``meta``. ``meta["embedding_source"]`` says what was embedded.
    """

    def __init__(
        self,
        *,
        api_key: Secret = _DEFAULT_KEY,
        api: str | None = None,
        vertex_ai_project: str | None = None,
        vertex_ai_location: str | None = None,
        file_path_meta_field: str = "file_path",
        root_path: str | None = None,
        image_size: tuple[int, int] | None = None,
        model: str = ge2.limits.DEFAULT_MODEL,
        dimensions: int | None = None,
        batch_size: int = _BATCH,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        config: dict[str, Any] | None = None,
        api_base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_concurrency: int = 4,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
        overflow: str = "split",
        raise_on_failure: bool = True,
    ) -> None:
        """Nothing is sent until ``run``.

        :param file_path_meta_field: the meta field holding the file path (when no blob).
        :param root_path: folder the paths are relative to; a path may not escape it.
        :param image_size: (width, height) to shrink images to, keeping the aspect ratio.
        :param meta_fields_to_embed: meta values (a caption, a title) embedded together with
            the media as ONE vector, joined by ``embedding_separator``.
        :param overflow: "split" embeds an over-limit input in pieces (one Document each);
            "error" refuses it.
        :param raise_on_failure: False skips Documents that cannot be embedded (no media,
            unsupported or corrupt blob, missing file) and lists them in ``meta["failures"]``.

        The rest are ``GE2DocumentEmbedder``'s.
        """
        self._store(locals())
        self.image_size = (int(image_size[0]), int(image_size[1])) if image_size else None

    def _path(self, doc: Document) -> Path:
        """The file named in the Document's meta, kept inside ``root_path`` when one is set."""
        root = self.root_path
        path = Path(root or "", str(doc.meta[self.file_path_meta_field]))
        if root:
            path = path.resolve()
            if not path.is_relative_to(Path(root).resolve()):
                raise ValueError(f"file path escapes root_path {root!r}: {path}")
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    def _input_of(self, doc: Document) -> ge2.Input:
        field = self.file_path_meta_field
        if doc.blob is not None:
            item = ge2.load(doc.blob.data, mime=doc.blob.mime_type)
        elif doc.meta.get(field) is not None:
            item = ge2.load(self._path(doc))
        else:
            raise ValueError(
                f"no media to embed: no blob and no meta[{field!r}] "
                "(text-only Documents go to GE2DocumentEmbedder)"
            )
        if isinstance(item, ge2.Text):
            raise ValueError(
                "the media is text, not an image, audio, video or PDF "
                "(text goes to GE2DocumentEmbedder)"
            )
        if isinstance(item, ge2.Pdf) and doc.meta.get("page_number") is not None:
            item = item.pages(int(doc.meta["page_number"]))
        if isinstance(item, ge2.Image) and self.image_size:
            item = _shrunk(item, self.image_size)
        caption = self._meta_text(doc)
        return ge2.Mixed([self.embedding_separator.join(caption), item]) if caption else item

    def _documents_for(self, doc: Document, item: Any, result: Any) -> list[Document]:
        pieces: list[ge2.Piece] = result
        media = item.parts[-1] if isinstance(item, ge2.Mixed) else item
        source: dict[str, Any] = {"type": media.modality}
        if doc.blob is not None:
            source["blob"] = True
        else:
            source["file_path_meta_field"] = self.file_path_meta_field
        if self.meta_fields_to_embed:
            source["meta_fields_to_embed"] = list(self.meta_fields_to_embed)
        meta = {**doc.meta, "embedding_source": source}
        if len(pieces) == 1:
            return [replace(doc, meta=meta, embedding=pieces[0].vector)]
        out = []
        for split_id, piece in enumerate(pieces):
            where = {k: v for k, v in piece.provenance.items() if k != "source"}
            piece_meta = {**meta, **where, "source_id": doc.id, "split_id": split_id}
            if "page_start" in where:
                piece_meta["page_number"] = where["page_start"]
            out.append(
                Document(
                    content=doc.content, blob=doc.blob, meta=piece_meta, embedding=piece.vector
                )
            )
        return out


#: google-genai-haystack's name, so replacing ``GoogleGenAIMultimodalDocumentEmbedder`` is one edit.
GE2MultimodalDocumentEmbedder = GE2DocumentImageEmbedder


def _shrunk(image: ge2.Image, size: tuple[int, int]) -> ge2.Image:
    """The image scaled down to fit ``size`` (aspect kept); a smaller image is left alone."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(image.read())) as img:
        if img.width <= size[0] and img.height <= size[1]:
            return image
        img.thumbnail(size)
        return ge2.Image(img.copy())
