"""The ``ge2`` command: index a folder of mixed media, search it, embed files, run the emulator.

``ge2 demo`` is the first thing to run: without GEMINI_API_KEY it works offline against the
in-process emulator (stand-in vectors), with a key it uses the real API unchanged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__, limits, samples
from .embedder import Embedder
from .errors import ConfigurationError, EmbeddingError, GE2Error, InputError, MissingExtraError
from .inputs import Audio, Image, Input, Mixed, Pdf, Video, as_input, load
from .offline import has_credentials
from .tasks import TASKS
from .usage import Usage

if TYPE_CHECKING:  # qdrant-client is imported only by the commands that use a store
    from .index import IndexReport, Store

INDEX_DEFAULT_DIMENSIONS = 768
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

NO_KEY_MESSAGE = """\
ge2: no API key found, so there is nothing to send {what} to.
  Use the Gemini API:  export GEMINI_API_KEY=...   (get a key at https://aistudio.google.com/apikey)
  or Vertex AI:        export GOOGLE_GENAI_USE_VERTEXAI=true GOOGLE_CLOUD_PROJECT=my-project \
GOOGLE_CLOUD_LOCATION=us-central1
  or run offline:      add --offline (the built-in emulator: stand-in vectors, not the model's),
                       or try `ge2 demo`, which does that by itself."""


class _Fail(Exception):
    """A message for people, and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# -- shared helpers ------------------------------------------------------------------------


def _dimensions(value: str) -> int:
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


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _display(path: str) -> str:
    """A path as people want to read it: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _start_emulator(quiet: bool = False) -> None:
    """Start the in-process emulator and point the SDK's environment variables at it."""
    from .emulator import Emulator

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


def _use_backend(offline: bool, what: str) -> None:
    """Start the emulator for an offline run; otherwise insist on credentials."""
    if offline:
        _start_emulator()
    elif not has_credentials():
        raise _Fail(NO_KEY_MESSAGE.format(what=what), EXIT_USAGE)


def _add_model_options(p: argparse.ArgumentParser, *, dims_default: str) -> None:
    p.add_argument(
        "--model", default=None, help=f"embedding model (default {limits.DEFAULT_MODEL})"
    )
    p.add_argument(
        "--dimensions",
        "-d",
        type=_dimensions,
        default=None,
        metavar="N",
        help=f"vector size {limits.MIN_DIMENSIONS}..{limits.MAX_DIMENSIONS} ({dims_default})",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="use the built-in emulator instead of the API (no key; stand-in vectors)",
    )


def _usage_line(u: Usage) -> str:
    return (
        f"{u.requests} request{'s' * (u.requests != 1)}, {u.items} items embedded, "
        f"{u.retries} retries ({u.rate_limited} rate-limited), {u.cache_hits} cache hits, "
        f"~{u.tokens:,} tokens, ~${u.cost_usd:.4f}"
    )


# -- ge2 index -----------------------------------------------------------------------------


def _open_store(
    folder: Path, *, model: str | None, dimensions: int | None, offline_flag: bool, create: bool
) -> tuple[Store, bool]:
    """Open the store and decide the backend: a store built offline stays offline."""
    from .index import Store

    config = Store.read_config(folder)
    # --offline on a real-API store is refused by Store.open, with the reason.
    offline = True if offline_flag else (config.offline if config is not None else False)
    store = Store.open(
        folder,
        model=model,
        dimensions=dimensions,
        offline=offline,
        create=create,
        default_dimensions=INDEX_DEFAULT_DIMENSIONS,
    )
    return store, offline


def run_index(
    paths: Sequence[str],
    store_dir: Path,
    *,
    model: str | None = None,
    dimensions: int | None = None,
    offline: bool = False,
    exclude: Sequence[str] = (),
    files_per_commit: int = 50,
    requests_per_minute: float | None = None,
    max_concurrency: int = 4,
    progress: bool | None = None,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    backend_ready: bool = False,
) -> int:
    """``ge2 index``: bring the store in line with the files under ``paths``."""
    from .index import Store, detect_changes, timed, walk

    stopwatch = timed()
    config = Store.read_config(store_dir)
    if not backend_ready:
        if config is not None and offline and not config.offline:
            raise _Fail(
                f"ge2: the store {store_dir} holds real API vectors; --offline would mix in "
                "the emulator's stand-ins. Drop --offline, or pick a new --store",
                EXIT_USAGE,
            )
        if config is not None and config.offline and not offline:
            print("ge2: this store was built offline, so it stays offline.", file=sys.stderr)
        _use_backend(offline or (config is not None and config.offline), "the files")
    try:
        found = walk(paths, exclude_dirs=[store_dir], exclude=exclude)
    except FileNotFoundError as exc:
        raise _Fail(f"ge2: {exc}", EXIT_USAGE) from exc
    store, is_offline = _open_store(
        store_dir, model=model, dimensions=dimensions, offline_flag=offline, create=True
    )
    with store:
        quota = limits.Quota(requests_per_minute) if requests_per_minute else None
        embedder = Embedder(
            store.config.model,
            store.config.dimensions,
            cache=store.cache_path,
            max_concurrency=max_concurrency,
            quota=quota,
            progress=False,
        )
        try:
            changes = detect_changes(found, store.files(), paths)
            report = _index_with_progress(store, embedder, changes, files_per_commit, progress)
            usage = embedder.usage
            total_points = store.count()
        finally:
            embedder.close()
        stored_files = len(store.files())
    seconds = stopwatch()
    problems = {s.path for s in report.skipped + report.failed}
    summary: dict[str, Any] = {
        "store": str(store_dir),
        "model": store.config.model,
        "dimensions": store.config.dimensions,
        "offline": is_offline,
        "files_found": len(found),
        "files_embedded": report.embedded_files,
        "new": sum(f.path not in problems for f in changes.new),
        "changed": sum(f.path not in problems for f in changes.changed),
        "unchanged": len(changes.unchanged) + len(changes.touched),
        "deleted": len(changes.deleted),
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
        "failed": [{"path": s.path, "reason": s.reason} for s in report.failed],
        "pieces": report.pieces,
        "pieces_by_modality": dict(sorted(report.pieces_by_modality.items())),
        "usage": usage.as_dict(),
        "seconds": round(seconds, 3),
        "interrupted": report.interrupted,
        "store_files": stored_files,
        "store_pieces": total_points,
    }
    if as_json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        _print_index_summary(summary, usage, report, out)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if report.failed else EXIT_OK


def _index_with_progress(
    store: Store, embedder: Embedder, changes: Any, files_per_commit: int, progress: bool | None
) -> IndexReport:
    from tqdm.auto import tqdm

    from .index import index_files

    todo = changes.to_embed
    bar = tqdm(
        total=len(todo),
        unit="file",
        desc="ge2 index",
        disable=(progress is False) or None,
        dynamic_ncols=True,
    )
    warned = 0

    def on_progress(n: int, report: IndexReport) -> None:
        nonlocal warned
        problems = report.skipped + report.failed
        for s in problems[warned:]:
            bar.write(f"ge2: warning: skipped {_display(s.path)}: {s.reason}", file=sys.stderr)
        warned = len(problems)
        u = embedder.usage
        bar.update(n)
        bar.set_postfix(items=report.pieces, requests=u.requests, refresh=False)

    try:
        return index_files(
            store, embedder, changes, files_per_commit=files_per_commit, on_progress=on_progress
        )
    finally:
        bar.close()


def _print_index_summary(s: dict[str, Any], usage: Usage, report: IndexReport, out: TextIO) -> None:
    mods = ", ".join(f"{k} {v}" for k, v in s["pieces_by_modality"].items()) or "none"
    where = "offline emulator" if s["offline"] else s["model"]
    print(
        f"Indexed {s['files_found']} files into {_display(s['store'])} "
        f"({where}, {s['dimensions']} dimensions) in {s['seconds']:.1f} s",
        file=out,
    )
    print(
        f"  files: {s['new']} new, {s['changed']} changed, {s['unchanged']} unchanged, "
        f"{s['deleted']} deleted, {len(s['skipped'])} skipped, {len(s['failed'])} failed",
        file=out,
    )
    print(f"  embedded {s['files_embedded']} files as {s['pieces']} pieces ({mods})", file=out)
    print(f"  API: {_usage_line(usage)}", file=out)
    for item in s["skipped"]:
        print(f"  skipped {_display(item['path'])}: {item['reason']}", file=out)
    for item in s["failed"]:
        print(f"  failed {_display(item['path'])}: {item['reason']}", file=out)
    print(f"  store: {s['store_files']} files, {s['store_pieces']} pieces", file=out)
    if report.interrupted:
        print(
            "Interrupted. Every file finished so far is stored; run the same command again "
            "to resume (files already embedded cost no API calls).",
            file=out,
        )
    elif report.failed:
        print("Some files failed at the API; run the same command again to retry them.", file=out)


def _cmd_index(args: argparse.Namespace) -> int:
    return run_index(
        args.paths,
        Path(args.store),
        model=args.model,
        dimensions=args.dimensions,
        offline=args.offline,
        exclude=args.exclude,
        files_per_commit=args.commit_every,
        requests_per_minute=args.rpm,
        max_concurrency=args.concurrency,
        progress=False if args.no_progress else None,
        as_json=args.json,
    )


# -- ge2 search ----------------------------------------------------------------------------


def _query_input(text: str | None, files: Sequence[tuple[str, str]]) -> Input:
    """The query as one input: text, a media file, or both together (one vector)."""
    classes: dict[str, type[Any]] = {"image": Image, "audio": Audio, "video": Video, "pdf": Pdf}
    parts: list[Any] = [text] if text else []
    for kind, path in files:
        if not Path(path).is_file():
            raise _Fail(f"ge2: no such file: {path}", EXIT_USAGE)
        parts.append(load(path) if kind == "file" else classes[kind](path))
    if not parts:
        raise _Fail(
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
) -> list[dict[str, Any]]:
    """Embed the query with the store's model and size; the top ``k`` hits as dicts."""
    from .index import Store

    config = Store.read_config(store_dir)
    if config is None:
        raise _Fail(
            f"ge2: {store_dir} is not a ge2 store; build one with "
            f"`ge2 index PATH --store {store_dir}`",
            EXIT_USAGE,
        )
    if not backend_ready:
        _use_backend(config.offline or offline, "the query")
    store, _ = _open_store(
        store_dir, model=None, dimensions=None, offline_flag=offline, create=False
    )
    with store:
        embedder = Embedder(
            store.config.model, store.config.dimensions, cache=store.cache_path, progress=False
        )
        try:
            vector = embedder.embed_one(query, task="query")
        finally:
            embedder.close()
        hits = store.search(vector, k)
    rows = []
    for rank, hit in enumerate(hits, 1):
        row: dict[str, Any] = {"rank": rank, "score": round(hit.score, 4), "where": hit.where}
        row.update(hit.payload)
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
    else:
        _print_hits(rows, out)
    return rows


def _print_hits(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        print("  (no results: the store is empty)", file=out)
        return
    cells = [
        (
            str(r["rank"]),
            f"{r['score']:.3f}",
            str(r.get("modality", "")),
            r["where"],
            _display(str(r.get("path", ""))),
        )
        for r in rows
    ]
    header = ("#", "score", "modality", "where", "path")
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


def _cmd_search(args: argparse.Namespace) -> int:
    query = _query_input(args.query, args.files or [])
    run_search(Path(args.store), query, k=args.k, offline=args.offline, as_json=args.json)
    return EXIT_OK


# -- ge2 embed -----------------------------------------------------------------------------


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    inputs: list[Input] = []
    labels: list[str] = []
    for name in args.files:
        try:
            inputs.append(load(sys.stdin.buffer.read() if name == "-" else name))
        except InputError as exc:
            raise _Fail(f"ge2: {exc}", EXIT_USAGE) from exc
        labels.append(name)
    for text in args.text or []:
        inputs.append(as_input(text))
        labels.append(text)
    if not inputs:
        raise _Fail("ge2: nothing to embed; give files, or text with --text", EXIT_USAGE)
    if args.format == "npy" and args.output is None and sys.stdout.isatty():
        raise _Fail(
            "ge2: --format npy writes binary; give -o FILE (or pipe the output)", EXIT_USAGE
        )
    _use_backend(args.offline, "the inputs")
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
            f"{args.output} ({_usage_line(embedder.usage)})",
            file=sys.stderr,
        )
    return EXIT_OK


# -- ge2 demo ------------------------------------------------------------------------------

DEMO_TEXT_QUERIES = (
    "a fox running through the snow",
    "lighthouse on the coast at sunset",
    "how much energy did the solar panels produce",
    "how do I bake sourdough bread",
    "volcano eruption with lava",
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .index import Store
    from .offline import offline_unless_key

    emu = offline_unless_key()
    offline = emu is not None
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ge2-demo-"))
    store_dir = folder / ".ge2-store"
    config = Store.read_config(store_dir)
    if config is not None and (config.offline != offline or config.dimensions != args.dimensions):
        shutil.rmtree(store_dir)  # the demo's own store, built for another backend or size
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
    return EXIT_OK


# -- ge2 emulator / weaviate-inference -----------------------------------------------------


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import cli as emulator_cli

    return int(emulator_cli.run(args))


def _cmd_weaviate_inference(args: argparse.Namespace) -> int:
    try:
        from ge2.integrations.weaviate import inference
    except MissingExtraError as exc:  # carries the exact pip line
        raise _Fail(f"ge2: {exc}", EXIT_ERROR) from exc
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").startswith("weaviate"):
            raise _Fail(
                "ge2: weaviate-inference needs weaviate-client. Install it with:  "
                'pip install "ge2[weaviate]"',
                EXIT_ERROR,
            ) from exc
        raise _Fail(
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


# -- the parser ----------------------------------------------------------------------------


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"ge2 {__version__}"]
    for dist in ("google-genai", "qdrant-client"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


class _FileQuery(argparse.Action):
    """Collect --image/--audio/--video/--pdf/--file in the order given."""

    def __call__(
        self, parser: Any, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        found = list(getattr(namespace, self.dest) or [])
        found.append(((option_string or "--file").lstrip("-"), values))
        setattr(namespace, self.dest, found)


def build_parser() -> argparse.ArgumentParser:
    """The ``ge2`` argument parser (public so docs and tests can render its help)."""
    parser = argparse.ArgumentParser(
        prog="ge2",
        description=(
            "Gemini Embedding 2 for text, images, audio, video and PDFs: index a folder, "
            "search it, embed files. Start with `ge2 demo` (no key needed)."
        ),
        epilog="Without GEMINI_API_KEY, add --offline to use the built-in emulator.",
    )
    parser.add_argument("--version", action="version", version=_versions())
    parser.add_argument("-v", "--verbose", action="store_true", help="log what ge2 does")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "index",
        help="embed a folder of mixed media into a local store",
        description=(
            "Walk files and folders, recognise text, Markdown, images, audio, video and PDFs "
            "by content, split what is over the model's limits, embed, and store the vectors "
            "with their metadata in DIR (Qdrant local mode). Re-runs embed only new and "
            "changed files and drop deleted ones; Ctrl-C keeps every finished file."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    p.add_argument("--store", "-s", required=True, metavar="DIR", help="the store folder")
    _add_model_options(p, dims_default=f"default {INDEX_DEFAULT_DIMENSIONS}, or the store's")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip names matching GLOB (repeatable); hidden names are always skipped",
    )
    p.add_argument(
        "--commit-every",
        type=_positive,
        default=50,
        metavar="N",
        help="files per commit to the store (default 50)",
    )
    p.add_argument(
        "--rpm",
        type=float,
        default=None,
        help="pace to this many inputs per minute (your quota tier)",
    )
    p.add_argument("--concurrency", type=_positive, default=4, help="API calls in flight")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser(
        "search",
        help="search a store with text and/or a media file",
        description="Top hits by cosine similarity; text and a file together make one query.",
    )
    p.add_argument("query", nargs="?", help="text query")
    p.add_argument("--store", "-s", required=True, metavar="DIR", help="the store folder")
    for flag in ("image", "audio", "video", "pdf", "file"):
        p.add_argument(
            f"--{flag}",
            dest="files",
            action=_FileQuery,
            metavar=flag.upper(),
            help=f"query with this {flag}" if flag != "file" else "query with a file of any type",
        )
    p.add_argument("-k", type=_positive, default=10, help="how many hits (default 10)")
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument("--offline", action="store_true", help="use the built-in emulator")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser(
        "embed",
        help="print or write the vectors of files or text",
        description="Vectors in input order: files first, then --text values.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="files to embed ('-' reads stdin)")
    p.add_argument("--text", "-t", action="append", metavar="TEXT", help="text (repeatable)")
    _add_model_options(p, dims_default=f"default {limits.MAX_DIMENSIONS}")
    p.add_argument(
        "--task",
        default="document",
        choices=TASKS,
        help="what the vectors are for (default document)",
    )
    p.add_argument(
        "--format",
        "-f",
        choices=("json", "npy"),
        default="json",
        help="json (default) or npy (a float32 array, one row per input)",
    )
    p.add_argument("--output", "-o", metavar="OUT", help="write here instead of stdout")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.set_defaults(func=_cmd_embed)

    from .emulator import cli as emulator_cli

    p = sub.add_parser(
        "emulator",
        help="serve the offline emulator of the Gemini embedding API",
        description="A local stand-in for the Gemini embedding API (not the model's "
        "semantics): same routes, limits, errors, quotas and faults.",
    )
    emulator_cli.add_arguments(p)
    p.set_defaults(func=_cmd_emulator)

    p = sub.add_parser(
        "demo",
        help="index a bundled sample corpus and search it (offline without a key)",
        description="Writes a small CC0 sample corpus (images, audio, video, PDF, text), "
        "indexes it and runs text and media queries. Without GEMINI_API_KEY it "
        "uses the built-in emulator; with a key, the real API.",
    )
    p.add_argument("--dir", metavar="DIR", help="where to write the corpus (default: a temp dir)")
    p.add_argument(
        "--dimensions",
        "-d",
        type=_dimensions,
        default=INDEX_DEFAULT_DIMENSIONS,
        metavar="N",
        help=f"vector size (default {INDEX_DEFAULT_DIMENSIONS})",
    )
    p.add_argument("-k", type=_positive, default=3, help="hits per query (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "weaviate-inference",
        add_help=False,
        help="serve GE2 to self-hosted Weaviate as an inference module",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_weaviate_inference)
    return parser


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
    except _Fail as exc:
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


if __name__ == "__main__":
    sys.exit(main())
