"""``ge2 search``: embed the query with the store's model, then the store's one search."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ge2.inputs import Audio, Image, Input, Mixed, Pdf, Video, as_input, load

from ._common import EXIT_OK, EXIT_USAGE, Fail, display, use_backend
from .index import open_store

if TYPE_CHECKING:
    import argparse


def query_input(text: str | None, files: Sequence[tuple[str, str]]) -> Input:
    """The query as one input: text, a media file, or both together (one vector)."""
    classes: dict[str, type[Any]] = {"image": Image, "audio": Audio, "video": Video, "pdf": Pdf}
    parts: list[Any] = [text] if text else []
    for kind, path in files:
        if not Path(path).is_file():
            raise Fail(f"ge2: no such file: {path}", EXIT_USAGE)
        parts.append(load(path) if kind == "file" else classes[kind](path))
    if not parts:
        raise Fail(
            "ge2: give a text query, or a file with --image/--audio/--video/--pdf/--file",
            EXIT_USAGE,
        )
    return as_input(parts[0]) if len(parts) == 1 else Mixed(parts)


def run_search(
    store_dir: Path,
    query: Input,
    *,
    k: int = 10,
    offline: bool = False,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    backend_ready: bool = False,
    exact: bool = False,
    hybrid_text: str | None = None,
    modality: Sequence[str] | None = None,
    path_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Embed the query with the store's model and size; the top ``k`` hits as dicts."""
    from ge2.store import Store, hit_rows, search

    config = Store.read_config(store_dir)
    if config is None:
        raise Fail(
            f"ge2: {store_dir} is not a ge2 store; build one with "
            f"`ge2 index PATH --store {store_dir}`",
            EXIT_USAGE,
        )
    if Store.is_old_layout(store_dir):
        Store.open(store_dir, create=False, writable=False)  # raises the old-layout message
    if not backend_ready:
        use_backend(config.offline or offline, "the query")
    store, _ = open_store(
        store_dir, model=None, dimensions=None, offline_flag=offline, create=False
    )
    with store:
        embedder = store.embedder()
        try:
            vector = embedder.embed_one(query, task="query")
        finally:
            embedder.close()
        prefix = str(Path(path_prefix).resolve()) if path_prefix else None
        hits = search(
            store,
            vector,
            k,
            exact=exact,
            text=hybrid_text,
            modality=modality,
            path_prefix=prefix,
        )
    rows: list[dict[str, Any]] = hit_rows(hits)
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
    else:
        _print_hits(rows, out, fused=hybrid_text is not None)
    return rows


def _print_hits(rows: Sequence[dict[str, Any]], out: TextIO, *, fused: bool = False) -> None:
    if not rows:
        print("  (no results: the store is empty, or nothing matched the filters)", file=out)
        return
    cells = [
        (
            str(r["rank"]),
            f"{r['score']:.4f}" if fused else f"{r['score']:.3f}",
            str(r.get("modality", "")),
            r["where"],
            display(str(r.get("path", ""))),
        )
        for r in rows
    ]
    header = ("#", "rrf" if fused else "score", "modality", "where", "path")
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    for line in [header, *cells]:
        print(
            "  "
            + "  ".join(
                v.rjust(w) if i < 2 else v.ljust(w)
                for i, (v, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip(),
            file=out,
        )


def command(args: argparse.Namespace) -> int:
    query = query_input(args.query, args.files or [])
    if args.hybrid and not (args.query or "").strip():
        raise Fail("ge2: --hybrid needs a text query (its words are searched too)", EXIT_USAGE)
    run_search(
        Path(args.store),
        query,
        k=args.k,
        offline=args.offline,
        as_json=args.json,
        exact=args.exact,
        hybrid_text=args.query if args.hybrid else None,
        modality=args.modality or None,
        path_prefix=args.under,
    )
    return EXIT_OK
