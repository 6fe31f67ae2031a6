"""LanceDB: Gemini Embedding 2 in LanceDB's embedding function registry.

``get_registry().get("gemini-embedding-2")`` (or ``"ge2"``) gives ``GE2EmbeddingFunction``:
declare ``SourceField``/``VectorField`` in a ``LanceModel`` and ``table.add`` embeds the
source column with the document task, ``table.search(...)`` the query with the query task.
A source row may be text, a path or URI (image, audio, video, PDF, text file) or bytes, all
in one vector space. An over-limit source gets the mean of its pieces' vectors (LanceDB
keeps one vector per row); ``add_pieces`` stores one row per piece with its provenance.

Why not LanceDB's ``gemini-text``: it is text only and sends ``task_type``, which
``gemini-embedding-2`` ignores; ge2 puts the task into the text as Google documents.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

import ge2

try:
    import pyarrow as pa
    from lancedb.embeddings import EmbeddingFunction, register
    from pydantic import ConfigDict, PrivateAttr, SecretStr, field_validator, model_validator
except ImportError as exc:  # pragma: no cover - exercised by a unit test with lancedb hidden
    raise ge2.MissingExtraError("lancedb", "lancedb") from exc

__all__ = ["GE2EmbeddingFunction", "add_pieces"]

_URI_SCHEMES = ("gs://", "https://", "http://")
#: LanceDB's ``gemini-text`` argument -> ours (drop-in), and its task spellings -> ge2 tasks.
_PEER_ARGS = dict(name="model", dim="dimensions", query_task_type="query_task",
                  source_task_type="source_task")  # fmt: skip
_PEER_TASKS = dict(retrieval_query="query", retrieval_document="document",
                   semantic_similarity="similarity")  # fmt: skip
#: Fields that say how to read sources; the rest are ``ge2.Embedder`` settings.
_OWN_FIELDS = {"api_key", "query_task", "source_task", "source_type"}
_EMBEDDERS: dict[str, ge2.Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


@register("gemini-embedding-2")  # type: ignore[no-untyped-call]
@register("ge2")  # type: ignore[no-untyped-call]
class GE2EmbeddingFunction(EmbeddingFunction):
    """Gemini Embedding 2 for LanceDB tables: text and media sources, one vector space.

    Settings are what LanceDB stores in the table's metadata and rebuilds the function from
    on every ``add``/``search`` (also in a new process, once this module is imported). The
    API key never goes there: leave ``api_key`` unset to read ``GEMINI_API_KEY`` /
    ``GOOGLE_API_KEY`` from the environment, or pass ``"$var:NAME"`` (LanceDB's sensitive-key
    mechanism, see ``registry.set_var``). ``source_type`` says how a string source is read:
    ``"auto"`` (a URI or an existing file is media, anything else text), ``"text"`` or
    ``"uri"``. A string query is always text; pass a ``Path``, bytes, a PIL image or a ge2
    input to search by media. ge2 retries, paces and caches; LanceDB's own retry loop (which
    would retry a bad input 7 times) is bypassed.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = ge2.limits.DEFAULT_MODEL
    dimensions: int = ge2.limits.MAX_DIMENSIONS
    api_key: SecretStr | None = None
    base_url: str | None = None
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None
    quota: dict[str, Any] | None = None
    cache: bool | str = False
    max_retries: int = 6
    max_concurrency: int = 4
    query_task: str = "query"
    source_task: str = "document"
    source_type: Literal["auto", "text", "uri"] = "auto"

    _core: ge2.Embedder = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _peer_names(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for theirs, ours in _PEER_ARGS.items():
            if theirs in out:
                if ours in out:
                    raise ValueError(f"pass {ours}= or {theirs}=, not both")
                out[ours] = out.pop(theirs)
        if isinstance(out.get("cache"), os.PathLike):
            out["cache"] = os.fspath(out["cache"])
        return out

    @field_validator("query_task", "source_task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        key = task.strip().lower().replace("-", "_").replace(" ", "_")
        key = _PEER_TASKS.get(key, key)
        if key not in ge2.TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(ge2.TASKS)}")
        return key

    @field_validator("quota", mode="before")
    @classmethod
    def _quota_fields(cls, quota: Any) -> Any:
        q = ge2.Quota.of(quota)  # ValueError naming unknown fields
        return None if q is None else asdict(q)

    def model_post_init(self, context: Any, /) -> None:
        self._core = _shared_embedder(self)

    @staticmethod
    def sensitive_keys() -> list[str]:
        return ["api_key"]

    def ndims(self) -> int:
        return self.dimensions

    @property
    def embedder(self) -> ge2.Embedder:
        """The ``ge2.Embedder`` doing the work (shared by every copy with the same settings)."""
        return self._core

    def compute_source_embeddings(self, source: Any, *args: Any, **kwargs: Any) -> list[Any]:
        items = _as_list(source)
        inputs = [None if x is None else self._source_input(x, i) for i, x in enumerate(items)]
        return self._embed(inputs, self.source_task)

    def compute_query_embeddings(self, query: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return self._embed([query], self.query_task)  # LanceDB searches one query at a time

    # ge2 already retries what is worth retrying; LanceDB's loop would retry bad input too.
    def compute_source_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[Any]:
        return self.compute_source_embeddings(*args, **kwargs)

    def compute_query_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[Any]:
        return self.compute_query_embeddings(*args, **kwargs)

    def safe_model_dump(self) -> dict[str, Any]:
        """What LanceDB writes into the table metadata: the settings, never a literal key."""
        given = getattr(self, "_original_args", None)
        if given is None:  # built directly rather than with .create()
            given = self.model_dump(exclude_defaults=True, exclude={"api_key"})
        out: dict[str, Any] = {}
        for key, value in given.items():
            if key == "api_key" and not (isinstance(value, str) and value.startswith("$var:")):
                continue
            if isinstance(value, ge2.Quota):
                value = asdict(value)
            out[key] = os.fspath(value) if isinstance(value, os.PathLike) else value
        return out

    def __hash__(self) -> int:  # LanceDB's hashes field values, and quota is a dict
        return hash(repr(sorted(self.model_dump(exclude={"api_key"}).items())))

    def _source_input(self, item: Any, index: int) -> Any:
        if not isinstance(item, str) or self.source_type == "text":
            return item  # bytes are sniffed by content; the core names anything it cannot use
        if self.source_type == "uri" or _names_file(item):
            return _load(item, index, self.source_type == "auto")
        return item

    def _embed(self, items: list[Any], task: str) -> list[Any]:
        keep = [i for i, x in enumerate(items) if x is not None]
        vectors = self._core.embed([items[i] for i in keep], task=task)
        out: list[Any] = [None] * len(items)
        for i, v in zip(keep, vectors, strict=True):
            out[i] = np.asarray(v, dtype=np.float32)
        return out


def add_pieces(
    table: Any,
    sources: Sequence[str | os.PathLike[str] | bytes],
    *,
    rows: Sequence[Mapping[str, Any]] | None = None,
    vector_column: str | None = None,
) -> int:
    """Add sources to ``table`` as one row per piece (a long PDF, video, audio or text).

    The source column holds the piece's text (text pieces) or the source itself; ``piece``,
    ``pieces`` and the piece's provenance (``page_start``/``page_end``, ``start_s``/``end_s``,
    ``char_start``/``char_end``, ...) fill the table's columns of those names, and
    ``rows[i]`` adds your own columns to every piece of source i. Embeds everything before
    writing, so a failure adds nothing. Returns the number of rows added.
    """
    column, conf = _ge2_column(table, vector_column)
    fn: GE2EmbeddingFunction = conf.function
    if rows is not None and len(rows) != len(sources):
        raise ValueError(f"add_pieces: {len(rows)} rows for {len(sources)} sources")
    given = [os.fspath(s) if isinstance(s, os.PathLike) else s for s in sources]
    for i, source in enumerate(given):  # the source column is UTF-8 text in Arrow
        if isinstance(source, str):
            ge2.inputs.require_utf8(source, what="source", index=i)
    inputs = [fn._source_input(s, i) for i, s in enumerate(given)]
    pieces = fn.embedder.embed_pieces(inputs, task=fn.source_task)
    names = set(table.schema.names)
    out: list[dict[str, Any]] = []
    for i, group in enumerate(pieces):
        for k, piece in enumerate(group):
            prov = {**piece.provenance, "piece": k, "pieces": len(group)}
            row = {key: v for key, v in prov.items() if key in names}
            text = piece.input.text if isinstance(piece.input, ge2.Text) else None
            row[conf.source_column] = text if text is not None else given[i]
            row[column] = piece.vector
            out.append({**row, **(rows[i] if rows is not None else {})})
    columns = dict.fromkeys(key for row in out for key in row)  # LanceDB reads row 0's keys
    if out:
        table.add([{**columns, **row} for row in out])
    return len(out)


def _ge2_column(table: Any, vector_column: str | None) -> tuple[str, Any]:
    found = {name: conf for name, conf in table.embedding_functions.items()
             if isinstance(conf.function, GE2EmbeddingFunction)
             and vector_column in (None, name)}  # fmt: skip
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(sorted(found))})"
        raise ge2.ConfigurationError(
            f"table {table.name!r} has {what} vector column(s) embedded by GE2EmbeddingFunction"
            + ("; pass vector_column=" if found else "")
        )
    return next(iter(found.items()))


