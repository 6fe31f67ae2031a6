"""LlamaIndex's integration convention: ``from llama_index.embeddings.ge2 import GE2Embedding``.

The same class as ``ge2.integrations.llamaindex.GE2Embedding`` (a re-export, nothing more).
"""

from ge2.integrations.llamaindex import GE2Embedding

__all__ = ["GE2Embedding"]
