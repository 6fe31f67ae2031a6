"""``ge2 emulator`` and ``ge2 weaviate-inference``: the long-running servers."""

from __future__ import annotations

import argparse

from ge2.errors import MissingExtraError

from ._common import EXIT_ERROR, Fail


def _cmd_emulator(args: argparse.Namespace) -> int:
    from ge2.emulator import cli as emulator_cli

    return int(emulator_cli.run(args))


def _cmd_weaviate_inference(args: argparse.Namespace) -> int:
    try:
        from ge2.integrations.weaviate import inference
    except MissingExtraError as exc:  # carries the exact pip line
        raise Fail(f"ge2: {exc}", EXIT_ERROR) from exc
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").startswith("weaviate"):
            raise Fail(
                "ge2: weaviate-inference needs weaviate-client. Install it with:  "
                'pip install "ge2[weaviate]"',
                EXIT_ERROR,
            ) from exc
        raise Fail(
            f"ge2: the Weaviate inference server is not available in this installation ({exc})",
            EXIT_ERROR,
        ) from exc
    parser = argparse.ArgumentParser(
        prog="ge2 weaviate-inference",
        description="Serve Weaviate's inference-module protocols (multi2vec-bind, "
        "multi2vec-clip, text2vec-transformers) with Gemini Embedding 2.",
    )
    inference.add_arguments(parser)
    return int(inference.run(parser.parse_args(args.rest)))
