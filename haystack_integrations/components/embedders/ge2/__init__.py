"""Haystack components for Gemini Embedding 2, in Haystack's integration namespace.

Living under ``haystack_integrations`` (deepset's convention for integrations) means a
pipeline YAML holding these components loads with plain ``Pipeline.loads``: Haystack trusts
this namespace by default. ``ge2.integrations.haystack`` re-exports the same classes.
"""

from .document_embedder import GE2DocumentEmbedder
from .document_image_embedder import GE2DocumentImageEmbedder, GE2MultimodalDocumentEmbedder
from .text_embedder import GE2TextEmbedder

__all__ = [
    "GE2DocumentEmbedder",
    "GE2DocumentImageEmbedder",
    "GE2MultimodalDocumentEmbedder",
    "GE2TextEmbedder",
]
