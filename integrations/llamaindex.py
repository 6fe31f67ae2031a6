"""LlamaIndex adapter: Gemini Embedding 2 as a ``MultiModalEmbedding``.

``GE2Embedding`` embeds text, images and, when called on nodes (as an ingestion
transformation, or ``embed_model(nodes)`` before building an index), every media resource
of a ``Node`` (image, audio, video, PDF) together as ONE vector. Batching, concurrency,
retries and caching all happen in the one ``ge2.Embedder`` it wraps.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import ge2
from ge2 import tasks, transport
from ge2.integrations._peer_options import client_options, embed_config_settings, merge_settings

try:
    import llama_index.core.instrumentation as instrument
    from llama_index.core.base.embeddings.base import Embedding
    from llama_index.core.bridge.pydantic import (
        Field,
        PrivateAttr,
        SecretStr,
        field_validator,
        model_validator,
    )
    from llama_index.core.callbacks.base import CallbackManager
    from llama_index.core.callbacks.schema import CBEventType, EventPayload
    from llama_index.core.embeddings import MultiModalEmbedding
    from llama_index.core.instrumentation.events.embedding import (
        EmbeddingEndEvent,
        EmbeddingStartEvent,
    )
    from llama_index.core.schema import (
        BaseNode,
        ImageNode,
        ImageType,
        MediaResource,
        MetadataMode,
        Node,
    )
except ImportError as exc:  # pragma: no cover - exercised by a unit test with the module hidden
    raise ge2.MissingExtraError("llama-index-core", "llamaindex") from exc

__all__ = ["PEER_ARGUMENTS", "GE2Embedding", "node_input"]

dispatcher = instrument.get_dispatcher(__name__)

_MEDIA_SLOTS = ("image_resource", "audio_resource", "video_resource")


def _resource_input(resource: MediaResource | None) -> ge2.Input | None:
    """A resource's bytes, file or URL as a ge2 input, typed by its content (PDFs too)."""
    if resource is None:
        return None
    mime = resource.mimetype or None
    if resource.data is not None:
        # MediaResource keeps ``data`` base64-encoded.
        return ge2.load(base64.b64decode(resource.data), mime)
    if resource.path is not None:
        return ge2.load(resource.path, mime)
    if resource.url is not None:
        return _url_input(str(resource.url), mime)
    return None


def _url_input(url: str, mime: str | None) -> ge2.Input:
    if url.startswith("file://"):
        return ge2.load(Path(unquote(urlsplit(url).path)), mime)
    return ge2.load(url, mime)


def _image_input(image: ImageType) -> ge2.Input:
    """LlamaIndex's ``ImageType`` (a path, a URL or a BytesIO) as a ge2 input."""
    if isinstance(image, io.BytesIO):
        return ge2.load(image.getvalue())
    if isinstance(image, str) and "://" in image:
        return _url_input(image, None)
    return ge2.load(image)


def node_input(node: BaseNode) -> ge2.Input | str:
    """What ge2 embeds for a node: its media and text as one input, or just its text.

    A ``Node`` contributes its text (with embed-mode metadata) plus the content of its
    ``image_resource``, ``audio_resource`` and ``video_resource``, and of a
    ``text_resource`` that holds a file instead of text (a PDF, say). A legacy
    ``ImageNode`` contributes its text and image. Several parts make ONE ``ge2.Mixed``.
    """
    media: list[ge2.Input | None] = []
    if isinstance(node, Node):
        text_res = node.text_resource
        if text_res is not None and text_res.text is None:
            media.append(_resource_input(text_res))
        media.extend(_resource_input(getattr(node, slot)) for slot in _MEDIA_SLOTS)
    elif isinstance(node, ImageNode):
        if node.image is not None:
            media.append(ge2.load(base64.b64decode(node.image), node.image_mimetype))
        elif node.image_path is not None:
            media.append(ge2.load(node.image_path, node.image_mimetype))
        elif node.image_url is not None:
            media.append(_url_input(node.image_url, node.image_mimetype))
    parts: list[ge2.Input] = [m for m in media if m is not None]
    text = node.get_content(metadata_mode=MetadataMode.EMBED)
    if not parts:
        return text
    if text.strip():
        parts.insert(0, ge2.Text(text))
    return parts[0] if len(parts) == 1 else ge2.Mixed(parts)


def _node_label(node: BaseNode, what: str | None) -> str:
    return f"node {node.node_id!r}" + (f" ({what})" if what else "")


# -- llama-index-embeddings-google-genai's arguments -----------------------------------------

