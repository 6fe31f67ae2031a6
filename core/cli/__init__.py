"""The ``ge2`` command: index a folder of mixed media, search it, embed files, run the emulator.

One module per command (``index`` with ``batch_index`` for ``--batch``, ``batch``,
``search``, ``embed``, ``demo``, ``serve``, ``services``), the
argument wiring in ``parser``, and :func:`main` here: it turns every failure into a
message and an exit code (0 ok, 1 failed files or a store problem, 2 usage or no key,
130 interrupted), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ge2.errors import ConfigurationError, EmbeddingError, GE2Error, InputError

from ._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    INDEX_DEFAULT_DIMENSIONS,
    Fail,
)
from .index import run_index
from .parser import build_parser
from .search import run_search
from .services import _cmd_emulator, _cmd_weaviate_inference


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ge2`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["weaviate-inference"]:
        # Its options belong to the Weaviate helper's own parser, --help included.
        args = argparse.Namespace(
            command=argv[0], rest=argv[1:], verbose=False, func=_cmd_weaviate_inference
        )
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.verbose:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("ge2").setLevel(logging.INFO)
    try:
        return int(args.func(args))
    except Fail as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("\nge2: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (InputError, ConfigurationError) as exc:
        print(f"ge2: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EmbeddingError as exc:
        print(f"ge2: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except GE2Error as exc:
        print(f"ge2: {exc}", file=sys.stderr)
        return EXIT_ERROR


__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "INDEX_DEFAULT_DIMENSIONS",
    "_cmd_emulator",
    "_cmd_weaviate_inference",
    "build_parser",
    "main",
    "run_index",
    "run_search",
]
