"""GE2 vectors in Qdrant collections: one named vector per Matryoshka size, two-stage search.

A helper, not a wrapper: the ``QdrantClient`` (local ``":memory:"``, a path, a server or
Qdrant Cloud) and the collection stay the caller's, points go in through ``upsert`` and
queries through the Query API, and what comes back is the client's own ``ScoredPoint``.
ge2 supplies what Qdrant has no path for: Gemini Embedding 2 vectors for text, images,
audio, video, PDFs and mixed inputs, long media split into one point per piece, and every
Matryoshka size from ONE embedding call, so a search can prefetch candidates on a small
vector and rescore them on the full one.

Provenance of a piece (page or time range, piece number, source) is written under the
payload key ``"ge2"`` (filter on ``"ge2.page_start"`` etc.), so it never overwrites the
caller's payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ge2

try:
    from qdrant_client import models
except ImportError as exc:  # pragma: no cover - exercised with the import simulated away
    raise ge2.MissingExtraError("qdrant-client", "qdrant") from exc

#: The payload key that holds ge2's provenance of a point (kept apart from the caller's keys).
PAYLOAD_KEY = "ge2"
#: Namespace of the point ids ge2 derives (uuid5), so the same source maps to the same ids.
ID_NAMESPACE = uuid.UUID("6f1c2a0e-5d0b-4c84-9b4f-2e0d6a1f7c35")
_QUANTIZATION = {
    "scalar": lambda: models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
    ),
    "binary": lambda: models.BinaryQuantization(
        binary=models.BinaryQuantizationConfig(always_ram=True)
    ),
}


def vector_name(size: int) -> str:
    """The named vector that holds the ``size``-dimension Matryoshka prefix."""
    return f"ge2_{size}"


@dataclass
class AddResult:
    """What ``add`` wrote: per input, the ids of its points (one per piece), and what failed.

    ``ids[i]`` is empty where input ``i`` failed; ``failures`` names each such input with
    its index and cause. Points written before a failure stay written.
    """

    ids: list[list[int | str]]
    failures: list[ge2.ItemFailure] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(i) for i in self.ids)


def _prefix(vector: Sequence[float], size: int) -> list[float]:
    """A smaller Matryoshka size: the re-normalised prefix (GE2 vectors are unit-norm)."""
    head = np.asarray(vector[:size], dtype=np.float32)
    return (head / (float(np.linalg.norm(head)) or 1.0)).tolist()


def _digest(item: ge2.Input) -> str:
    """A content identity for ids derived when the caller gives none."""
    if isinstance(item, ge2.Text):
        return hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(item, ge2.Mixed):
        return hashlib.sha256("|".join(_digest(p) for p in item.parts).encode()).hexdigest()
    return str(item.sha256())


def _check_id(value: Any, where: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise ge2.InputError(
        f"id {value!r} is not a Qdrant point id",
        item=where,
        fix="use an unsigned integer or a UUID (or ids=None: ge2 derives stable UUIDs)",
    )


def _filter(query_filter: Any) -> models.Filter | None:
    if query_filter is None or isinstance(query_filter, models.Filter):
        return query_filter
    if isinstance(query_filter, Mapping):
        try:
            return models.Filter.model_validate(dict(query_filter))
        except ValueError as exc:
            raise ge2.ConfigurationError(f"query_filter is not a Qdrant filter: {exc}") from exc
    raise ge2.ConfigurationError(
        f"query_filter must be a qdrant_client.models.Filter or a dict of one, not "
        f"{type(query_filter).__name__}"
    )


async def _maybe_await(client: Any, method: str, **kwargs: Any) -> Any:
    """Call a sync or an async Qdrant client from async code without blocking the loop."""
    fn = getattr(client, method)
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)


class CollectionVectors:
    """GE2 vectors for one Qdrant collection: add anything, search by anything.

    ``sizes`` are the Matryoshka sizes stored, each as named vector ``ge2_<size>`` with
    cosine distance; all come from one embedding call per batch. With two or more sizes,
    ``search`` prefetches ``prefetch_limit`` candidates on the smallest and rescores them on
    the largest in ONE Query API call.
    """

    def __init__(
        self,
        client: Any,
        collection: str,
        embedder: ge2.Embedder | None = None,
        sizes: Sequence[int] = (256, 3072),
        *,
        prefetch_limit: int | None = None,
    ) -> None:
        if not sizes:
            raise ge2.ConfigurationError("sizes must name at least one Matryoshka size")
        for s in sizes:
            if not ge2.limits.MIN_DIMENSIONS <= int(s) <= ge2.limits.MAX_DIMENSIONS:
                raise ge2.ConfigurationError(
                    f"size {s} is outside {ge2.limits.MIN_DIMENSIONS}..{ge2.limits.MAX_DIMENSIONS}"
                )
        self.client = client
        self.collection = collection
        self.sizes = sorted({int(s) for s in sizes})
        self.embedder = embedder or ge2.Embedder(dimensions=max(self.sizes))
        self.prefetch_limit = prefetch_limit

    def __repr__(self) -> str:
        return f"CollectionVectors(collection={self.collection!r}, sizes={self.sizes})"

    @property
    def names(self) -> dict[str, int]:
        return {vector_name(s): s for s in self.sizes}

    # -- set-up ---------------------------------------------------------------------------

    def vectors_config(
        self, *, quantization: str | Any | None = None, on_disk: bool | None = None
    ) -> dict[str, models.VectorParams]:
        """The named vectors to create; ``quantization`` ("scalar", "binary" or a Qdrant
        quantization config) goes on the smallest size, the one candidates are found on."""
        if isinstance(quantization, str):
            if quantization not in _QUANTIZATION:
                raise ge2.ConfigurationError(
                    f"quantization={quantization!r}: use 'scalar', 'binary', a Qdrant "
                    "quantization config, or None"
                )
            quantization = _QUANTIZATION[quantization]()
        small = self.sizes[0] if len(self.sizes) > 1 else None
        return {
            name: models.VectorParams(
                size=size,
                distance=models.Distance.COSINE,
                on_disk=on_disk,
                quantization_config=quantization if size == small else None,
            )
            for name, size in self.names.items()
        }

    def create_or_adopt(
        self, *, quantization: str | Any | None = None, on_disk: bool | None = None, **create: Any
    ) -> CollectionVectors:
        """Create the collection with ge2's named vectors, or check an existing one."""
        if self.client.collection_exists(self.collection):
            self.check()
        else:
            self.client.create_collection(
                self.collection,
                vectors_config=self.vectors_config(quantization=quantization, on_disk=on_disk),
                **create,
            )
        return self

    def check(self) -> None:
        """The collection exists and has our named vectors, sizes and distance: else say
        exactly what differs before anything is written."""
        if not self.client.collection_exists(self.collection):
            raise ge2.ConfigurationError(
                f"Qdrant collection {self.collection!r} does not exist; call "
                "create_or_adopt() or create it with vectors_config=cv.vectors_config()"
            )
        params = self.client.get_collection(self.collection).config.params.vectors
        have = params if isinstance(params, Mapping) else {"": params}
        problems = []
        for name, size in self.names.items():
            got = have.get(name)
            if got is None:
                problems.append(f"no named vector {name!r}")
            elif got.size != size:
                problems.append(f"{name!r} holds {got.size}-d vectors, not {size}-d")
            elif got.distance != models.Distance.COSINE:
                problems.append(f"{name!r} uses {got.distance} distance, not Cosine")
        if problems:
            shown = ", ".join(repr(n) if n else "an unnamed vector" for n in have)
            raise ge2.ConfigurationError(
                f"Qdrant collection {self.collection!r} does not fit sizes={self.sizes}: "
                f"{'; '.join(problems)} (it has {shown}). Use sizes matching its vectors, "
                "or a new collection"
            )

    # -- writing --------------------------------------------------------------------------

    def _prepare(
        self, items: Sequence[Any], ids: Sequence[Any] | None, payloads: Sequence[Any] | None
    ) -> tuple[list[ge2.Input], list[int | str | None], list[dict[str, Any]]]:
        """Inputs, ids and payloads checked before anything is embedded or written."""
        n = len(items)
        for name, given in (("ids", ids), ("payloads", payloads)):
            if given is not None and len(given) != n:
                raise ge2.ConfigurationError(f"{len(given)} {name} for {n} items")
        inputs = [ge2.as_input(x) for x in items]
        out_ids: list[int | str | None] = [None] * n
        out_payloads: list[dict[str, Any]] = []
        for i in range(n):
            where = f"item #{i}"
            if ids is not None:
                out_ids[i] = _check_id(ids[i], where)
            payload = dict(payloads[i] or {}) if payloads is not None else {}
            if PAYLOAD_KEY in payload:
                raise ge2.InputError(
                    f"payload key {PAYLOAD_KEY!r} is where ge2 writes provenance",
                    item=where,
                    fix=f"rename that payload key (filter on '{PAYLOAD_KEY}.page_start' etc.)",
                )
            out_payloads.append(payload)
        return inputs, out_ids, out_payloads

    def _points(
        self,
        inputs: list[ge2.Input],
        ids: list[int | str | None],
        payloads: list[dict[str, Any]],
        pieces: Sequence[Sequence[ge2.Piece] | None],
    ) -> list[list[models.PointStruct]]:
        """Per input, its points: one per piece, every size, stable ids."""
        out: list[list[models.PointStruct]] = []
        for i, got in enumerate(pieces):
            if not got:
                out.append([])
                continue
            base = str(ids[i]) if ids[i] is not None else _digest(inputs[i])
            points = []
            split = len(got) > 1
            for j, piece in enumerate(got):
                pid = (
                    ids[i]
                    if ids[i] is not None and not split
                    else str(uuid.uuid5(ID_NAMESPACE, f"{base}#{j}" if split else base))
                )
                prov = {k: v for k, v in piece.provenance.items() if v is not None}
                prov.update({"piece": j, "pieces": len(got)})
                if ids[i] is not None:
                    prov["item_id"] = ids[i]
                vectors = {
                    name: piece.vector if size == len(piece.vector) else _prefix(piece.vector, size)
                    for name, size in self.names.items()
                }
                payload = {**payloads[i], PAYLOAD_KEY: prov}
                points.append(models.PointStruct(id=pid, vector=vectors, payload=payload))  # type: ignore[arg-type]
            out.append(points)
        return out

    @staticmethod
    def _embedded(exc: ge2.EmbeddingError, n: int) -> tuple[list[Any], list[ge2.ItemFailure]]:
        return list(exc.pieces) + [None] * (n - len(exc.pieces)), list(exc.failures)

    def add(
        self,
        items: Sequence[Any],
        ids: Sequence[Any] | None = None,
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 256,
        wait: bool = True,
    ) -> AddResult:
        """Embed ``items`` (text, paths, bytes, ge2 inputs) and upsert them as points.

        Bad input raises ``ge2.InputError`` naming the item before anything is sent or
        written. Items that fail at the API or at Qdrant are listed in the result's
        ``failures``; the others are written.
        """
        inputs, pids, pays = self._prepare(items, ids, payloads)
        failures: list[ge2.ItemFailure] = []
        try:
            pieces: list[Any] = self.embedder.embed_pieces(
                inputs, task="document", dimensions=max(self.sizes)
            )
        except ge2.EmbeddingError as exc:
            pieces, failures = self._embedded(exc, len(inputs))
        per_item = self._points(inputs, pids, pays, pieces)
        result = AddResult([[] for _ in inputs], failures)
        for chunk in self._chunks(per_item, batch_size):
            points = [p for _, pts in chunk for p in pts]
            try:
                self.client.upsert(self.collection, points=points, wait=wait)
            except Exception as exc:
                self._record(result, chunk, exc)
            else:
                self._record(result, chunk, None)
        return result

    async def aadd(
        self,
        items: Sequence[Any],
        ids: Sequence[Any] | None = None,
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 256,
        wait: bool = True,
    ) -> AddResult:
        """Async twin of ``add`` (a sync client is called off the event loop)."""
        inputs, pids, pays = self._prepare(items, ids, payloads)
        failures: list[ge2.ItemFailure] = []
        try:
            pieces: list[Any] = await self.embedder.aembed_pieces(
                inputs, task="document", dimensions=max(self.sizes)
            )
        except ge2.EmbeddingError as exc:
            pieces, failures = self._embedded(exc, len(inputs))
        per_item = self._points(inputs, pids, pays, pieces)
        result = AddResult([[] for _ in inputs], failures)
        for chunk in self._chunks(per_item, batch_size):
            points = [p for _, pts in chunk for p in pts]
            try:
                await _maybe_await(
                    self.client, "upsert", collection_name=self.collection, points=points, wait=wait
                )
            except Exception as exc:
                self._record(result, chunk, exc)
            else:
                self._record(result, chunk, None)
        return result

    @staticmethod
    def _chunks(
        per_item: list[list[models.PointStruct]], size: int
    ) -> list[list[tuple[int, list[models.PointStruct]]]]:
        """Items grouped into upserts of about ``size`` points; an item is never cut."""
        chunks: list[list[tuple[int, list[models.PointStruct]]]] = [[]]
        count = 0
        for i, pts in enumerate(per_item):
            if not pts:
                continue
            if count and count + len(pts) > size:
                chunks.append([])
                count = 0
            chunks[-1].append((i, pts))
            count += len(pts)
        return [c for c in chunks if c]

    @staticmethod
    def _record(
        result: AddResult,
        chunk: list[tuple[int, list[models.PointStruct]]],
        error: BaseException | None,
    ) -> None:
        for i, pts in chunk:
            if error is None:
                result.ids[i] = [p.id for p in pts]
            else:
                result.failures.append(ge2.ItemFailure(i, error, f"upsert of {len(pts)} point(s)"))
        result.failures.sort(key=lambda f: f.index)

    # -- searching ------------------------------------------------------------------------

    def _query_input(self, query: Any) -> ge2.Input:
        return ge2.Text(query) if isinstance(query, str) else ge2.as_input(query)

    def _request(
        self, vector: list[float], limit: int, query_filter: Any, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The Query API call: plain search with one size, prefetch + rescore with several."""
        flt = _filter(query_filter)
        full = vector_name(self.sizes[-1])
        request: dict[str, Any] = {
            "collection_name": self.collection,
            "query": vector,
            "using": full,
            "limit": limit,
            "query_filter": flt,
            "with_payload": kwargs.pop("with_payload", True),
            **kwargs,
        }
        if len(self.sizes) > 1:
            small = self.sizes[0]
            request["prefetch"] = models.Prefetch(
                query=_prefix(vector, small),
                using=vector_name(small),
                limit=self.prefetch_limit or max(4 * limit, 100),
                filter=flt,
            )
        return request

    def search(
        self, query: Any, limit: int = 10, query_filter: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Points nearest to ``query`` (text, or an image, audio, video, PDF or mixed input),
        embedded with the query task; the client's own ``ScoredPoint``s, best first.
        Other keyword arguments go to ``query_points`` as they are."""
        vector = self.embedder.embed_one(
            self._query_input(query), task="query", dimensions=self.sizes[-1]
        )
        response = self.client.query_points(**self._request(vector, limit, query_filter, kwargs))
        return list(response.points)

    async def asearch(
        self, query: Any, limit: int = 10, query_filter: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Async twin of ``search``."""
        vector = await self.embedder.aembed_one(
            self._query_input(query), task="query", dimensions=self.sizes[-1]
        )
        request = self._request(vector, limit, query_filter, kwargs)
        response = await _maybe_await(self.client, "query_points", **request)
        return list(response.points)


__all__ = ["ID_NAMESPACE", "PAYLOAD_KEY", "AddResult", "CollectionVectors", "vector_name"]