def _shared_embedder(fn: GE2EmbeddingFunction) -> ge2.Embedder:
    """One Embedder per settings in a process: LanceDB rebuilds the function on every call,
    and the quota's schedule, the client and the cache must outlive each rebuild. The SDK's
    environment variables count as settings (the key is only hashed into the lookup)."""
    settings = fn.model_dump(exclude=_OWN_FIELDS)
    api_key = fn.api_key.get_secret_value() if fn.api_key else None
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(("GEMINI_", "GOOGLE_")))
    key = hashlib.sha256(repr((sorted(settings.items()), api_key, env)).encode()).hexdigest()
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = ge2.Embedder(api_key=api_key, **settings)
        return _EMBEDDERS[key]


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return list(values.to_pylist())
    return [values] if isinstance(values, str | bytes) else list(values)


def _names_file(text: str) -> bool:
    """``source_type="auto"``: a URI, or one line naming an existing file or a media file."""
    if text.startswith((*_URI_SCHEMES, "file://")):
        return True
    if "\n" in text or len(text) > 4096:
        return False
    kind = mimetypes.guess_type(text)[0] or ""
    return (
        kind.startswith(("image/", "audio/", "video/", "application/pdf")) or Path(text).is_file()
    )


def _load(source: str, index: int, auto: bool) -> ge2.Input:
    path = source[len("file://") :] if source.startswith("file://") else source
    try:
        return ge2.load(path)
    except ge2.InputError as exc:
        fix = exc.fix
        if auto and not Path(path).is_file():  # perhaps a string that only looks like a file
            hint = "to embed such strings as text, use source_type='text'"
            fix = f"{fix}; or, {hint}" if fix else hint
        item = exc.item or f"source {source!r}"
        raise ge2.InputError(exc.problem, index=index, item=item, fix=fix) from exc
