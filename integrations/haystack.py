"""Haystack components for Gemini Embedding 2: text, document and media-document embedders.

The components live in Haystack's integration namespace,
``haystack_integrations.components.embedders.ge2``, so pipelines that hold them load from
YAML with Haystack's default allowlist; this module re-exports them under ge2's name.
"""

from __future__ import annotations

import ge2

try:
    from haystack import component
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

from haystack_integrations.components.embedders.ge2 import (
    GE2DocumentEmbedder,
    GE2DocumentImageEmbedder,
    GE2MultimodalDocumentEmbedder,
    GE2TextEmbedder,
)

__all__ = [
    "GE2DocumentEmbedder",
    "GE2DocumentImageEmbedder",
    "GE2MultimodalDocumentEmbedder",
    "GE2TextEmbedder",
]

# Pipelines saved by earlier ge2 builds name this module; they still load (with this module
# allowed: Haystack trusts only its own namespaces by default).
for _cls in (GE2DocumentEmbedder, GE2DocumentImageEmbedder, GE2TextEmbedder):
    component.registry.setdefault(f"{__name__}.{_cls.__name__}", _cls)
