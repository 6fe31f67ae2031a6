"""Bring your own GE2 vectors to a Weaviate collection (weaviate-client v4).

A small helper, not a wrapper: the ``weaviate.WeaviateClient`` and the collection stay the
caller's, objects go in through ``collection.batch``, queries through
``collection.query.near_vector`` / ``hybrid``, and what comes back is the client's own
``BatchObjectReturn`` / ``QueryReturn``. ge2 supplies what Weaviate cannot: vectors for
PDFs, long audio and video (split into pieces, one object per piece with its provenance),
several fields as one multi-part input, Matryoshka sizes as separate named vectors.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ge2

from .compat import MODULE_NAMES, ModuleCompatible, media_input

try:
    import weaviate
    from weaviate.classes.config import Configure, DataType, Property
    from weaviate.collections.classes.batch import BatchObject, BatchObjectReturn, ErrorObject
    from weaviate.util import generate_uuid5
except ImportError as exc:  # pragma: no cover - exercised with the import simulated away
    raise ge2.MissingExtraError("weaviate-client", "weaviate") from exc

#: Properties written on each piece of a split object (and created with the collection).
PROVENANCE_PROPERTIES: dict[str, DataType] = {
    "piece_index": DataType.INT,
    "piece_count": DataType.INT,
    "source": DataType.TEXT,
    "page_start": DataType.INT,
    "page_end": DataType.INT,
    "start_s": DataType.NUMBER,
    "end_s": DataType.NUMBER,
    "char_start": DataType.INT,
    "char_end": DataType.INT,
}

_MEDIA_TYPES = (ge2.Media, os.PathLike, bytes, bytearray, memoryview)


@dataclass
class _Row:
    """One Weaviate object to write: a whole input object, or one piece of it."""

    source: int
    properties: dict[str, Any]
    uuid: str | None
    vectors: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None


def _prefix(vector: Sequence[float], size: int) -> list[float]:
    """A smaller Matryoshka size: the re-normalised prefix (GE2 vectors are unit-norm)."""
    head = np.asarray(vector[:size], dtype=np.float32)
    norm = float(np.linalg.norm(head)) or 1.0
    return (head / norm).tolist()


def _sizes(vectors: Mapping[str, int] | Sequence[int] | None, default: int) -> dict[str, int]:
    if vectors is None:
        return {"ge2": default}
    if isinstance(vectors, Mapping):
        return {str(k): int(v) for k, v in vectors.items()}
    return {f"ge2_{int(d)}": int(d) for d in vectors}


def _vectorizer_name(named: Any) -> str:
    vec = named.vectorizer.vectorizer
    return str(getattr(vec, "value", vec))


class CollectionVectors:
    """GE2 vectors for one Weaviate collection: insert objects with media, query by anything.

    ``vectors`` maps named vectors to sizes (``{"ge2_256": 256, "ge2_3072": 3072}``; a list
    of sizes names them ``ge2_<size>``); every size comes from ONE API call. The object's
    vector is ONE GE2 embedding of its ``embed_properties`` (several make one multi-part
    input; default: every text and media value). ``compatible`` switches to the
    ``multi2vec-google`` recipe instead (see ``beside_module``).
    """

    def __init__(
        self,
        collection: Any,
        embedder: ge2.Embedder,
        *,
        vectors: Mapping[str, int] | Sequence[int] | None = None,
        embed_properties: Sequence[str] | None = None,
        compatible: ModuleCompatible | None = None,
        check: bool = True,
    ) -> None:
        self.collection = collection
        self.embedder = embedder
        default = (compatible.dimensions if compatible else None) or embedder.dimensions
        self.vectors = _sizes(vectors, default)
        self.embed_properties = list(embed_properties) if embed_properties is not None else None
        self.compatible = compatible
        self.property_types: dict[str, str] = {}
        if check:
            self._check()

    # -- set-up ---------------------------------------------------------------------------

    @classmethod
    def create_or_adopt(
        cls,
        client: weaviate.WeaviateClient,
        name: str,
        embedder: ge2.Embedder,
        *,
        vectors: Mapping[str, int] | Sequence[int] | None = None,
        properties: Sequence[Property] = (),
        embed_properties: Sequence[str] | None = None,
        **create_options: Any,
    ) -> CollectionVectors:
        """Use collection ``name`` if it exists (checked), else create it with
        self-provided named vectors and the provenance properties pieces carry."""
        sizes = _sizes(vectors, embedder.dimensions)
        if client.collections.exists(name):
            collection = client.collections.use(name)
        else:
            given = {p.name for p in properties}
            extra = [
                Property(name=n, data_type=t)
                for n, t in PROVENANCE_PROPERTIES.items()
                if n not in given
            ]
            collection = client.collections.create(
                name,
                properties=[*properties, *extra],
                vector_config=[Configure.Vectors.self_provided(name=n) for n in sizes],
                **create_options,
            )
        return cls(collection, embedder, vectors=sizes, embed_properties=embed_properties)

    @classmethod
    def beside_module(
        cls, collection: Any, embedder: ge2.Embedder, *, vector_name: str | None = None
    ) -> CollectionVectors:
        """Vectors for a named vector that ``multi2vec-google`` fills, made its way.

        Reads the module's fields, weights, model and dimensions from the collection, so
        ge2's vectors (for PDFs, pieces of long media, anything the module cannot read)
        sit in the same space as the module's and answer its ``near_text`` / ``near_image``.
        """
        config = collection.config.get(simple=True)
        named = {
            n: v
            for n, v in (config.vector_config or {}).items()
            if _vectorizer_name(v) in MODULE_NAMES
        }
        if vector_name is None and len(named) == 1:
            vector_name = next(iter(named))
        if vector_name not in named:
            raise ge2.ConfigurationError(
                f"collection {config.name!r} has no multi2vec-google named vector"
                f" {vector_name!r} (module vectors: {sorted(named) or 'none'})"
            )
        compat = ModuleCompatible.from_config(named[vector_name].vectorizer.model)
        if compat.model.split("/")[-1] != embedder.model.split("/")[-1]:
            raise ge2.ConfigurationError(
                f"the module uses model {compat.model!r} but the embedder {embedder.model!r}; "
                "vectors from two models do not share a space"
            )
        # The module omits outputDimensionality when unset: the model's default size.
        size = compat.dimensions or ge2.limits.MAX_DIMENSIONS
        return cls(collection, embedder, vectors={vector_name: size}, compatible=compat)

    def _check(self) -> None:
        """The named vectors exist, are the right kind, and hold vectors of our sizes."""
        config = self.collection.config.get(simple=True)
        self.property_types = {
            p.name: str(getattr(p.data_type, "value", p.data_type)) for p in config.properties
        }
        configured = config.vector_config or {}
        for name, size in self.vectors.items():
            if name not in configured:
                raise ge2.ConfigurationError(
                    f"collection {config.name!r} has no named vector {name!r} (it has "
                    f"{sorted(configured) or 'none'}); create it with "
                    f"Configure.Vectors.self_provided(name={name!r})"
                )
            kind = _vectorizer_name(configured[name])
            if kind in MODULE_NAMES:
                if self.compatible is None:
                    raise ge2.ConfigurationError(
                        f"named vector {name!r} of {config.name!r} is filled by {kind}; use "
                        "CollectionVectors.beside_module(...) so ge2 makes its vectors the "
                        "module's way"
                    )
                module_size = configured[name].vectorizer.model.get("dimensions")
                module_size = int(module_size or ge2.limits.MAX_DIMENSIONS)
                if module_size != size:
                    raise ge2.ConfigurationError(
                        f"dimension mismatch: {config.name!r}.{name} is configured for "
                        f"{module_size} dimensions, ge2 would write {size}"
                    )
                continue
            existing = self.collection.query.fetch_objects(limit=1, include_vector=[name])
            for obj in existing.objects:
                stored = (obj.vector or {}).get(name)
                if stored is not None and len(stored) != size:
                    raise ge2.ConfigurationError(
                        f"dimension mismatch: {config.name!r}.{name} holds {len(stored)}-d "
                        f"vectors, ge2 would write {size}-d ones; use vectors="
                        f"{{{name!r}: {len(stored)}}} or a new named vector"
                    )

    # -- writing --------------------------------------------------------------------------

    def _label(self, index: int, uuid: Any) -> str:
        return f"object #{index}" + (f" (uuid {uuid})" if uuid else "")

    def _entries(self, obj: Mapping[str, Any], label: str) -> list[tuple[ge2.Input, str | None]]:
        """The inputs an object is embedded from, each with the property it came from."""
        if self.compatible is not None:
            out = []
            fields = self.compatible.fields
            for kind in ("text", "image", "video", "audio"):
                for name in sorted(obj):
                    if name in fields[kind]:
                        ins = self.compatible.entries({name: obj[name]}, where=label)
                        out.extend((i, name) for i in ins)
            if not out:
                raise ge2.InputError(
                    "none of the module's fields has a value",
                    item=label,
                    fix=f"set one of {sorted(n for names in fields.values() for n in names)}",
                )
            return out
        names = self.embed_properties
        if names is None:
            names = [n for n, v in obj.items() if isinstance(v, (str, *_MEDIA_TYPES))]
        parts: list[tuple[ge2.Input, str]] = []
        for name in names:
            value = obj.get(name)
            if value is None or value == "":
                continue
            where = f"{label}, property {name!r}"
            if isinstance(value, str) and self.property_types.get(name) != "blob":
                parts.append((ge2.Text(value), name))
            else:
                parts.append((media_input(value, where=where), name))
        if not parts:
            raise ge2.InputError(
                "nothing to embed",
                item=label,
                fix=f"give it a text or media value in {names}",
            )
        if len(parts) == 1:
            return [parts[0]]
        return [(ge2.Mixed([p for p, _ in parts]), None)]

    def _stored(self, name: str, value: Any, label: str) -> Any:
        """A property value as Weaviate stores it: media bytes as base64 in BLOB properties."""
        kind = self.property_types.get(name)
        if isinstance(value, ge2.Media):
            data = value.read()
            if kind == "blob":
                return base64.b64encode(data).decode()
            return value.name or None
        if isinstance(value, bytes | bytearray | memoryview):
            if kind not in (None, "blob"):
                raise ge2.InputError(
                    f"property {name!r} is {kind} in the collection but holds bytes",
                    item=label,
                    fix="store media in a BLOB property, or pass a path",
                )
            return base64.b64encode(bytes(value)).decode()
        is_file = isinstance(value, str) and len(value) < 4096 and os.path.isfile(value)
        if isinstance(value, os.PathLike) or is_file:
            if kind == "blob":
                with open(value, "rb") as fh:
                    return base64.b64encode(fh.read()).decode()
            return os.fspath(value)
        return value

    def vectorize(
        self, objects: Sequence[Mapping[str, Any]], uuids: Sequence[Any] | None = None
    ) -> list[_Row]:
        """Objects -> rows to write (one per piece); a failed object keeps ``error``."""
        if uuids is not None and len(uuids) != len(objects):
            raise ge2.ConfigurationError(f"{len(uuids)} uuids for {len(objects)} objects")
        ids = list(uuids) if uuids is not None else [None] * len(objects)
        flat: list[ge2.Input] = []
        owners: list[list[tuple[int, str | None]]] = []
        stored: list[dict[str, Any]] = []
        for i, obj in enumerate(objects):
            label = self._label(i, ids[i])
            entries = self._entries(obj, label)
            owners.append([(len(flat) + k, name) for k, (_, name) in enumerate(entries)])
            flat.extend(e for e, _ in entries)
            stored.append({k: self._stored(k, v, label) for k, v in obj.items()})
        pieces, errors = self._embed(flat, owners, ids)
        rows: list[_Row] = []
        for i, owned in enumerate(owners):
            base = str(ids[i]) if ids[i] is not None else None
            failed = [errors[k] for k, _ in owned if k in errors]
            split = [(k, n) for k, n in owned if len(pieces.get(k, ())) > 1]
            if failed or len(split) > 1:
                why = (
                    failed[0]
                    if failed
                    else (
                        f"properties {[n for _, n in split]} were each split into pieces; one "
                        "object can hold the pieces of only one"
                    )
                )
                rows.append(_Row(i, stored[i], base, error=f"{self._label(i, base)}: {why}"))
                continue
            if not split:
                vector = self._combine([pieces[k][0].vector for k, _ in owned])
                rows.append(_Row(i, stored[i], base, self._named(vector)))
                continue
            k_split, name = split[0]
            count = len(pieces[k_split])
            for j, piece in enumerate(pieces[k_split]):
                vecs = [piece.vector if k == k_split else pieces[k][0].vector for k, _ in owned]
                props = dict(stored[i])
                if name is not None:
                    props[name] = self._piece_value(name, piece.input)
                for key, value in {
                    **piece.provenance,
                    "piece_index": j,
                    "piece_count": count,
                }.items():
                    if key in PROVENANCE_PROPERTIES and key not in objects[i]:
                        props[key] = value
                uid = generate_uuid5(f"{base}#{j}") if base else None
                rows.append(_Row(i, props, uid, self._named(self._combine(vecs))))
        return rows

    def _embed(
        self, flat: list[ge2.Input], owners: list[list[tuple[int, str | None]]], ids: list[Any]
    ) -> tuple[dict[int, list[ge2.Piece]], dict[int, str]]:
        task = self.compatible.task if self.compatible else "document"
        size = max(self.vectors.values())
        owner_of = {k: i for i, owned in enumerate(owners) for k, _ in owned}
        try:
            result = self.embedder.embed_pieces(flat, task=task, dimensions=size)
        except ge2.InputError as exc:
            if exc.index is None or exc.index not in owner_of:
                raise
            obj = owner_of[exc.index]
            raise ge2.InputError(
                exc.problem,
                item=f"{self._label(obj, ids[obj])}: {exc.item or ''}".rstrip(": "),
                fix=exc.fix,
            ) from exc
        except ge2.EmbeddingError as exc:
            errors = {f.index: f"embedding failed: {f.error}" for f in exc.failures}
            # An object fails as a whole: its other parts are not written either.
            bad = {owner_of[k] for k in errors}
            for k in range(len(flat)):
                if owner_of[k] in bad and k not in errors:
                    errors[k] = "another part of this object failed to embed"
            # The error keeps every input's pieces (a split one still one object per piece).
            kept = {
                k: pieces
                for k, pieces in enumerate(exc.pieces)
                if owner_of[k] not in bad and pieces is not None
            }
            return kept, errors
        return dict(enumerate(result)), {}

    def _combine(self, vectors: list[list[float]]) -> list[float]:
        if self.compatible is not None:
            return self.compatible.combine(vectors)
        return vectors[0]

    def _named(self, vector: list[float]) -> dict[str, list[float]]:
        if self.compatible is not None:
            return {name: list(vector) for name in self.vectors}
        return {
            name: vector if size == len(vector) else _prefix(vector, size)
            for name, size in self.vectors.items()
        }

    def _piece_value(self, name: str, item: ge2.Input) -> Any:
        if isinstance(item, ge2.Text):
            return item.text
        if isinstance(item, ge2.Media) and self.property_types.get(name) == "blob":
            return base64.b64encode(item.read()).decode()
        return item.provenance.get("source") if isinstance(item, ge2.Media) else None

    def insert(
        self,
        objects: Sequence[Mapping[str, Any]],
        *,
        uuids: Sequence[Any] | None = None,
        batch_size: int = 100,
    ) -> BatchObjectReturn:
        """Embed and write ``objects`` (property dicts) through ``collection.batch``.

        Returns the client's ``BatchObjectReturn``. Its keys index the rows written: the
        objects in order, a split object taking one row per piece (so without splits, the
        object's own index). Objects that could not be embedded are in ``errors`` like the
        ones Weaviate refused; the others are written. Bad input (unsupported media, an
        over-limit object, a property of the wrong type) raises ``ge2.InputError`` naming
        the object before anything is written.
        """
        rows = self.vectorize(objects, uuids)
        errors: dict[int, ErrorObject] = {}
        written: list[int] = []
        name = self.collection.name
        with self.collection.batch.fixed_size(batch_size=batch_size) as batch:
            for r, row in enumerate(rows):
                if row.error is not None:
                    obj = BatchObject(
                        collection=name, properties=row.properties, uuid=row.uuid, index=r
                    )
                    errors[r] = ErrorObject(message=row.error, object_=obj)
                    continue
                batch.add_object(properties=row.properties, uuid=row.uuid, vector=row.vectors)
                written.append(r)
        results = self.collection.batch.results.objs
        for k, err in results.errors.items():
            errors[written[k]] = err
        ok = {written[k]: u for k, u in results.uuids.items()}
        return BatchObjectReturn(
            _all_responses=[
                ok[r] if r in ok else errors[r] for r in range(len(rows)) if r in ok or r in errors
            ],
            errors=dict(sorted(errors.items())),
            uuids=ok,
            elapsed_seconds=results.elapsed_seconds,
        )

    # -- querying -------------------------------------------------------------------------

    def _target(self, target_vector: str | None) -> str:
        name = target_vector or next(iter(self.vectors))
        if name not in self.vectors:
            raise ge2.ConfigurationError(
                f"unknown target_vector {name!r}; this helper writes {sorted(self.vectors)}"
            )
        return name

    def query_vector(self, query: Any, *, target_vector: str | None = None) -> list[float]:
        """The vector of a query: text (str), or an image, audio, video or PDF (path/bytes)."""
        name = self._target(target_vector)
        item = query if isinstance(query, str) else media_input(query, where="query")
        task = self.compatible.task if self.compatible else "query"
        vector = self.embedder.embed_one(item, task=task, dimensions=self.vectors[name])
        return self._combine([vector])

    def near(self, query: Any, *, target_vector: str | None = None, **kwargs: Any) -> Any:
        """``collection.query.near_vector`` with the query embedded by ge2 (query task)."""
        name = self._target(target_vector)
        vector = self.query_vector(query, target_vector=name)
        return self.collection.query.near_vector(near_vector=vector, target_vector=name, **kwargs)

    def hybrid(
        self, text: str, *, query: Any = None, target_vector: str | None = None, **kwargs: Any
    ) -> Any:
        """``collection.query.hybrid``: BM25 on ``text``, vector from ``query`` (default: text)."""
        name = self._target(target_vector)
        vector = self.query_vector(text if query is None else query, target_vector=name)
        return self.collection.query.hybrid(query=text, vector=vector, target_vector=name, **kwargs)
