"""GE2 in Weaviate, three ways users can mix.

- ``CollectionVectors``: client-side, bring your own vectors (weaviate-client v4).
- ``CollectionVectors.beside_module`` / ``ModuleCompatible``: vectors made the way the
  native ``multi2vec-google`` module makes them, for what it cannot take.
- ``InferenceServer`` (``ge2 weaviate-inference``): GE2 behind Weaviate's
  multi2vec-bind, multi2vec-clip and text2vec-transformers inference protocols.

The inference server and ``ModuleCompatible`` need no weaviate-client (a server next to
Weaviate does not); ``CollectionVectors`` does, and fails at import with the pip line.
"""

from __future__ import annotations

from typing import Any

from .compat import ModuleCompatible

__all__ = ["CollectionVectors", "InferenceServer", "InferenceService", "ModuleCompatible"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``python -m ge2.integrations.weaviate.inference`` must not find
    # the module already imported, and the server must not need weaviate-client.
    if name in ("CollectionVectors", "PROVENANCE_PROPERTIES"):
        from . import collection

        return getattr(collection, name)
    if name in ("InferenceServer", "InferenceService"):
        from . import inference

        return getattr(inference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
