"""GE2 vectors in Vertex AI Vector Search 2.0 collections (``google-cloud-vectorsearch``).

A helper, not a wrapper: the three service clients and the collection stay the caller's;
data objects go in through ``batch_create_data_objects`` and queries through
``search_data_objects`` / ``batch_search_data_objects``, and what comes back is the
client's own ``SearchResult``s. ge2 supplies what the service's own auto-embeddings
(``VertexEmbeddingConfig``, text templates only) cannot: vectors for images, audio, video,
PDFs and mixed inputs, long media split into one data object per piece, and several
Matryoshka sizes from one embedding call, one dense vector field each (``ge2_<size>``).

Provenance of a piece is written into the object's data under ``"ge2"`` (``source``,
``piece``, ``pieces``, ``page_start``, ``start_s``, ...), apart from the caller's fields.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ge2

try:
    from google.api_core import exceptions as gexc
    from google.cloud import vectorsearch_v1 as vs
except ImportError as exc:  # pragma: no cover - exercised with the import simulated away
    raise ge2.MissingExtraError("google-cloud-vectorsearch", "vectorsearch") from exc

DATA_KEY = "ge2"
#: What this helper accepts as a data object id (conservative: letters, digits, - and _).
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PROVENANCE_SCHEMA = {
    "type": "object",
    "properties": {
        k: {"type": t}
        for k, t in {
            "source": "string",
            "piece": "integer",
            "pieces": "integer",
            "item_id": "string",
            "page_start": "integer",
            "page_end": "integer",
            "start_s": "number",
            "end_s": "number",
            "char_start": "integer",
            "char_end": "integer",
        }.items()
    },
}


def field_name(size: int) -> str:
    """The dense vector field that holds the ``size``-dimension Matryoshka prefix."""
    return f"ge2_{size}"


@dataclass
class AddResult:
    """Per input, the ids of the data objects written (one per piece), and what failed.

    ``ids[i]`` is empty where input ``i`` failed; objects written before a failure stay.
    """

    ids: list[list[str]]
    failures: list[ge2.ItemFailure] = field(default_factory=list)

    @property
    def objects(self) -> int:
        return sum(len(i) for i in self.ids)


def _prefix(vector: Sequence[float], size: int) -> list[float]:
    head = np.asarray(vector[:size], dtype=np.float32)
    return (head / (float(np.linalg.norm(head)) or 1.0)).tolist()


def _digest(item: ge2.Input) -> str:
    if isinstance(item, ge2.Text):
        return hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    if isinstance(item, ge2.Mixed):
        return hashlib.sha256("|".join(_digest(p) for p in item.parts).encode()).hexdigest()[:40]
    return str(item.sha256())[:40]


def _model_id(model: str) -> str:
    """``publishers/google/models/gemini-embedding-2`` and ``-preview`` -> the family id."""
    return model.rsplit("/", 1)[-1].removesuffix("-preview")


async def _call(client: Any, method: str, request: Any) -> Any:
    fn = getattr(client, method)
    if inspect.iscoroutinefunction(fn):
        return await fn(request=request)
    return await asyncio.to_thread(fn, request=request)


class CollectionVectors:
    """GE2 vectors for one Vector Search collection (``projects/P/locations/L/collections/C``).

    ``sizes`` names the dense vector fields written (``ge2_<size>``), all from one
    embedding call; ``search`` uses the largest unless told otherwise.
    """

    def __init__(
        self,
        collection: str,
        embedder: ge2.Embedder | None = None,
        sizes: Sequence[int] = (768,),
        *,
        collections_client: Any = None,
        data_client: Any = None,
        search_client: Any = None,
        fields: Mapping[str, int] | None = None,
    ) -> None:
        if not re.fullmatch(r"projects/[^/]+/locations/[^/]+/collections/[^/]+", collection):
            raise ge2.ConfigurationError(
                f"collection {collection!r} is not a resource name; use "
                "'projects/PROJECT/locations/LOCATION/collections/COLLECTION'"
            )
        self.collection = collection
        self.fields = dict(fields) if fields else {field_name(int(s)): int(s) for s in sizes}
        for name, size in self.fields.items():
            if not ge2.limits.MIN_DIMENSIONS <= size <= ge2.limits.MAX_DIMENSIONS:
                raise ge2.ConfigurationError(f"field {name!r}: size {size} is outside 128..3072")
        self.embedder = embedder or ge2.Embedder(dimensions=max(self.fields.values()))
        self.collections_client = collections_client or vs.VectorSearchServiceClient()
        self.data_client = data_client or vs.DataObjectServiceClient()
        self.search_client = search_client or vs.DataObjectSearchServiceClient()

    def __repr__(self) -> str:
        return f"CollectionVectors(collection={self.collection!r}, fields={self.fields})"

    # -- set-up ---------------------------------------------------------------------------

    def schema(self, data_schema: Mapping[str, Any] | None = None) -> vs.Collection:
        """A collection with our dense vector fields and the provenance in its data schema."""
        data = {"type": "object", "properties": {}, **dict(data_schema or {})}
        data["properties"] = {**data["properties"], DATA_KEY: _PROVENANCE_SCHEMA}
        return vs.Collection(
            vector_schema={
                name: vs.VectorField(dense_vector=vs.DenseVectorField(dimensions=size))
                for name, size in self.fields.items()
            },
            data_schema=data,
        )

    def create_or_adopt(
        self, *, data_schema: Mapping[str, Any] | None = None, **collection: Any
    ) -> CollectionVectors:
        """Create the collection with our fields (waiting for the operation), or check it."""
        try:
            self.check()
            return self
        except gexc.NotFound:
            pass
        parent, _, cid = self.collection.rpartition("/collections/")
        spec = self.schema(data_schema)
        for key, value in collection.items():
            setattr(spec, key, value)
        self.collections_client.create_collection(
            request=vs.CreateCollectionRequest(parent=parent, collection_id=cid, collection=spec)
        ).result()
        return self

    def check(self) -> vs.Collection:
        """The collection has our dense vector fields at our sizes; else say what differs."""
        got = self.collections_client.get_collection(
            request=vs.GetCollectionRequest(name=self.collection)
        )
        have = {n: f.dense_vector.dimensions for n, f in got.vector_schema.items()}
        problems = [
            f"no dense vector field {n!r}"
            if n not in have
            else f"{n!r} holds {have[n]}-d vectors, not {s}-d"
            for n, s in self.fields.items()
            if have.get(n) != s
        ]
        if problems:
            raise ge2.ConfigurationError(
                f"Vector Search collection {self.collection} does not fit: "
                f"{'; '.join(problems)} (it has {have or 'no dense fields'}); use fields "
                "matching it, or a new collection"
            )
        return got

    @classmethod
    def beside_auto_embeddings(
        cls,
        collection: str,
        embedder: ge2.Embedder | None = None,
        *,
        field: str | None = None,
        collections_client: Any = None,
        data_client: Any = None,
        search_client: Any = None,
    ) -> CollectionVectors:
        """Write into the field the service fills from text with ``gemini-embedding-2``.

        Text objects keep being embedded by the service from its text template; ge2 adds
        what the template cannot carry (images, audio, video, PDFs, long media) as vectors
        of the same model and size in the same field, so one search finds both.
        """
        client = collections_client or vs.VectorSearchServiceClient()
        got = client.get_collection(request=vs.GetCollectionRequest(name=collection))
        auto = {
            n: f.dense_vector
            for n, f in got.vector_schema.items()
            if f.dense_vector.vertex_embedding_config.model_id
        }
        if field is None and len(auto) == 1:
            field = next(iter(auto))
        if field not in auto:
            raise ge2.ConfigurationError(
                f"collection {collection} has no auto-embedded field {field!r} "
                f"(auto-embedded: {sorted(auto) or 'none'})"
            )
        model = auto[field].vertex_embedding_config.model_id
        emb = embedder or ge2.Embedder(dimensions=auto[field].dimensions)
        if _model_id(model) != _model_id(emb.model):
            raise ge2.ConfigurationError(
                f"field {field!r} is embedded by {model!r} but the embedder uses "
                f"{emb.model!r}: vectors of two models do not share a space"
            )
        return cls(
            collection,
            emb,
            fields={field: auto[field].dimensions},
            collections_client=client,
            data_client=data_client,
            search_client=search_client,
        )

    # -- writing --------------------------------------------------------------------------

    def _prepare(
        self, items: Sequence[Any], ids: Sequence[Any] | None, data: Sequence[Any] | None
    ) -> tuple[list[ge2.Input], list[str | None], list[dict[str, Any]]]:
        n = len(items)
        for name, given in (("ids", ids), ("data", data)):
            if given is not None and len(given) != n:
                raise ge2.ConfigurationError(f"{len(given)} {name} for {n} items")
        inputs = [ge2.as_input(x) for x in items]
        out_ids: list[str | None] = []
        out_data: list[dict[str, Any]] = []
        for i in range(n):
            where = f"item #{i}"
            oid = None if ids is None else str(ids[i])
            if oid is not None and not _ID.fullmatch(oid):
                raise ge2.InputError(
                    f"data object id {oid!r} is not accepted",
                    item=where,
                    fix="use 1-128 letters, digits, '-' or '_' (or ids=None: ge2 derives them)",
                )
            values = dict(data[i] or {}) if data is not None else {}
            if DATA_KEY in values:
                raise ge2.InputError(
                    f"data key {DATA_KEY!r} is where ge2 writes provenance",
                    item=where,
                    fix="rename that field",
                )
            out_ids.append(oid)
            out_data.append(values)
        return inputs, out_ids, out_data

    def _objects(
        self,
        inputs: list[ge2.Input],
        ids: list[str | None],
        data: list[dict[str, Any]],
        pieces: Sequence[Sequence[ge2.Piece] | None],
    ) -> list[list[vs.CreateDataObjectRequest]]:
        out: list[list[vs.CreateDataObjectRequest]] = []
        for i, got in enumerate(pieces):
            reqs = []
            base = ids[i] or _digest(inputs[i])
            for j, piece in enumerate(got or ()):
                split = len(got or ()) > 1
                prov = {k: v for k, v in piece.provenance.items() if v is not None}
                prov.update({"piece": j, "pieces": len(got or ())})
                if ids[i] is not None:
                    prov["item_id"] = ids[i]
                if "source" in prov:
                    prov["source"] = str(prov["source"])
                vectors = {
                    name: vs.Vector(
                        dense=vs.DenseVector(
                            values=piece.vector
                            if size == len(piece.vector)
                            else _prefix(piece.vector, size)
                        )
                    )
                    for name, size in self.fields.items()
                }
                reqs.append(
                    vs.CreateDataObjectRequest(
                        data_object_id=f"{base}-p{j}" if split else base,
                        data_object=vs.DataObject(
                            data={**data[i], DATA_KEY: prov}, vectors=vectors
                        ),
                    )
                )
            out.append(reqs)
        return out

    @staticmethod
    def _chunks(per_item: list[list[Any]], size: int) -> list[list[tuple[int, list[Any]]]]:
        chunks: list[list[tuple[int, list[Any]]]] = [[]]
        count = 0
        for i, reqs in enumerate(per_item):
            if not reqs:
                continue
            if count and count + len(reqs) > size:
                chunks.append([])
                count = 0
            chunks[-1].append((i, reqs))
            count += len(reqs)
        return [c for c in chunks if c]

    def _batch(self, chunk: list[tuple[int, list[Any]]]) -> vs.BatchCreateDataObjectsRequest:
        return vs.BatchCreateDataObjectsRequest(
            parent=self.collection, requests=[r for _, reqs in chunk for r in reqs]
        )

    @staticmethod
    def _record(
        result: AddResult, chunk: list[tuple[int, list[Any]]], error: BaseException | None
    ) -> None:
        for i, reqs in chunk:
            if error is None:
                result.ids[i] = [r.data_object_id for r in reqs]
            else:
                result.failures.append(ge2.ItemFailure(i, error, f"{len(reqs)} data object(s)"))
        result.failures.sort(key=lambda f: f.index)

    def add(
        self,
        items: Sequence[Any],
        ids: Sequence[Any] | None = None,
        data: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 250,
    ) -> AddResult:
        """Embed ``items`` (text, paths, bytes, ge2 inputs) and create their data objects.

        Bad input raises ``ge2.InputError`` naming the item before anything is sent or
        written; items that fail at the API or at the service are listed in ``failures``
        (with the service's message), the others are written.
        """
        inputs, oids, values = self._prepare(items, ids, data)
        failures: list[ge2.ItemFailure] = []
        try:
            pieces: list[Any] = self.embedder.embed_pieces(
                inputs, task="document", dimensions=max(self.fields.values())
            )
        except ge2.EmbeddingError as exc:
            pieces, failures = list(exc.pieces), list(exc.failures)
        result = AddResult([[] for _ in inputs], failures)
        for chunk in self._chunks(self._objects(inputs, oids, values, pieces), batch_size):
            try:
                self.data_client.batch_create_data_objects(request=self._batch(chunk))
            except gexc.GoogleAPICallError as exc:
                self._record(result, chunk, exc)
            else:
                self._record(result, chunk, None)
        return result

    async def aadd(
        self,
        items: Sequence[Any],
        ids: Sequence[Any] | None = None,
        data: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        batch_size: int = 250,
    ) -> AddResult:
        """Async twin of ``add`` (sync clients are called off the event loop)."""
        inputs, oids, values = self._prepare(items, ids, data)
        failures: list[ge2.ItemFailure] = []
        try:
            pieces: list[Any] = await self.embedder.aembed_pieces(
                inputs, task="document", dimensions=max(self.fields.values())
            )
        except ge2.EmbeddingError as exc:
            pieces, failures = list(exc.pieces), list(exc.failures)
        result = AddResult([[] for _ in inputs], failures)
        for chunk in self._chunks(self._objects(inputs, oids, values, pieces), batch_size):
            try:
                await _call(self.data_client, "batch_create_data_objects", self._batch(chunk))
            except gexc.GoogleAPICallError as exc:
                self._record(result, chunk, exc)
            else:
                self._record(result, chunk, None)
        return result

    # -- searching ------------------------------------------------------------------------

    def _field(self, search_field: str | None) -> str:
        name = search_field or max(self.fields, key=lambda n: self.fields[n])
        if name not in self.fields:
            raise ge2.ConfigurationError(f"unknown search_field {name!r}; ge2 writes {self.fields}")
        return name

    @staticmethod
    def _check_filter(flt: Any) -> None:
        if flt is not None and not isinstance(flt, Mapping):
            raise ge2.ConfigurationError(
                "filter must be a dict in the service's JSON filter syntax, e.g. "
                "{'kind': {'$eq': 'image'}}"
            )

    def _vector_search(
        self, vector: list[float], name: str, top_k: int, flt: Any, output_fields: Any
    ) -> vs.VectorSearch:
        return vs.VectorSearch(
            vector=vs.DenseVector(values=vector),
            search_field=name,
            top_k=top_k,
            output_fields=output_fields or vs.OutputFields(data_fields=["*"]),
            **({"filter": dict(flt)} if flt else {}),
        )

    def _query(self, query: Any) -> ge2.Input:
        return ge2.Text(query) if isinstance(query, str) else ge2.as_input(query)

    def search(
        self,
        query: Any,
        top_k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        search_field: str | None = None,
        output_fields: vs.OutputFields | None = None,
    ) -> list[vs.SearchResult]:
        """Objects nearest to ``query`` (text or media, embedded with the query task)."""
        name = self._field(search_field)
        self._check_filter(filter)
        vector = self.embedder.embed_one(
            self._query(query), task="query", dimensions=self.fields[name]
        )
        request = vs.SearchDataObjectsRequest(
            parent=self.collection,
            vector_search=self._vector_search(vector, name, top_k, filter, output_fields),
        )
        return list(self.search_client.search_data_objects(request=request).results)

    async def asearch(
        self,
        query: Any,
        top_k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        search_field: str | None = None,
        output_fields: vs.OutputFields | None = None,
    ) -> list[vs.SearchResult]:
        """Async twin of ``search``."""
        name = self._field(search_field)
        self._check_filter(filter)
        vector = await self.embedder.aembed_one(
            self._query(query), task="query", dimensions=self.fields[name]
        )
        request = vs.SearchDataObjectsRequest(
            parent=self.collection,
            vector_search=self._vector_search(vector, name, top_k, filter, output_fields),
        )
        response = await _call(self.search_client, "search_data_objects", request)
        return list(response.results)

    def hybrid(
        self,
        text: str,
        data_fields: Sequence[str],
        top_k: int = 10,
        *,
        query: Any = None,
        weights: tuple[float, float] = (1.0, 1.0),
        filter: Mapping[str, Any] | None = None,
        search_field: str | None = None,
    ) -> list[vs.SearchResult]:
        """The service's text search over ``data_fields`` fused (RRF) with a ge2 vector
        search from ``query`` (default: the same text), in one batch search call."""
        name = self._field(search_field)
        self._check_filter(filter)
        vector = self.embedder.embed_one(
            self._query(text if query is None else query),
            task="query",
            dimensions=self.fields[name],
        )
        out = vs.OutputFields(data_fields=["*"])
        request = vs.BatchSearchDataObjectsRequest(
            parent=self.collection,
            searches=[
                vs.Search(vector_search=self._vector_search(vector, name, top_k, filter, out)),
                vs.Search(
                    text_search=vs.TextSearch(
                        search_text=text,
                        data_field_names=list(data_fields),
                        top_k=top_k,
                        output_fields=out,
                        **({"filter": dict(filter)} if filter else {}),
                    )
                ),
            ],
            combine=vs.BatchSearchDataObjectsRequest.CombineResultsOptions(
                ranker=vs.Ranker(rrf=vs.ReciprocalRankFusion(weights=list(weights))),
                top_k=top_k,
                output_fields=out,
            ),
        )
        response = self.search_client.batch_search_data_objects(request=request)
        return list(response.results[0].results) if response.results else []


__all__ = ["DATA_KEY", "AddResult", "CollectionVectors", "field_name"]
