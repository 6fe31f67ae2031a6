"""What every ``ge2`` command shares: exit codes, the people-facing failure, backend start."""

from __future__ import annotations

import argparse
import os
import sys

from ge2 import limits
from ge2.offline import has_credentials
from ge2.store import printable
from ge2.usage import Usage

INDEX_DEFAULT_DIMENSIONS = 768
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

NO_KEY_MESSAGE = """\
ge2: no API key found, so there is nothing to send {what} to.
  Use the Gemini API:  export GEMINI_API_KEY=...   (get a key at https://aistudio.google.com/apikey)
  or Vertex AI:        export GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_CLOUD_PROJECT=my-project \
GOOGLE_CLOUD_LOCATION=us-central1
  or run offline:      add --offline (the built-in emulator: stand-in vectors, not the model's),
                       or try `ge2 demo`, which does that by itself."""


class Fail(Exception):
    """A message for people, and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def dimensions_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not limits.MIN_DIMENSIONS <= n <= limits.MAX_DIMENSIONS:
        sizes = ", ".join(map(str, limits.RECOMMENDED_DIMENSIONS))
        raise argparse.ArgumentTypeError(
            f"{n} is outside {limits.MIN_DIMENSIONS}..{limits.MAX_DIMENSIONS} (try {sizes})"
        )
    return n


def positive_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def display(path: str) -> str:
    """A path as people want to read it: relative when inside the current folder, printable."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(printable(path))
    return str(printable(path if rel.startswith("..") else rel))


def start_emulator(quiet: bool = False) -> None:
    """Start the in-process emulator and point the SDK's environment variables at it."""
    from ge2.emulator import Emulator

    emu = Emulator().start()
    import atexit

    atexit.register(emu.stop)
    for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_API_KEY"):
        os.environ.pop(name, None)
    os.environ["GOOGLE_GEMINI_BASE_URL"] = emu.url
    os.environ["GEMINI_API_KEY"] = "ge2-emulator"
    if not quiet:
        print(
            f"ge2: offline: using the built-in emulator at {emu.url} "
            "(stand-in vectors, not the model's semantics).",
            file=sys.stderr,
        )


def use_backend(offline: bool, what: str) -> None:
    """Start the emulator for an offline run; otherwise insist on credentials."""
    if offline:
        start_emulator()
    elif not has_credentials():
        raise Fail(NO_KEY_MESSAGE.format(what=what), EXIT_USAGE)


def usage_line(u: Usage) -> str:
    line = (
        f"{u.requests} request{'s' * (u.requests != 1)}, {u.items} items embedded, "
        f"{u.retries} retries ({u.rate_limited} rate-limited), {u.cache_hits} cache hits, "
        f"~{u.tokens:,} tokens, ~${u.cost_usd:.4f}"
    )
    if u.batch_items or u.batch_jobs:
        line += (
            f"; Batch API: {u.batch_jobs} job{'s' * (u.batch_jobs != 1)} created, "
            f"{u.batch_items} items collected, ~{u.batch_tokens:,} tokens, "
            f"~${u.batch_cost_usd:.4f} (online: ~${u.batch_online_cost_usd:.4f})"
        )
    return line
