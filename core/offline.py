"""Offline by default: run against the in-process emulator when no credentials are set.

The demo and the tutorials call ``offline_unless_key()`` first. With GEMINI_API_KEY /
GOOGLE_API_KEY or Vertex settings in the environment it does nothing and the real API is
used unchanged; without them it starts the emulator and points the SDK's own environment
variables at it, so every client built afterwards (ge2's or a framework's) goes there.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import Emulator


def has_credentials() -> bool:
    """True when the SDK would find a key or Vertex AI settings in the environment."""
    if os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"):
        return True
    vertex = os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true", "yes")
    return vertex and bool(os.environ.get("GOOGLE_CLOUD_PROJECT"))


def offline_unless_key(*, quiet: bool = False, **emulator_options: Any) -> Emulator | None:
    """Start the emulator and point the SDK at it unless real credentials are set.

    Returns the running ``Emulator`` (stopped at exit), or None when the real API is used.
    """
    if has_credentials():
        return None
    from .emulator import Emulator

    emu = Emulator(**emulator_options)
    emu.start()
    atexit.register(emu.stop)
    os.environ["GOOGLE_GEMINI_BASE_URL"] = emu.url
    os.environ["GEMINI_API_KEY"] = "ge2-emulator"
    if not quiet:
        print(
            f"ge2: no GEMINI_API_KEY set, so using the offline emulator at {emu.url} "
            "(stand-in vectors, not the model's semantics).",
            file=sys.stderr,
        )
    return emu
