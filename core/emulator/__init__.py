"""An offline emulator of the Gemini embedding API (``gemini-embedding-2``, ``-001``).

It is a stand-in for the model's semantics, not the model: vectors are deterministic and
derived from the content (shared words raise cosine, similar images stay close, media are
pulled toward the text their metadata carries), so tests, demos and CI can run the REAL
google-genai SDK end to end over real HTTP without a key, a bill or a network. The wire
protocol, limits, error bodies, quota answers and faults follow the real API.

    with Emulator() as emu:
        client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=emu.url))
"""

from __future__ import annotations

from .config import EmulatorConfig
from .protocol import MODELS, ApiError, embed_content_vector
from .server import Emulator

__all__ = ["MODELS", "ApiError", "Emulator", "EmulatorConfig", "embed_content_vector"]
