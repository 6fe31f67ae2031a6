"""Vectors made the way Weaviate's ``multi2vec-google`` module makes them (Gemini API path).

Read from the weaviate repository (Go), as of the code this was written against:

- ``modules/multi2vec-google/clients/google.go`` ``getGeminiPayload``: one
  ``batchEmbedContents`` request entry per field value, each ``{"model": "models/<model>",
  "content": {"parts": [<one part>]}, "outputDimensionality": <dimensions>}``: the text as
  it is (no task instruction, no ``taskType``, no ``title``), media as ``inline_data``.
- ``modules/multi2vec-google/vectorizer/vectorizer.go`` ``object``: properties visited in
  sorted name order; text vectors first, then image, video, audio; weights from
  ``weights.<kind>Fields`` in configuration order, normalised to sum 1.
- ``usecases/vectorizer`` ``CombineVectorsWithWeights``: ``sum(w_i * v_i) / n``.

So a vector ge2 makes here for a PDF page, a piece of a long video or an object the
module cannot read lands where the module's own vectors are, and ``near_text`` /
``near_image`` answered by the module find it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ge2

#: The order in which the module appends the per-field vectors before combining them.
FIELD_KINDS = ("text", "image", "video", "audio")

#: Names the module is registered under (weaviate-client 4.2x writes the old alias).
MODULE_NAMES = ("multi2vec-google", "multi2vec-palm")


def media_input(value: Any, *, where: str) -> ge2.Input:
    """A media field value (path, bytes, base64 blob, ``ge2`` media) as a ``ge2`` input.

    The type is read from the content, so a PDF stored in an image field is embedded as a
    PDF (the module would label it ``image/jpeg`` and fail).
    """
    if isinstance(value, ge2.Media | ge2.Mixed | ge2.Text):
        return value
    if isinstance(value, os.PathLike):
        return _load(value, where)
    if isinstance(value, bytes | bytearray | memoryview):
        return _load(bytes(value), where)
    if isinstance(value, str):
        # Weaviate stores BLOB properties as base64 strings; an existing file is a path.
        if len(value) < 4096 and os.path.isfile(value):
            return _load(value, where)
        blob = decode_blob(value)
        if blob is None:
            raise ge2.InputError(
                "a str in a media field is neither an existing file nor a base64 blob",
                item=where,
                fix="pass a path to an existing file, bytes, or base64 data",
            )
        return _load(blob, where)
    if type(value).__module__.startswith("PIL."):
        return ge2.Image(value)
    raise ge2.InputError(
        f"a {type(value).__name__} is not media",
        item=where,
        fix="pass a path, bytes, a base64 blob or ge2.Image/Audio/Video/Pdf",
    )


def decode_blob(value: str) -> bytes | None:
    """The bytes of a base64 string Weaviate stores in a BLOB property, or None."""
    if len(value) < 8:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _load(source: Any, where: str) -> ge2.Input:
    try:
        return ge2.load(source)
    except ge2.InputError as exc:
        raise ge2.InputError(
            exc.problem, item=f"{where}: {exc.item or ''}".rstrip(": "), fix=exc.fix
        ) from exc


@dataclass
class ModuleCompatible:
    """How ``multi2vec-google`` turns an object into one vector, re-done by ge2.

    ``weights`` maps ``"textFields"`` / ``"imageFields"`` / ``"videoFields"`` /
    ``"audioFields"`` to per-field weights, as in the module's ``weights`` setting.
    """

    text_fields: Sequence[str] = ()
    image_fields: Sequence[str] = ()
    video_fields: Sequence[str] = ()
    audio_fields: Sequence[str] = ()
    weights: Mapping[str, Sequence[float]] | None = None
    model: str = ge2.limits.DEFAULT_MODEL
    dimensions: int | None = None
    #: The task ge2 uses here: "raw" sends text unchanged, exactly as the module does.
    task: str = field(default="raw", init=False)

    @classmethod
    def from_config(cls, module_config: Mapping[str, Any]) -> ModuleCompatible:
        """From the module's settings as Weaviate returns them (``vectorizer.model``)."""

        def names(key: str) -> list[str]:
            out = []
            for f in module_config.get(key) or []:
                out.append(f["name"] if isinstance(f, Mapping) else str(f))
            return out

        weights = dict(module_config.get("weights") or {})
        return cls(
            text_fields=names("textFields"),
            image_fields=names("imageFields"),
            video_fields=names("videoFields"),
            audio_fields=names("audioFields"),
            weights={k: [float(w) for w in v] for k, v in weights.items()} or None,
            model=str(module_config.get("modelId") or ge2.limits.DEFAULT_MODEL),
            dimensions=int(dims) if (dims := module_config.get("dimensions")) else None,
        )

    @property
    def fields(self) -> dict[str, Sequence[str]]:
        return {
            "text": self.text_fields,
            "image": self.image_fields,
            "video": self.video_fields,
            "audio": self.audio_fields,
        }

    def entries(self, properties: Mapping[str, Any], *, where: str = "object") -> list[ge2.Input]:
        """One ``ge2`` input per field value, in the order the module combines them."""
        out: list[ge2.Input] = []
        fields = self.fields
        for kind in FIELD_KINDS:
            for name in sorted(properties):
                if name not in fields[kind]:
                    continue
                value = properties[name]
                if value is None or value == "" or value == b"":
                    continue
                label = f"{where}, property {name!r}"
                if kind == "text":
                    texts = value if isinstance(value, list | tuple) else [value]
                    for text in texts:
                        if not isinstance(text, str):
                            raise ge2.InputError(
                                f"text field holds a {type(text).__name__}",
                                item=label,
                                fix="text fields take str",
                            )
                        out.append(ge2.Text(text))
                else:
                    out.append(media_input(value, where=label))
        return out

    def field_weights(self) -> list[float] | None:
        """The module's weights in its order, normalised to sum 1 (None: a plain mean)."""
        if not self.weights:
            return None
        flat: list[float] = []
        for kind in FIELD_KINDS:
            flat.extend(float(w) for w in self.weights.get(f"{kind}Fields", ()))
        total = sum(flat)
        return [w / total for w in flat] if flat and total else None

    def combine(self, vectors: Sequence[Sequence[float]]) -> list[float]:
        """``CombineVectorsWithWeights``: ``sum(w_i * v_i) / n``, or the plain mean."""
        stack = np.asarray(vectors, dtype=np.float32)
        weights = self.field_weights()
        if weights is None:
            return stack.mean(axis=0).tolist()
        if len(weights) < len(stack):
            raise ge2.ConfigurationError(
                f"{len(stack)} field vectors but only {len(weights)} weights; the module "
                "pairs weights with fields by position"
            )
        w = np.asarray(weights[: len(stack)], dtype=np.float32)[:, None]
        return ((stack * w).sum(axis=0) / len(stack)).tolist()

    def vectorize(
        self, embedder: ge2.Embedder, objects: Sequence[Mapping[str, Any]]
    ) -> list[list[float]]:
        """One vector per object, as the module would make it (over-limit media pooled).

        All field values of all objects go to the core in one ``embed`` call.
        """
        entries = [self.entries(obj, where=f"object #{i}") for i, obj in enumerate(objects)]
        flat = [e for group in entries for e in group]
        size = self.dimensions or ge2.limits.MAX_DIMENSIONS
        vectors = embedder.embed(flat, task=self.task, dimensions=size) if flat else []
        out, start = [], 0
        for group in entries:
            if not group:
                raise ge2.InputError(
                    "none of the module's fields has a value", item=f"object #{len(out)}"
                )
            out.append(self.combine(vectors[start : start + len(group)]))
            start += len(group)
        return out
