"""``ge2 embed``: print or write the vectors of files or text (JSON or a float32 .npy)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ge2 import limits
from ge2.embedder import Embedder
from ge2.errors import InputError
from ge2.inputs import Input, as_input, load

from ._common import EXIT_OK, EXIT_USAGE, Fail, usage_line, use_backend


def command(args: argparse.Namespace) -> int:
    import numpy as np

    inputs: list[Input] = []
    labels: list[str] = []
    for name in args.files:
        try:
            inputs.append(load(sys.stdin.buffer.read() if name == "-" else name))
        except InputError as exc:
            raise Fail(f"ge2: {exc}", EXIT_USAGE) from exc
        labels.append(name)
    for text in args.text or []:
        inputs.append(as_input(text))
        labels.append(text)
    if not inputs:
        raise Fail("ge2: nothing to embed; give files, or text with --text", EXIT_USAGE)
    if args.format == "npy" and args.output is None and sys.stdout.isatty():
        raise Fail("ge2: --format npy writes binary; give -o FILE (or pipe the output)", EXIT_USAGE)
    use_backend(args.offline, "the inputs")
    # Offline vectors are stand-ins: never let them into the shared cache.
    cache = not (args.offline or args.no_cache)
    embedder = Embedder(
        args.model or limits.DEFAULT_MODEL,
        args.dimensions or limits.MAX_DIMENSIONS,
        cache=cache,
        progress=None,
    )
    try:
        vectors = embedder.embed(inputs, task=args.task)
    finally:
        embedder.close()
    if args.format == "npy":
        array = np.asarray(vectors, dtype=np.float32)
        if args.output:
            with open(args.output, "wb") as fh:
                np.save(fh, array)
        else:
            np.save(sys.stdout.buffer, array)
            sys.stdout.buffer.flush()
    else:
        doc = {
            "model": embedder.model,
            "dimensions": embedder.dimensions,
            "task": args.task,
            "embeddings": [
                {"input": label, "modality": item.modality, "vector": vec}
                for label, item, vec in zip(labels, inputs, vectors, strict=True)
            ],
        }
        text = json.dumps(doc)
        if args.output:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
    if args.output:
        print(
            f"ge2: wrote {len(vectors)} vectors of {embedder.dimensions} floats to "
            f"{args.output} ({usage_line(embedder.usage)})",
            file=sys.stderr,
        )
    return EXIT_OK
