"""LangChain adapter: ``GE2Embeddings``, a drop-in ``Embeddings`` that also embeds media.

Text goes through LangChain's usual ``embed_documents`` / ``embed_query``; images, audio,
video, PDFs and mixed inputs land in the same vector space through ``embed_image(uris)``
(the name langchain-chroma's ``add_images`` and ``similarity_search_by_image`` call),
``embed_audio``, ``embed_video``, ``embed_pdf`` and ``embed_media``. ``add_media`` indexes
files through any LangChain vector store's public ``add_documents``. All embedding work
(batching, retries, splitting, caching) happens in ``ge2.Embedder``; this module only
translates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import ge2
from ge2.tasks import normalize_task

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
    from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
except ImportError as exc:  # pragma: no cover - exercised by a unit test with the import blocked
    raise ge2.MissingExtraError("langchain-core", "langchain") from exc

__all__ = ["GE2Embeddings"]

Vector: TypeAlias = list[float]
#: What ``embed_image(uris)`` and friends accept: a path, a gs:// or https:// URI, or bytes.
MediaSource: TypeAlias = str | os.PathLike[str] | bytes
#: What ``add_media`` accepts: a file (path or URI), a ge2 input, or a Document whose
#: ``metadata[source_key]`` names the file.
MediaItem: TypeAlias = str | os.PathLike[str] | bytes | ge2.Text | ge2.Media | ge2.Mixed | Document

_URI_SCHEMES = ("gs://", "https://", "http://")
_CONNECTION_FIELDS = (
    "google_api_key",
    "vertexai",
    "project",
    "location",
    "base_url",
    "credentials",
    "http_options",
)
_CORE_FIELDS = (
    "batch_size",
    "max_concurrency",
    "cache",
    "quota",
    "max_retries",
    "timeout",
    "overflow",
    "split_options",
)

# Vectors ``add_media`` computed, handed to ``embed_documents`` when the vector store asks
# for the matching page_content (FIFO per text). Scoped to the add_media call's context.
_PRECOMPUTED: ContextVar[dict[str, list[Vector]] | None] = ContextVar(
    "ge2_langchain_precomputed", default=None
)


class GE2Embeddings(BaseModel, Embeddings):
    """Gemini Embedding 2 for LangChain: text, images, audio, video, PDFs in one space.

    Connection settings left unset are read by google-genai from its own environment
    (GEMINI_API_KEY / GOOGLE_API_KEY, GOOGLE_GEMINI_BASE_URL, GOOGLE_GENAI_USE_VERTEXAI,
    GOOGLE_CLOUD_PROJECT / _LOCATION). Pass ``client`` to reuse a ``google.genai.Client``,
    or ``embedder`` to share one ``ge2.Embedder`` (and its cache and quota) across adapters.

    The arguments of langchain-google-genai's ``GoogleGenerativeAIEmbeddings`` keep their
    meaning (``output_dimensionality``, ``task_type``, ``additional_headers``, ...): see
    ``PEER_ARGUMENTS``; one that ge2 cannot honour raises, naming the alternative.
    """

    model_config = ConfigDict(
        arbitrary_types_allowed=True,
        populate_by_name=True,
        extra="forbid",
        protected_namespaces=(),
        hide_input_in_errors=True,  # a validation error must not echo the key in kwargs
    )

    model: str = ge2.limits.DEFAULT_MODEL
    dimensions: int = Field(
        default=ge2.limits.MAX_DIMENSIONS,
        ge=ge2.limits.MIN_DIMENSIONS,
        le=ge2.limits.MAX_DIMENSIONS,
        description="Output size (Matryoshka); 768, 1536 and 3072 are the recommended ones.",
    )
    google_api_key: SecretStr | None = Field(default=None, alias="api_key")
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None
    base_url: str | None = None
    credentials: Any = Field(default=None, exclude=True, repr=False)
    http_options: Any = Field(
        default=None,
        exclude=True,
        repr=False,
        description="google.genai.types.HttpOptions or a dict of its fields (headers, "
        "api_version, client_args, retry_options, ...); not serialised (it may hold secrets).",
    )
    document_task: str = "document"
    query_task: str = "query"
    batch_size: int = Field(
        default=ge2.limits.MAX_BATCH_REQUESTS, ge=1, le=ge2.limits.MAX_BATCH_REQUESTS
    )
    max_concurrency: int = Field(default=4, ge=1)
    cache: bool | str | Path | ge2.EmbeddingCache = False
    quota: ge2.Quota | None = Field(
        default=None,
        description="Rate tier to pace to (a ge2.Quota or a dict of its fields), not into 429s.",
    )
    max_retries: int = Field(default=6, ge=0)
    timeout: float | None = 120.0
    overflow: Literal["split", "error"] = "split"
    split_options: ge2.SplitOptions | None = None
    client: Any = Field(default=None, exclude=True, repr=False)
    embedder: ge2.Embedder | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _peer_arguments(cls, data: Any) -> Any:
        """The Google class's arguments, translated to these fields (``PEER_ARGUMENTS``)."""
        return translate_peer_arguments(data) if isinstance(data, Mapping) else data

    @field_validator("document_task", "query_task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        """ge2's names (``query``) or the API's (``RETRIEVAL_QUERY``), stored as ge2's."""
        return normalize_task(task)

    @field_validator("model")
    @classmethod
    def _model_id(cls, model: str) -> str:
        """``models/gemini-embedding-2`` (the Google class's spelling) -> the model id."""
        return model.removeprefix("models/")

    @field_validator("quota", mode="before")
    @classmethod
    def _quota(cls, value: Any) -> ge2.Quota | None:
        """A dict (a config file's form) is checked strictly: a misspelt field fails."""
        return ge2.Quota.of(value)

    @model_validator(mode="after")
    def _build_embedder(self) -> GE2Embeddings:
        """Build the one ``ge2.Embedder`` all calls share (no network until the first call)."""
        given = self.model_fields_set
        if self.embedder is not None:
            clash = [f for f in ("client", *_CONNECTION_FIELDS, *_CORE_FIELDS) if f in given]
            if clash:
                raise ValueError(
                    f"embedder= already carries its connection and settings; do not also "
                    f"pass {', '.join(clash)} (configure the ge2.Embedder instead)"
                )
            if "model" in given and self.model != self.embedder.model:
                raise ValueError(
                    f"model={self.model!r} differs from the embedder's {self.embedder.model!r}"
                )
            self.model = self.embedder.model
            if "dimensions" not in given:
                self.dimensions = self.embedder.dimensions
            return self
        if self.client is not None:
            clash = [f for f in _CONNECTION_FIELDS if f in given and getattr(self, f) is not None]
            if clash:
                raise ValueError(
                    f"client= is already configured; do not also pass {', '.join(clash)}"
                )
        key = self.google_api_key.get_secret_value() if self.google_api_key else None
        self.embedder = ge2.Embedder(
            self.model,
            self.dimensions,
            client=self.client,
            api_key=key,
            vertexai=_backend(self.vertexai, self.credentials, self.project),
            project=self.project,
            location=self.location,
            base_url=self.base_url,
            credentials=self.credentials,
            http_options=self.http_options,
            cache=self.cache,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            quota=self.quota,
            max_retries=self.max_retries,
            timeout=self.timeout,
            overflow=self.overflow,
            split_options=self.split_options,
        )
        return self

    @property
    def _core(self) -> ge2.Embedder:
        assert self.embedder is not None  # set by _build_embedder
        return self.embedder

    # -- LangChain's Embeddings interface ------------------------------------------------

    def embed_documents(
        self,
        texts: list[str],
        *,
        batch_size: int | None = None,
        task_type: str | None = None,
        titles: list[str] | None = None,
        output_dimensionality: int | None = None,
    ) -> list[Vector]:
        """One vector per text, embedded with the document task.

        The keywords are the Google class's per-call ones: ``task_type`` overrides the
        task, ``titles`` (one per text) go into the document instruction, and
        ``output_dimensionality`` overrides the size.
        """
        call = self._call(task_type, self.document_task, output_dimensionality, batch_size)
        found, todo = _take_precomputed(texts)
        if todo:
            items = _titled([texts[i] for i in todo], _pick(titles, todo, len(texts)), call.task)
            vecs = self._core.embed(items, task=call.task, dimensions=call.dimensions)
            found.update(zip(todo, vecs, strict=True))
        return [found[i] for i in range(len(texts))]

    def embed_query(
        self,
        text: str,
        *,
        task_type: str | None = None,
        title: str | None = None,
        output_dimensionality: int | None = None,
    ) -> Vector:
        """The query's vector, embedded with the query task (Google-class keywords as above)."""
        call = self._call(task_type, self.query_task, output_dimensionality)
        item = _titled([text], None if title is None else [title], call.task)[0]
        return self._core.embed_one(item, task=call.task, dimensions=call.dimensions)

    async def aembed_documents(
        self,
        texts: list[str],
        *,
        batch_size: int | None = None,
        task_type: str | None = None,
        titles: list[str] | None = None,
        output_dimensionality: int | None = None,
    ) -> list[Vector]:
        """Async twin of ``embed_documents``."""
        call = self._call(task_type, self.document_task, output_dimensionality, batch_size)
        found, todo = _take_precomputed(texts)
        if todo:
            items = _titled([texts[i] for i in todo], _pick(titles, todo, len(texts)), call.task)
            vecs = await self._core.aembed(items, task=call.task, dimensions=call.dimensions)
            found.update(zip(todo, vecs, strict=True))
        return [found[i] for i in range(len(texts))]

    async def aembed_query(
        self,
        text: str,
        *,
        task_type: str | None = None,
        title: str | None = None,
        output_dimensionality: int | None = None,
    ) -> Vector:
        """Async twin of ``embed_query``."""
        call = self._call(task_type, self.query_task, output_dimensionality)
        item = _titled([text], None if title is None else [title], call.task)[0]
        return await self._core.aembed_one(item, task=call.task, dimensions=call.dimensions)

    def _call(
        self,
        task_type: str | None,
        default_task: str,
        output_dimensionality: int | None,
        batch_size: int | None = None,
    ) -> _Call:
        """The task and size of one call, from the Google class's per-call keywords."""
        if batch_size is not None and batch_size < self._core.batch_size:
            raise ValueError(
                f"batch_size={batch_size}: this GE2Embeddings sends up to "
                f"{self._core.batch_size} texts per request; to send at most {batch_size}, "
                f"construct it with GE2Embeddings(batch_size={batch_size}) (a larger "
                "batch_size is fine: ge2 splits at the API's 100 per request)"
            )
        task = default_task if task_type is None else normalize_task(task_type)
        return _Call(task, output_dimensionality or self.dimensions)

    # -- media in the same space ---------------------------------------------------------

    def embed_image(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """One vector per image (path, gs:// / https:// URI or bytes); OpenCLIP's name."""
        return self.embed_media([ge2.Image(u) for u in uris])

    def embed_audio(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """One vector per audio clip (MP3, WAV); longer clips are split and pooled."""
        return self.embed_media([ge2.Audio(u) for u in uris])

    def embed_video(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """One vector per video (MP4, MOV); longer videos are split and pooled."""
        return self.embed_media([ge2.Video(u) for u in uris])

    def embed_pdf(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """One vector per PDF; use ``add_media`` for one vector per page window."""
        return self.embed_media([ge2.Pdf(u) for u in uris])

    def embed_media(self, items: Sequence[Any], *, task: str | None = None) -> list[Vector]:
        """One vector per ge2 input: ``str`` is text, ``Path``/bytes are loaded by content,
        ``ge2.Image/Audio/Video/Pdf/Mixed`` as given. ``task`` defaults to the document task.
        """
        return self._core.embed(
            list(items), task=task or self.document_task, dimensions=self.dimensions
        )

    async def aembed_image(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """Async twin of ``embed_image``."""
        return await self.aembed_media([ge2.Image(u) for u in uris])

    async def aembed_audio(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """Async twin of ``embed_audio``."""
        return await self.aembed_media([ge2.Audio(u) for u in uris])

    async def aembed_video(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """Async twin of ``embed_video``."""
        return await self.aembed_media([ge2.Video(u) for u in uris])

    async def aembed_pdf(self, uris: Sequence[MediaSource]) -> list[Vector]:
        """Async twin of ``embed_pdf``."""
        return await self.aembed_media([ge2.Pdf(u) for u in uris])

    async def aembed_media(self, items: Sequence[Any], *, task: str | None = None) -> list[Vector]:
        """Async twin of ``embed_media``."""
        result: list[Vector] = await self._core.aembed(
            list(items), task=task or self.document_task, dimensions=self.dimensions
        )
        return result

    # -- media through any vector store --------------------------------------------------

    def media_documents(
        self, items: Sequence[MediaItem], *, source_key: str = "source"
    ) -> list[tuple[Document, Vector]]:
        """Embed files into ``(Document, vector)`` pairs, one per piece of each file.

        A file over the model's limits (a long PDF, audio or video) yields one Document per
        piece with its provenance (``page_start``/``page_end``, ``start_s``/``end_s``) in
        the metadata. For stores with an ``add_embeddings``-style API; ``add_media`` uses it.
        """
        inputs, bases = _media_inputs(items, source_key)
        pieces = self._core.embed_pieces(
            inputs, task=self.document_task, dimensions=self.dimensions
        )
        return _documents(pieces, bases, source_key)

    async def amedia_documents(
        self, items: Sequence[MediaItem], *, source_key: str = "source"
    ) -> list[tuple[Document, Vector]]:
        """Async twin of ``media_documents``."""
        inputs, bases = _media_inputs(items, source_key)
        pieces = await self._core.aembed_pieces(
            inputs, task=self.document_task, dimensions=self.dimensions
        )
        return _documents(pieces, bases, source_key)

    def add_media(
        self,
        vector_store: VectorStore,
        items: Sequence[MediaItem],
        *,
        ids: list[str] | None = None,
        source_key: str = "source",
        **kwargs: Any,
    ) -> list[str]:
        """Index files (images, audio, video, PDFs, text files) in any LangChain vector store.

        ``items`` are paths, URIs, ge2 inputs, or Documents whose ``metadata[source_key]``
        names the file (their page_content and metadata are kept). Media are embedded here,
        then added through the store's own ``add_documents``; the store must use this
        embeddings object. ``ids`` are per resulting Document (one per piece).
        """
        self._check_store(vector_store)
        pairs = self.media_documents(items, source_key=source_key)
        with _precomputed(pairs):
            return vector_store.add_documents(_with_ids(pairs, ids), ids=ids, **kwargs)

    async def aadd_media(
        self,
        vector_store: VectorStore,
        items: Sequence[MediaItem],
        *,
        ids: list[str] | None = None,
        source_key: str = "source",
        **kwargs: Any,
    ) -> list[str]:
        """Async twin of ``add_media``."""
        self._check_store(vector_store)
        pairs = await self.amedia_documents(items, source_key=source_key)
        with _precomputed(pairs):
            return await vector_store.aadd_documents(_with_ids(pairs, ids), ids=ids, **kwargs)

    def _check_store(self, vector_store: VectorStore) -> None:
        """Refuse a store built on other embeddings, before anything is embedded."""
        if vector_store.embeddings is not self:
            raise ValueError(
                f"{type(vector_store).__name__} does not use this GE2Embeddings; build the "
                "store with it (its text queries must land in the same vector space)"
            )


# -- the Google class's arguments ----------------------------------------------------------

#: What one Google-class argument becomes: GE2Embeddings fields (``http_options`` is merged).
PeerConverter: TypeAlias = Callable[[Any], dict[str, Any]]

_VERTEX_ENV = "GOOGLE_GENAI_USE_VERTEXAI"


def _dimensions(value: int) -> dict[str, Any]:
    lo, hi = ge2.limits.MIN_DIMENSIONS, ge2.limits.MAX_DIMENSIONS
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(
            f"output_dimensionality={value!r} is outside {lo}..{hi}; use one of "
            f"{', '.join(map(str, ge2.limits.RECOMMENDED_DIMENSIONS))}"
        )
    return {"dimensions": value}


def _task_type(value: str) -> dict[str, Any]:
    """The Google class uses ``task_type`` for queries and documents alike."""
    task = normalize_task(value)
    return {"query_task": task, "document_task": task}


def _http(**fields: Any) -> dict[str, Any]:
    return {"http_options": fields}


def _client_args(value: Mapping[str, Any]) -> dict[str, Any]:
    """The Google class hands ``client_args`` to the sync and the async HTTP client."""
    return _http(client_args=dict(value), async_client_args=dict(value))


def _client_options(value: Any) -> dict[str, Any]:
    """google-api-core ``ClientOptions`` (or its dict): the endpoint, key and quota project."""
    given = dict(value) if isinstance(value, Mapping) else dict(vars(value))
    options = {k: v for k, v in given.items() if v is not None}
    unsupported = sorted(set(options) - {"api_endpoint", "api_key", "quota_project_id"})
    if unsupported:
        raise ValueError(
            f"client_options {unsupported} cannot be honoured by google-genai's REST client: "
            "pass credentials= (google-auth, with its scopes), base_url=, or "
            "client_args= (httpx: verify=, cert=, proxy=) instead"
        )
    out: dict[str, Any] = {}
    if "api_endpoint" in options:
        endpoint = str(options["api_endpoint"])
        out["base_url"] = endpoint if "://" in endpoint else f"https://{endpoint}"
    if "api_key" in options:
        out["google_api_key"] = options["api_key"]
    if "quota_project_id" in options:
        out.update(_http(headers={"x-goog-user-project": options["quota_project_id"]}))
    return out


def _transport(value: str) -> dict[str, Any]:
    """google-genai speaks REST (JSON over HTTPS); gRPC cannot be honoured."""
    if value != "rest":
        raise ValueError(
            f"transport={value!r} cannot be honoured: google-genai (which ge2 uses) speaks "
            "REST only; drop transport= or pass transport='rest' (same API, same results)"
        )
    return {}


def _request_options(value: Mapping[str, Any]) -> dict[str, Any]:
    """``{"timeout": seconds}`` and gRPC-style ``metadata`` pairs (sent as headers)."""
    unsupported = sorted(set(value) - {"timeout", "metadata"})
    if unsupported:
        raise ValueError(
            f"request_options {unsupported} cannot be honoured: for retries pass "
            "max_retries= (or http_options={'retry_options': {...}}); ge2 retries 429/5xx itself"
        )
    out: dict[str, Any] = {}
    if value.get("timeout") is not None:
        out["timeout"] = float(value["timeout"])
    if value.get("metadata"):
        out.update(_http(headers=dict(value["metadata"])))
    return out


#: langchain-google-genai's ``GoogleGenerativeAIEmbeddings`` arguments whose names differ
#: from ours (4.4.2, plus 2.x/3.x's ``client_options`` / ``transport`` / ``request_options``)
#: -> what they set here. The rest (``model``, ``google_api_key``/``api_key``, ``credentials``,
#: ``vertexai``, ``project``, ``location``, ``base_url``, ``client``) are fields of the same
#: name and meaning.
PEER_ARGUMENTS: Mapping[str, PeerConverter] = {
    "output_dimensionality": _dimensions,
    "task_type": _task_type,
    "additional_headers": lambda headers: _http(headers=dict(headers)),
    "client_args": _client_args,
    "api_version": lambda version: _http(api_version=version),
    "client_options": _client_options,
    "transport": _transport,
    "request_options": _request_options,
}


def translate_peer_arguments(data: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments with the Google class's names replaced by ours.

    A peer argument left at None is the peer's default, i.e. not given. Two arguments that
    set the same thing differently raise, naming both.
    """
    out = {k: v for k, v in data.items() if k not in PEER_ARGUMENTS}
    origin = {k: k for k in out}
    http = _http_dict(out.get("http_options"))
    http_origin = dict.fromkeys(http, "http_options")
    for name, convert in PEER_ARGUMENTS.items():
        if data.get(name) is None:
            continue
        for field, value in convert(data[name]).items():
            if field == "http_options":
                _merge_http(http, http_origin, value, name)
                continue
            if field == "google_api_key" and "api_key" in out:
                field = "api_key"
            if field in out and out[field] != value:
                raise ValueError(
                    f"{name}= sets {field}, which {origin[field]}= also sets differently; "
                    "pass one of them"
                )
            out[field], origin[field] = value, name
    if http:
        out["http_options"] = http
    return out


def _http_dict(options: Any) -> dict[str, Any]:
    """An ``HttpOptions`` (or its dict) as a dict of the fields that are set."""
    if options is None:
        return {}
    if hasattr(options, "model_dump"):
        return dict(options.model_dump(exclude_none=True))
    if isinstance(options, Mapping):
        return {k: v for k, v in options.items() if v is not None}
    raise ValueError(
        f"http_options must be a google.genai.types.HttpOptions or a dict, not "
        f"{type(options).__name__}"
    )


def _merge_http(
    http: dict[str, Any], origin: dict[str, str], fields: Mapping[str, Any], name: str
) -> None:
    """Merge one peer argument's HttpOptions fields; headers add up, other clashes raise."""
    for key, value in fields.items():
        if key == "headers":
            headers = http.setdefault("headers", {})
            for header, text in value.items():
                if header in headers and headers[header] != text:
                    raise ValueError(f"{name}= sets header {header!r}, already set differently")
                headers[header] = text
            continue
        if key in http and http[key] != value:
            raise ValueError(
                f"{name}= sets http_options.{key}, which {origin[key]}= also sets; pass one"
            )
        http[key], origin[key] = value, name


def _backend(vertexai: bool | None, credentials: Any, project: str | None) -> bool | None:
    """The Google class's rule: credentials or a project mean Vertex AI, unless the
    environment (``GOOGLE_GENAI_USE_VERTEXAI``) or ``vertexai=`` says otherwise."""
    if vertexai is not None or os.environ.get(_VERTEX_ENV, "").strip():
        return vertexai
    return True if credentials is not None or project is not None else None


@dataclass(frozen=True)
class _Call:
    """One embedding call's task (ge2's name) and output size."""

    task: str
    dimensions: int


def _pick(titles: list[str] | None, positions: list[int], total: int) -> list[str] | None:
    """The titles of the texts at ``positions`` (``titles`` holds one per text)."""
    if titles is None:
        return None
    if len(titles) != total:
        raise ValueError(f"got {len(titles)} titles for {total} texts; pass one title per text")
    return [titles[i] for i in positions]


def _titled(texts: list[str], titles: list[str] | None, task: str) -> list[Any]:
    """Texts as ge2 inputs; a title feeds the document instruction (``title: ... | text:``)."""
    if titles is None:
        return list(texts)
    if task != "document":
        raise ValueError(
            f"titles apply to the document task only (RETRIEVAL_DOCUMENT), not {task!r}; "
            "drop titles= or embed with the document task"
        )
    return [ge2.Text(text, title=title or None) for text, title in zip(texts, titles, strict=True)]


# -- helpers (module-private) ------------------------------------------------------------


def _with_ids(pairs: list[tuple[Document, Vector]], ids: list[str] | None) -> list[Document]:
    if ids is not None and len(ids) != len(pairs):
        raise ValueError(
            f"got {len(ids)} ids for {len(pairs)} documents (a split file gives one document "
            "per piece); pass ids=None or one id per piece"
        )
    return [doc for doc, _ in pairs]


def _media_inputs(
    items: Sequence[MediaItem], source_key: str
) -> tuple[list[Any], list[tuple[str, dict[str, Any], str | None]]]:
    """ge2 inputs for ``items`` plus, per item, (display name, base metadata, page_content)."""
    inputs: list[Any] = []
    bases: list[tuple[str, dict[str, Any], str | None]] = []
    for index, item in enumerate(items):
        metadata: dict[str, Any] = {}
        content: str | None = None
        source: object = item
        if isinstance(item, Document):
            metadata = dict(item.metadata)
            content = item.page_content or None
            if source_key not in metadata:
                raise ge2.InputError(
                    f"Document has no metadata[{source_key!r}]",
                    index=index,
                    item=repr(item.page_content[:40]),
                    fix=f"set metadata[{source_key!r}] to the media file's path or URI",
                )
            source = metadata[source_key]
        if isinstance(source, ge2.Text | ge2.Media | ge2.Mixed):
            name = getattr(source, "name", "") or source.label
            inputs.append(source)
        elif isinstance(source, str) and source.startswith(_URI_SCHEMES):
            name = source
            try:
                inputs.append(ge2.load(source))
            except ge2.InputError as exc:
                raise ge2.InputError(exc.problem, index=index, item=source, fix=exc.fix) from exc
        elif isinstance(source, str | os.PathLike):
            name = str(source)
            inputs.append(Path(source))
        elif isinstance(source, bytes | bytearray):
            name = f"<{len(source)} bytes>"
            inputs.append(bytes(source))
        else:
            raise ge2.InputError(
                f"cannot index a {type(source).__name__}",
                index=index,
                fix="pass a path, a URI, bytes, a ge2 input or a Document with metadata['source']",
            )
        bases.append((name, metadata, content))
    return inputs, bases


def _documents(
    pieces: list[list[ge2.Piece]],
    bases: list[tuple[str, dict[str, Any], str | None]],
    source_key: str,
) -> list[tuple[Document, Vector]]:
    """One Document per piece; metadata says what was embedded and where the piece came from."""
    out: list[tuple[Document, Vector]] = []
    for item_pieces, (name, base, content) in zip(pieces, bases, strict=True):
        for number, piece in enumerate(item_pieces):
            where = {
                k: v
                for k, v in piece.provenance.items()
                if k != "source" and isinstance(v, str | int | float | bool)
            }
            metadata = {
                **base,
                source_key: base.get(source_key, name),
                "modality": piece.input.modality,
                **where,
            }
            if len(item_pieces) > 1:
                metadata["piece"] = number
                metadata["pieces"] = len(item_pieces)
            if isinstance(piece.input, ge2.Text) and content is None:
                text = piece.input.text
            else:
                text = content or Path(name).name or name
                if len(item_pieces) > 1:
                    text = f"{text} [{_describe(where) or f'piece {number + 1}'}]"
            out.append((Document(page_content=text, metadata=metadata), piece.vector))
    return out


def _describe(where: Mapping[str, Any]) -> str:
    if "page_start" in where:
        return f"pages {where['page_start']}-{where.get('page_end', where['page_start'])}"
    if "start_s" in where:
        return f"{float(where['start_s']):.0f}-{float(where.get('end_s', 0)):.0f} s"
    return ""


@contextlib.contextmanager
def _precomputed(pairs: list[tuple[Document, Vector]]) -> Iterator[None]:
    """Let ``embed_documents`` hand the store the vectors ``add_media`` already computed."""
    pending: dict[str, list[Vector]] = {}
    for doc, vector in pairs:
        pending.setdefault(doc.page_content, []).append(vector)
    token = _PRECOMPUTED.set(pending)
    try:
        yield
    finally:
        _PRECOMPUTED.reset(token)


def _take_precomputed(texts: list[str]) -> tuple[dict[int, Vector], list[int]]:
    """Vectors already computed for some ``texts`` (by position) and the positions left."""
    pending = _PRECOMPUTED.get()
    found: dict[int, Vector] = {}
    todo: list[int] = []
    for i, text in enumerate(texts):
        queue = pending.get(text) if pending else None
        if queue:
            found[i] = queue.pop(0)
        else:
            todo.append(i)
    return found, todo