_QUERY_SIDE = frozenset({"query", "question_answering", "fact_checking", "code_retrieval"})


def _task_sides(task: str) -> dict[str, Any]:
    """A task_type as the side(s) it applies to: a query kind, documents, or both (symmetric)."""
    if task == "document":
        return {"document_task": task}
    if task in _QUERY_SIDE:
        return {"query_task": task}
    return {"query_task": task, "document_task": task}


def _embedding_config(config: Any) -> dict[str, Any]:
    settings = embed_config_settings(config, "embedding_config")
    task = settings.pop("task", None)
    return {**settings, **(_task_sides(task) if task is not None else {})}


def _vertexai_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ge2.ConfigurationError(
            f"vertexai_config must be a dict (credentials, project, location), not "
            f"{type(config).__name__}"
        )
    unknown = sorted(set(config) - {"credentials", "project", "location"})
    if unknown:
        raise ge2.ConfigurationError(
            f"vertexai_config keys {unknown} are unknown: it takes credentials, project, location"
        )
    return {"vertexai": True, **{k: v for k, v in config.items() if v is not None}}


def _debug_config(config: Any) -> dict[str, Any]:
    raise ge2.ConfigurationError(
        "debug_config (google-genai's record/replay client) is not taken by GE2Embedding: "
        "build google.genai.Client(debug_config=...) and pass GE2Embedding(client=that_client), "
        "or test offline against ge2's emulator (`ge2 emulator`)"
    )


#: ``GoogleGenAIEmbedding`` (llama-index-embeddings-google-genai 0.6.0) arguments that
#: GE2Embedding holds under another name or shape: peer name -> our fields. Its other
#: arguments (model_name, api_key, http_options, timeout, embed_batch_size,
#: callback_manager, and BaseEmbedding's) are fields of the same name and meaning.
PEER_ARGUMENTS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "embedding_config": _embedding_config,
    "vertexai_config": _vertexai_config,
    # tenacity's stop_after_attempt(retries): the count includes the first attempt.
    "retries": lambda n: {"max_retries": max(0, int(n) - 1)},
    "retry_min_seconds": lambda s: {"retry_base_delay": float(s)},
    "retry_max_seconds": lambda s: {"retry_max_delay": float(s)},
    "retry_exponential_base": lambda b: {"retry_exp_base": float(b)},
    "debug_config": _debug_config,
}

#: Our retry fields -> the SDK's ``HttpRetryOptions`` field ge2's retry policy reads, and the
#: peer's name for it (for messages).
_RETRY_OPTIONS: dict[str, tuple[str, Callable[[Any], Any], str]] = {
    "max_retries": ("attempts", lambda n: n + 1, "retries"),
    "retry_base_delay": ("initial_delay", float, "retry_min_seconds"),
    "retry_max_delay": ("max_delay", float, "retry_max_seconds"),
    "retry_exp_base": ("exp_base", float, "retry_exponential_base"),
}
#: Fields that configure the client ge2 builds: meaningless next to ``client=``.
_CLIENT_FIELDS = (
    "api_key",
    "vertexai",
    "project",
    "location",
    "base_url",
    "credentials",
    "http_options",
    "timeout",
)
#: Fields that configure the core embedder: meaningless next to ``embedder=``.
_EMBEDDER_FIELDS = (*_CLIENT_FIELDS, *_RETRY_OPTIONS, "cache", "overflow")


