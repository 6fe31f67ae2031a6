"""ge2: Gemini Embedding 2 for the Python tools people already run.

One core embedder (``ge2.Embedder``) for text, images, audio, video, PDFs and mixed inputs,
thin adapters in ``ge2.integrations``, and an offline emulator in ``ge2.emulator``.
"""

from __future__ import annotations

from . import limits
from .cache import EmbeddingCache
from .embedder import Embedder, Piece
from .errors import (
    APIError,
    ConfigurationError,
    EmbeddingError,
    GE2Error,
    InputError,
    ItemFailure,
    MissingExtraError,
    QuotaExhausted,
    RequestRejected,
    ServiceOutage,
    ServiceUnavailable,
)
from .inputs import Audio, Image, Input, Media, Mixed, Pdf, Text, Video, as_input, load
from .limits import Quota
from .offline import offline_unless_key
from .split import SplitOptions
from .tasks import TASKS
from .usage import Usage

__version__ = "0.1.0.dev0"

__all__ = [
    "TASKS",
    "APIError",
    "Audio",
    "ConfigurationError",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingError",
    "GE2Error",
    "Image",
    "Input",
    "InputError",
    "ItemFailure",
    "Media",
    "MissingExtraError",
    "Mixed",
    "Pdf",
    "Piece",
    "Quota",
    "QuotaExhausted",
    "RequestRejected",
    "ServiceOutage",
    "ServiceUnavailable",
    "SplitOptions",
    "Text",
    "Usage",
    "Video",
    "__version__",
    "as_input",
    "limits",
    "load",
    "offline_unless_key",
]


def __getattr__(name: str) -> object:
    # ``ge2.emulator`` is imported on first use: it pulls in the HTTP server.
    if name == "emulator":
        import importlib

        return importlib.import_module(".emulator", __name__)
    raise AttributeError(f"module 'ge2' has no attribute {name!r}")
