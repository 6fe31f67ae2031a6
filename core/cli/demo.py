"""``ge2 demo``: write a small CC0 corpus, index it, run text and media queries.

Without GEMINI_API_KEY it runs offline against the in-process emulator (stand-in
vectors); with a key it uses the real API unchanged.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ge2 import samples
from ge2.inputs import Audio, Image, Input, as_input

from ._common import EXIT_OK
from .index import run_index
from .search import run_search

DEMO_TEXT_QUERIES = (
    "a fox running through the snow",
    "lighthouse on the coast at sunset",
    "how much energy did the solar panels produce",
    "how do I bake sourdough bread",
    "volcano eruption with lava",
)


def command(args: argparse.Namespace) -> int:
    from ge2.offline import offline_unless_key
    from ge2.store import Store

    emu = offline_unless_key()
    offline = emu is not None
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ge2-demo-"))
    store_dir = folder / ".ge2-store"
    config = Store.read_config(store_dir)
    if config is not None and (
        Store.is_old_layout(store_dir)
        or config.offline != offline
        or config.dimensions != args.dimensions
    ):
        shutil.rmtree(store_dir)  # the demo's own store, for another backend, size or layout
    files = samples.write_corpus(folder)
    total = sum(f.stat().st_size for f in files)
    print(
        f"Wrote the sample corpus ({len(files)} files, {total // 1024} KB, CC0) to {folder}",
        flush=True,
    )
    code = run_index(
        [str(folder)],
        store_dir,
        dimensions=args.dimensions,
        offline=offline,
        progress=False if args.no_progress else None,
        backend_ready=True,
    )
    if code != EXIT_OK:
        return code

    queries_dir = folder / ".queries"
    queries_dir.mkdir(exist_ok=True)
    fox = queries_dir / "fox-query.png"
    fox.write_bytes(
        samples.png((210, 90, 30), description="a fox in the snow", pattern=11, size=(96, 96))
    )
    birds = queries_dir / "birds-query.wav"
    samples.audio(2.0, freq=660.0, title="birds singing in a garden at dawn", path=birds)
    queries: list[tuple[str, Input]] = [(f'"{q}"', as_input(q)) for q in DEMO_TEXT_QUERIES]
    queries.append(("image fox-query.png (a fox photo)", Image(fox)))
    queries.append(("audio birds-query.wav (a bird clip)", Audio(birds)))
    for label, query in queries:
        print(f"\nsearch {label}", flush=True)
        run_search(store_dir, query, k=args.k, offline=offline, backend_ready=True)
    print(f'\nTry your own: ge2 search "a leaf after rain" --store {store_dir}')
    if offline:
        print(
            "(The offline emulator matches words, not meaning; set GEMINI_API_KEY to run "
            "the same demo on Gemini Embedding 2.)"
        )
    if args.serve:
        from .serve import serve_store

        return serve_store(store_dir, port=args.port, offline=offline, backend_ready=True)
    return EXIT_OK
