"""``python -m ge2.emulator``: serve the emulator in the foreground."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse the emulator's options and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m ge2.emulator",
        description="Offline emulator of the Gemini embedding API (a stand-in, not the model).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
