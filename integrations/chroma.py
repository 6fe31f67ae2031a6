"""Chroma: one collection for text, images, audio, video and PDFs, embedded by Gemini Embedding 2.

``GE2EmbeddingFunction`` is a Chroma ``EmbeddingFunction[Embeddable]`` (documents and images,
like ``OpenCLIPEmbeddingFunction``), registered under the name ``"ge2"`` so a persisted
collection re-opens with it. ``GE2DataLoader`` turns ``uris=`` (paths) into ge2 inputs, sniffed
by content, so ``add(uris=...)`` and ``query(query_uris=...)`` take any medium.
``add_media`` stores an over-limit file as one record per piece (a Chroma embedding function
must return exactly one vector per input).

Why not Chroma's ``GoogleGeminiEmbeddingFunction``: it is text only, and with
``gemini-embedding-2`` it returns ONE vector for N documents (googleapis/python-genai#2523).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

import ge2
from ge2.tasks import normalize_task

try:
    from chromadb.api.types import Embeddable, EmbeddingFunction, Embeddings, Space
    from chromadb.utils.embedding_functions import register_embedding_function
except ImportError as exc:  # pragma: no cover - exercised by a unit test with chromadb hidden
    raise ge2.MissingExtraError("chromadb", "chroma") from exc

__all__ = ["GE2DataLoader", "GE2EmbeddingFunction", "add_media"]

_OVER_LIMIT = "over the model's limits"
_DEFAULT_TASKS = ("document", "query")
#: What a persisted config may hold: ge2's names, and the Google class's (``model_name``,
#: ``dimension``, ``task_type``) so a config written by hand from Chroma's docs loads too.
_CONFIG_KEYS = frozenset(
    {
        "model",
        "dimensions",
        "document_task",
        "query_task",
        "api_key_env_var",
        "overflow",
        "vertexai",
        "project",
        "location",
        *("model_name", "dimension", "task_type"),
    }
)
#: Settings that change the vectors: a collection cannot switch them without re-embedding.
_FIXED_KEYS = ("model", "dimensions", "overflow", "document_task", "query_task")


@register_embedding_function
class GE2EmbeddingFunction(EmbeddingFunction[Embeddable]):
    """Gemini Embedding 2 for Chroma: documents (str), images (numpy arrays) and ge2 inputs.

    A drop-in for Chroma's ``GoogleGeminiEmbeddingFunction`` / ``GoogleGenaiEmbeddingFunction``:
    the same arguments in the same positions (``model_name, task_type, dimension,
    api_key_env_var, vertexai, project, location``) with the same meaning; ge2's own names
    (``model``, ``dimensions``) work too. Without ``task_type``, documents are embedded with
    the document task and ``embed_query`` with the query task (the Google class sends no task);
    with it, both use that task, as there. Everything goes through one ``ge2.Embedder``,
    which batches (any number of documents), paces and retries. The config Chroma persists
    names the API key's environment variable, never the key. ``overflow="error"`` (the
    default) rejects an over-limit input before anything is sent, because a record holds one
    vector; ``"split"`` mean-pools its pieces; ``add_media`` keeps them apart. ``quota``,
    ``cache``, ``max_concurrency``, ``base_url``, ``credentials``, ``http_options``, ... go
    to ``ge2.Embedder``: runtime options, not persisted, so pass them again when you re-open a
    collection with ``embedding_function=``.
    """

    def __init__(
        self,
        model_name: str | None = None,
        task_type: str | None = None,
        dimension: int | None = None,
        api_key_env_var: str | None = "GEMINI_API_KEY",
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        *,
        model: str | None = None,
        dimensions: int | None = None,
        document_task: str | None = None,
        query_task: str | None = None,
        api_key: str | None = None,
        overflow: Literal["error", "split"] = "error",
        quota: ge2.Quota | Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        given = {"model_name": model_name, "dimension": dimension, "task_type": task_type}
        ours = {
            "model": model,
            "dimensions": dimensions,
            "document_task": document_task,
            "query_task": query_task,
        }
        settings = translate_peer_arguments(given, ours)
        self.model: str = settings["model"]
        self.dimensions: int = settings["dimensions"]
        self.document_task: str = settings["document_task"]
        self.query_task: str = settings["query_task"]
        self.api_key_env_var = api_key_env_var
        self.overflow = overflow
        self.vertexai = vertexai
        self.project = project
        self.location = location
        key = api_key or (os.environ.get(api_key_env_var) if api_key_env_var else None)
        # The key lives only inside the Embedder's client settings: never on this object.
        self.embedder = ge2.Embedder(
            self.model,
            self.dimensions,
            api_key=key or None,
            vertexai=vertexai,
            project=project,
            location=location,
            overflow=overflow,
            quota=quota,
            **options,
        )
        self._options = options  # runtime settings (never the key) for the splitting twin
        self._splitter: ge2.Embedder | None = None

    @property
    def model_name(self) -> str:
        """The Google class's name for ``model``."""
        return self.model

    @property
    def dimension(self) -> int:
        """The Google class's name for ``dimensions``."""
        return self.dimensions

    def __call__(self, input: Embeddable) -> Embeddings:
        # add()/upsert(): Chroma stores each URI as UTF-8 text after this returns, so a file
        # name that is not UTF-8 is refused here, before anything is sent.
        for i, item in enumerate(input):
            if isinstance(item, ge2.Media) and item.path is not None:
                ge2.inputs.require_utf8(item.name, what="uri", index=i)
        return self._embed(input, self.document_task)

    def embed_query(self, input: Embeddable) -> Embeddings:
        return self._embed(input, self.query_task)

    def _embed(self, input: Embeddable, task: str) -> Embeddings:
        items = [_as_input(item, i) for i, item in enumerate(input)]
        try:
            vectors = self.embedder.embed(items, task=task)
        except ge2.InputError as exc:
            if not exc.problem.startswith(_OVER_LIMIT):
                raise
            raise ge2.InputError(
                exc.problem,
                index=exc.index,
                item=exc.item,
                fix="store it as one record per piece with "
                "ge2.integrations.chroma.add_media(collection, [uri]), or shorten it",
            ) from exc
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @property
    def splitter(self) -> ge2.Embedder:
        """The same model, client, cache and options, but splitting over-limit inputs."""
        if self._splitter is None:
            e = self.embedder
            options = {
                **self._options,
                "client": e.client,
                "cache": e.cache if e.cache is not None else False,
            }
            self._splitter = ge2.Embedder(e.model, e.dimensions, overflow="split", **options)
            self._splitter.pacer = e.pacer  # one schedule for one quota
        return self._splitter

    @staticmethod
    def name() -> str:
        return "ge2"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        # GE2 vectors have unit norm at every size, so all three rank alike.
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "model": self.model,
            "dimensions": self.dimensions,
            "api_key_env_var": self.api_key_env_var,
            "overflow": self.overflow,
        }
        if (self.document_task, self.query_task) != _DEFAULT_TASKS:
            config["document_task"] = self.document_task
            config["query_task"] = self.query_task
        for key in ("vertexai", "project", "location"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> GE2EmbeddingFunction:
        GE2EmbeddingFunction.validate_config(config)
        return GE2EmbeddingFunction(**config)

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise ValueError(
                f"ge2 embedding function config has unknown key(s) {unknown}; an API key is "
                "never stored in a config: name its environment variable in api_key_env_var"
            )
        for key in ("model", "model_name"):
            if not isinstance(config.get(key, ""), str):
                raise ValueError(f"ge2 config: {key} must be a string")
        lo, hi = ge2.limits.MIN_DIMENSIONS, ge2.limits.MAX_DIMENSIONS
        for key in ("dimensions", "dimension"):
            dims = config.get(key, hi)
            if dims is None and key == "dimension":
                continue
            if isinstance(dims, bool) or not isinstance(dims, int) or not lo <= dims <= hi:
                raise ValueError(f"ge2 config: {key} must be an int in {lo}..{hi}, not {dims!r}")
        if config.get("overflow", "error") not in ("error", "split"):
            raise ValueError("ge2 config: overflow must be 'error' or 'split'")
        for key in ("task_type", "document_task", "query_task"):
            if config.get(key) is not None:
                normalize_task(config[key])

    def validate_config_update(
        self, old_config: dict[str, Any], new_config: dict[str, Any]
    ) -> None:
        defaults = {**_DEFAULTS, "overflow": "error"}
        for key in _FIXED_KEYS:
            if key in new_config and new_config[key] != old_config.get(key, defaults[key]):
                raise ValueError(
                    f"ge2: {key} cannot change on an existing collection (its vectors would "
                    "no longer compare); create a new collection and re-embed"
                )

    def __repr__(self) -> str:
        return (
            f"GE2EmbeddingFunction(model={self.model!r}, dimensions={self.dimensions}, "
            f"document_task={self.document_task!r}, query_task={self.query_task!r}, "
            f"api_key_env_var={self.api_key_env_var!r})"
        )


class GE2DataLoader:
    """Chroma ``DataLoader``: URIs (paths, ``file://``, ``gs://`` / ``https://``) -> ge2 inputs.

    The type comes from the content (``ge2.load``), so images, audio, video, PDFs and text
    files all work; an unreadable or unsupported URI fails here, before anything is embedded.
    Bytes stay on disk until the request needs them.
    """

    def __call__(self, uris: Sequence[str | None]) -> list[ge2.Input | None]:
        # None stays None (as in Chroma's ImageLoader): get(include=["data"]) on a collection
        # that also holds plain documents asks for records that have no URI.
        return [None if uri is None else self.load(uri, i) for i, uri in enumerate(uris)]

    @staticmethod
    def load(uri: str | os.PathLike[str], index: int = 0) -> ge2.Input:
        """One URI as a ge2 input; errors name the URI and its position."""
        source = os.fspath(uri)
        if source.startswith("file://"):
            source = source[len("file://") :]
        try:
            return ge2.load(source)
        except ge2.InputError as exc:
            raise ge2.InputError(
                exc.problem, index=index, item=exc.item or f"uri {source!r}", fix=exc.fix
            ) from exc

    def __repr__(self) -> str:
        return "GE2DataLoader()"


def add_media(
    collection: Any,
    uris: Sequence[str | os.PathLike[str]],
    *,
    ids: Sequence[str] | None = None,
    metadatas: Sequence[Mapping[str, Any] | None] | None = None,
    embedding_function: GE2EmbeddingFunction | None = None,
) -> list[str]:
    """Add files to ``collection``, one record per piece when a file is over the model's limits.

    A record's id is ``ids[i]`` (default: the URI), with ``#k`` appended when the file was
    split; its metadata gets ``source``, ``piece``, ``pieces`` and the piece's provenance
    (``page_start``/``page_end``, ``start_s``/``end_s``, ``char_start``/``char_end``), then
    ``metadatas[i]`` (yours win on a clash); a text piece is also stored as the record's
    document, and every piece keeps the file's URI. Returns the ids added.
    """
    ef = embedding_function or _collection_function(collection)
    sources = [os.fspath(u) for u in uris]
    for i, source in enumerate(sources):  # Chroma keeps URIs, ids and metadata as UTF-8
        ge2.inputs.require_utf8(source, what="uri", index=i)
        if ids is not None:
            ge2.inputs.require_utf8(ids[i], what="id", index=i, fix="pass ids that are UTF-8")
    if ids is not None and len(ids) != len(sources):
        raise ValueError(f"add_media: {len(ids)} ids for {len(sources)} uris")
    if metadatas is not None and len(metadatas) != len(sources):
        raise ValueError(f"add_media: {len(metadatas)} metadatas for {len(sources)} uris")
    items = [GE2DataLoader.load(source, i) for i, source in enumerate(sources)]
    pieces = ef.splitter.embed_pieces(items, task=ef.document_task)
    out_ids: list[str] = []
    vectors: list[np.ndarray] = []
    metas: list[dict[str, Any]] = []
    documents: list[str | None] = []
    record_uris: list[str] = []
    for i, (source, group) in enumerate(zip(sources, pieces, strict=True)):
        base = ids[i] if ids is not None else source
        user = dict(metadatas[i] or {}) if metadatas is not None else {}
        for k, piece in enumerate(group):
            out_ids.append(base if len(group) == 1 else f"{base}#{k}")
            vectors.append(np.asarray(piece.vector, dtype=np.float32))
            meta = {"source": source, "piece": k, "pieces": len(group)}
            meta.update({key: _scalar(v) for key, v in piece.provenance.items() if v is not None})
            metas.append({**meta, **user})
            text = piece.input.text if isinstance(piece.input, ge2.Text) else None
            documents.append(text)
            record_uris.append(source)
    collection.add(
        ids=out_ids,
        embeddings=vectors,
        metadatas=metas,
        documents=documents if any(d is not None for d in documents) else None,
        uris=record_uris,
    )
    return out_ids


#: Chroma's ``GoogleGeminiEmbeddingFunction`` (alias ``GoogleGenaiEmbeddingFunction``)
#: arguments whose names differ from ours -> the setting(s) they give. The others
#: (``api_key_env_var``, ``vertexai``, ``project``, ``location``) share name and meaning.
PEER_ARGUMENTS: Mapping[str, tuple[str, ...]] = {
    "model_name": ("model",),
    "dimension": ("dimensions",),
    "task_type": ("document_task", "query_task"),  # one task for add() and query(), as there
}
_DEFAULTS: Mapping[str, Any] = {
    "model": ge2.limits.DEFAULT_MODEL,
    "dimensions": ge2.limits.MAX_DIMENSIONS,
    "document_task": "document",
    "query_task": "query",
}


def translate_peer_arguments(peer: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """ge2's settings from the Google class's arguments and ours (None: not given).

    Two arguments that set one thing differently raise, naming both; tasks are stored by
    ge2's name (``RETRIEVAL_QUERY`` -> ``query``).
    """
    settings = {k: v for k, v in ours.items() if v is not None}
    origin = {k: k for k in settings}
    for name, targets in PEER_ARGUMENTS.items():
        value = peer.get(name)
        if value is None:
            continue
        for target in targets:
            if target in settings and _setting(target, settings[target]) != _setting(
                target, value, name
            ):
                raise ValueError(
                    f"{name}={value!r} and {origin[target]}={settings[target]!r} disagree; "
                    "pass one of them"
                )
            settings[target], origin[target] = value, name
    out = {**_DEFAULTS, **settings}
    return {k: _setting(k, v, origin.get(k, k)) for k, v in out.items()}


def _setting(target: str, value: Any, given_as: str | None = None) -> Any:
    """One setting in ge2's form; a value of the wrong kind names the argument it came as."""
    if target in ("document_task", "query_task"):
        if not isinstance(value, str):
            raise TypeError(
                f"{given_as or target}={value!r} is not a task: the second positional argument "
                "is task_type, as in Chroma's GoogleGeminiEmbeddingFunction; pass sizes as "
                "dimension= (or dimensions=)"
            )
        return normalize_task(value)
    return value


def _as_input(item: object, index: int) -> object:
    """Chroma's image type (a numpy array) -> ``ge2.Image``; anything else is ge2's to judge."""
    if not isinstance(item, np.ndarray):
        return item  # str is text; ge2 inputs pass through; the core rejects the rest
    from PIL import Image as PILImage

    arr = item
    if arr.dtype.kind == "f":
        arr = arr * 255.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else arr
    try:
        return ge2.Image(PILImage.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    except (TypeError, ValueError) as exc:
        raise ge2.InputError(
            f"cannot read an array of shape {arr.shape} as an image",
            index=index,
            item="image array",
            fix="pass an HxW, HxWx3 or HxWx4 array of 0..255 values",
        ) from exc


def _collection_function(collection: Any) -> GE2EmbeddingFunction:
    # The function the collection was opened with keeps its runtime options (cache, quota);
    # a re-opened collection only has the persisted config.
    ef = getattr(collection, "_embedding_function", None)
    if not isinstance(ef, GE2EmbeddingFunction):
        ef = collection.configuration.get("embedding_function")
    if not isinstance(ef, GE2EmbeddingFunction):
        raise ge2.ConfigurationError(
            f"collection {collection.name!r} does not use GE2EmbeddingFunction; "
            "pass embedding_function=GE2EmbeddingFunction(...)"
        )
    return ef


def _scalar(value: Any) -> str | int | float | bool:
    """Chroma metadata holds scalars only."""
    return value if isinstance(value, str | int | float | bool) else str(value)