def _translate_peer_arguments(peer: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """GE2Embedding's fields from ``data`` plus the peer-only arguments in ``peer``.

    A peer argument and one of our fields that set the same thing may not disagree.
    """
    merged = {k: v for k, v in data.items() if v is not None}
    for name, value in peer.items():
        if value is not None:
            merged = merge_settings(merged, PEER_ARGUMENTS[name](value), name)
    return merged


def _refuse_beside(what: str, fields: Sequence[str], data: Mapping[str, Any]) -> None:
    given = [f for f in fields if data.get(f) is not None]
    if given:
        raise ge2.ConfigurationError(
            f"{', '.join(given)} cannot be applied to a {what} passed in: configure the "
            f"{what} itself, or drop {what}= and let GE2Embedding build it"
        )


def _mirror(embedder: ge2.Embedder, client: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Our fields as the given core embedder has them; a different value set here raises."""
    if client is not None:
        raise ge2.ConfigurationError("pass either embedder= or client=, not both")
    _refuse_beside("embedder", _EMBEDDER_FIELDS, data)
    data.setdefault("dimensions", embedder.dimensions)
    if data.get("quota") is not None:
        data["quota"] = ge2.Quota.of(data["quota"])
    mirrored = {
        "model_name": embedder.model,
        "embed_batch_size": embedder.batch_size,
        "num_workers": embedder.max_concurrency,
        "quota": embedder.pacer.quota,
    }
    for name, value in mirrored.items():
        if data.get(name, value) != value:
            raise ge2.ConfigurationError(
                f"{name}={data[name]!r} differs from the embedder's {value!r}; "
                "configure the ge2.Embedder instead"
            )
        data[name] = value
    return data


class GE2Embedding(MultiModalEmbedding):
    """Gemini Embedding 2 for LlamaIndex: text, images, and audio/video/PDF node resources.

    A drop-in for llama-index-embeddings-google-genai's ``GoogleGenAIEmbedding``: its
    arguments, positional or by name, keep their meaning (``PEER_ARGUMENTS`` says how each
    maps here; one ge2 cannot honour raises, naming the alternative). Documents use ge2's
    ``document`` task, queries its ``query`` task: ge2 writes them into the text the way
    the model expects. ``embed_batch_size`` (capped at the API's 100 per call) and
    ``num_workers`` become the core's ``batch_size`` and ``max_concurrency``; retries,
    pacing and caching are the core's too. ``api_key``, ``credentials`` and ``http_options``
    are never serialised or shown: without a key the SDK reads ``GEMINI_API_KEY`` itself.
    """

    model_name: str = Field(default=ge2.limits.DEFAULT_MODEL, description="Embedding model id.")
    dimensions: int = Field(
        default=ge2.limits.MAX_DIMENSIONS,
        ge=ge2.limits.MIN_DIMENSIONS,
        le=ge2.limits.MAX_DIMENSIONS,
        description="Output size (Matryoshka: smaller sizes are re-normalised prefixes).",
    )
    embed_batch_size: int = Field(
        default=ge2.limits.MAX_BATCH_REQUESTS,
        gt=0,
        le=2048,
        description="Inputs per API call (the core packs; at most 100 are sent per call).",
    )
    query_task: str = Field(default="query", description="ge2 task for queries.")
    document_task: str = Field(default="document", description="ge2 task for texts and nodes.")
    title: str | None = Field(default=None, description="Title in the document instruction.")
    overflow: Literal["split", "error"] = Field(
        default="split",
        description="Over-limit input: embed it in pieces and average them, or refuse it.",
    )
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    vertexai: bool | None = Field(default=None, description="Use Vertex AI instead.")
    project: str | None = Field(default=None, description="Vertex AI project.")
    location: str | None = Field(default=None, description="Vertex AI location.")
    credentials: Any = Field(default=None, exclude=True, repr=False)
    base_url: str | None = Field(default=None, description="API base URL (e.g. the emulator).")
    http_options: dict[str, Any] | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="google-genai HttpOptions (headers, api_version, ...): not serialised.",
    )
    timeout: float | None = Field(default=None, gt=0, description="Seconds per request.")
    max_retries: int | None = Field(default=None, ge=0, description="Retries after a failure.")
    retry_base_delay: float | None = Field(default=None, ge=0, description="First backoff, s.")
    retry_max_delay: float | None = Field(default=None, ge=0, description="Longest backoff, s.")
    retry_exp_base: float | None = Field(default=None, ge=1, description="Backoff growth.")
    cache: bool | str = Field(
        default=False, description="ge2's persistent cache: True, a file path, or off."
    )
    quota: ge2.Quota | None = Field(
        default=None,
        description="Rate tier to pace to (a ge2.Quota or a dict of its fields), not into 429s.",
    )

    _embedder: ge2.Embedder = PrivateAttr()

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_path_as_str(cls, value: Any) -> Any:
        """A ``pathlib.Path`` is kept as a string so ``to_json`` works."""
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("quota", mode="before")
    @classmethod
    def _quota(cls, value: Any) -> ge2.Quota | None:
        """A dict (from ``to_dict`` or a config file) is checked strictly: no typo passes."""
        return ge2.Quota.of(value)

    @field_validator("query_task", "document_task")
    @classmethod
    def _task(cls, value: str) -> str:
        """The API's spellings (``RETRIEVAL_QUERY``) and ge2's names, checked now."""
        return tasks.normalize_task(value)

    @field_validator("http_options", mode="before")
    @classmethod
    def _http_options(cls, value: Any) -> dict[str, Any] | None:
        """An SDK ``HttpOptions`` or a dict of its fields, checked now."""
        return transport.http_options_dict(value) or None

    @model_validator(mode="after")
    def _title_needs_documents(self) -> GE2Embedding:
        if self.title is not None and self.document_task != "document":
            raise ValueError(
                f"title={self.title!r} goes into the document instruction, but "
                f"document_task={self.document_task!r}; drop the title or use 'document'"
            )
        return self

    def __init__(
        self,
        model_name: str | None = None,
        api_key: str | SecretStr | None = None,
        embedding_config: Any = None,
        vertexai_config: Mapping[str, Any] | None = None,
        http_options: Any = None,
        debug_config: Any = None,
        embed_batch_size: int | None = None,
        callback_manager: CallbackManager | None = None,
        retries: int | None = None,
        timeout: float | None = None,
        retry_min_seconds: float | None = None,
        retry_max_seconds: float | None = None,
        retry_exponential_base: float | None = None,
        *,
        embedder: ge2.Embedder | None = None,
        client: Any = None,
        **data: Any,
    ) -> None:
        """Positional arguments are ``GoogleGenAIEmbedding``'s, in its order.

        None means the field's default (``gemini-embedding-2``, 100 per call, ge2's retry
        policy and timeout); ``embedder=`` shares a configured ``ge2.Embedder``, ``client=``
        a configured ``google.genai.Client``.
        """
        data = _translate_peer_arguments(
            {
                "embedding_config": embedding_config,
                "vertexai_config": vertexai_config,
                "debug_config": debug_config,
                "retries": retries,
                "retry_min_seconds": retry_min_seconds,
                "retry_max_seconds": retry_max_seconds,
                "retry_exponential_base": retry_exponential_base,
            },
            {
                **data,
                "model_name": model_name,
                "api_key": api_key,
                "http_options": http_options,
                "embed_batch_size": embed_batch_size,
                "callback_manager": callback_manager,
                "timeout": timeout,
            },
        )
        if embedder is not None:
            data = _mirror(embedder, client, data)
        elif client is not None:
            _refuse_beside("client", _CLIENT_FIELDS, data)
        super().__init__(**data)
        self._embedder = embedder if embedder is not None else self._build_embedder(client)

    def _build_embedder(self, client: Any) -> ge2.Embedder:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        given = {n: rule for n, rule in _RETRY_OPTIONS.items() if getattr(self, n) is not None}
        retry = {option: convert(getattr(self, n)) for n, (option, convert, _) in given.items()}
        source = ", ".join(f"{peer} ({n})" for n, (_, _, peer) in given.items())
        return ge2.Embedder(
            self.model_name,
            self.dimensions,
            client=client,
            api_key=key,
            vertexai=self.vertexai,
            project=self.project,
            location=self.location,
            credentials=self.credentials,
            base_url=self.base_url,
            cache=self.cache,
            quota=self.quota,
            overflow=self.overflow,
            batch_size=min(self.embed_batch_size, ge2.limits.MAX_BATCH_REQUESTS),
            **({"max_concurrency": self.num_workers} if self.num_workers else {}),
            **client_options(
                self.http_options,
                timeout=self.timeout,
                retry_options=retry,
                retry_source=source,
            ),
        )

    @classmethod
    def class_name(cls) -> str:
        return "GE2Embedding"

    @property
    def embedder(self) -> ge2.Embedder:
        """The core embedder doing the work (usage counters, cache, limits)."""
        return self._embedder

    # -- single inputs -------------------------------------------------------------------

    def _embed(self, items: list[Any], task: str) -> list[Embedding]:
        return self._embedder.embed(items, task=task, dimensions=self.dimensions)

    async def _aembed(self, items: list[Any], task: str) -> list[Embedding]:
        return list(await self._embedder.aembed(items, task=task, dimensions=self.dimensions))

    def _documents(self, items: Sequence[Any]) -> list[Any]:
        """Texts with the configured ``title`` (it belongs in the document instruction)."""
        if self.title is None:
            return list(items)
        return [ge2.Text(i, title=self.title) if isinstance(i, str) else i for i in items]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query], self.query_task)[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed([query], self.query_task))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed(self._documents([text]), self.document_task)[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed(self._documents([text]), self.document_task))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(self._documents(texts), self.document_task)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(self._documents(texts), self.document_task)

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._embed([_image_input(img_file_path)], self.document_task)[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aembed([_image_input(img_file_path)], self.document_task))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._embed([_image_input(i) for i in img_file_paths], self.document_task)

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        inputs = [_image_input(i) for i in img_file_paths]
        return await self._aembed(inputs, self.document_task)

    # -- batches: one core call each (the base classes would chunk by embed_batch_size) ----

    @contextlib.contextmanager
    def _observed(self, chunks: list[Any]) -> Iterator[list[Embedding]]:
        """LlamaIndex's callback and instrumentation events around one embedding call.

        The caller fills the yielded list with the vectors, so sync and async share it.
        """
        payload = self.to_payload()
        texts = all(isinstance(c, str) for c in chunks)
        if texts:
            dispatcher.event(EmbeddingStartEvent(model_dict=payload))
        vectors: list[Embedding] = []
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: payload}
        ) as event:
            yield vectors
            event.on_end(payload={EventPayload.CHUNKS: chunks, EventPayload.EMBEDDINGS: vectors})
        if texts:
            dispatcher.event(EmbeddingEndEvent(chunks=chunks, embeddings=vectors))

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """All texts in one core call; the core packs ``embed_batch_size`` per request."""
        if not texts:
            return []
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        run = (
            self._get_text_embeddings_cached if self.embeddings_cache else self._get_text_embeddings
        )
        with self._observed(list(texts)) as vectors:
            vectors.extend(run(list(texts)))
        return vectors

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Async twin of ``get_text_embedding_batch``; ``num_workers`` calls run at once."""
        if not texts:
            return []
        if self.rate_limiter is not None:
            await self.rate_limiter.async_acquire()
        run = (
            self._aget_text_embeddings_cached
            if self.embeddings_cache
            else self._aget_text_embeddings
        )
        with self._observed(list(texts)) as vectors:
            vectors.extend(await run(list(texts)))
        return vectors

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        if not img_file_paths:
            return []
        paths = list(img_file_paths)
        with self._observed(paths) as vectors:
            vectors.extend(self._get_image_embeddings(paths))
        return vectors

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        if not img_file_paths:
            return []
        paths = list(img_file_paths)
        with self._observed(paths) as vectors:
            vectors.extend(await self._aget_image_embeddings(paths))
        return vectors

    # -- nodes: media resources, not just text ---------------------------------------------

    def _node_inputs(self, nodes: Sequence[BaseNode]) -> list[ge2.Input | str]:
        inputs: list[ge2.Input | str] = []
        for index, node in enumerate(nodes):
            try:
                inputs.append(node_input(node))
            except ge2.InputError as exc:
                raise ge2.InputError(
                    exc.problem, index=index, item=_node_label(node, exc.item), fix=exc.fix
                ) from exc
        return inputs

    @staticmethod
    @contextlib.contextmanager
    def _node_errors(nodes: Sequence[BaseNode]) -> Iterator[None]:
        """Errors name nodes by id; on ``EmbeddingError`` embedded nodes keep their vectors."""
        try:
            yield
        except ge2.InputError as exc:
            if exc.index is None:
                raise
            item = _node_label(nodes[exc.index], exc.item)
            raise ge2.InputError(
                exc.problem, index=exc.index, item=item, fix=exc.fix, over_limit=exc.over_limit
            ) from exc
        except ge2.EmbeddingError as exc:
            _set_embeddings(nodes, exc.vectors)
            failures = [
                ge2.ItemFailure(f.index, f.error, _node_label(nodes[f.index], f.item))
                for f in exc.failures
            ]
            raise ge2.EmbeddingError(exc.vectors, failures, exc.pieces) from exc

    def _prepare_nodes(self, nodes: Sequence[BaseNode]) -> tuple[list[Any], list[str]]:
        """Per node its ge2 input, and its text for LlamaIndex's events."""
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        return self._documents(self._node_inputs(nodes)), texts

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes from their media and text (document task), setting ``node.embedding``.

        On ``ge2.EmbeddingError`` the nodes that were embedded keep their vectors and the
        error names the failed nodes by id.
        """
        if not nodes:
            return nodes
        inputs, texts = self._prepare_nodes(nodes)
        with self._node_errors(nodes), self._observed(texts) as vectors:
            vectors.extend(self._embed(inputs, self.document_task))
        return _set_embeddings(nodes, vectors)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Async twin of ``__call__``."""
        if not nodes:
            return nodes
        inputs, texts = self._prepare_nodes(nodes)
        with self._node_errors(nodes), self._observed(texts) as vectors:
            vectors.extend(await self._aembed(inputs, self.document_task))
        return _set_embeddings(nodes, vectors)


def _set_embeddings(
    nodes: Sequence[BaseNode], vectors: Sequence[Embedding | None]
) -> Sequence[BaseNode]:
    for node, vector in zip(nodes, vectors, strict=True):
        if vector is not None:
            node.embedding = vector
    return nodes
