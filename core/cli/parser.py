"""The ``ge2`` argument parser: wiring only; each command's work lives in its own module."""

from __future__ import annotations

import argparse
from typing import Any

from ge2 import __version__, limits
from ge2.tasks import TASKS

from . import batch, demo, embed, index, search, serve, services
from ._common import INDEX_DEFAULT_DIMENSIONS, dimensions_arg, positive_arg

MODALITIES = ("text", "image", "audio", "video", "pdf", "mixed")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"ge2 {__version__}"]
    for dist in ("google-genai", "lancedb"):
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


def _add_model_options(p: argparse.ArgumentParser, *, dims_default: str) -> None:
    p.add_argument(
        "--model", default=None, help=f"embedding model (default {limits.DEFAULT_MODEL})"
    )
    p.add_argument(
        "--dimensions",
        "-d",
        type=dimensions_arg,
        default=None,
        metavar="N",
        help=f"vector size {limits.MIN_DIMENSIONS}..{limits.MAX_DIMENSIONS} ({dims_default})",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="use the built-in emulator instead of the API (no key; stand-in vectors)",
    )


def _add_index(sub: Any) -> None:
    p = sub.add_parser(
        "index",
        help="embed a folder of mixed media into a local store",
        description=(
            "Walk files and folders, recognise text, Markdown, images, audio, video and PDFs "
            "by content, split what is over the model's limits, embed, and store the vectors "
            "with their metadata in DIR (LanceDB tables). Re-runs embed only new and changed "
            "files and drop deleted ones; Ctrl-C keeps every finished file. A file or folder "
            "that cannot be read is skipped by name and counted; the run goes on."
        ),
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to index")
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
        "--prune",
        action="store_true",
        help="also drop every stored path that no longer exists (works without PATHs)",
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="drop the stored vectors (or an old store layout) and re-index PATHs; vectors "
        "come from the store's cache, so unchanged files cost no API calls",
    )
    p.add_argument(
        "--ann-threshold",
        type=positive_arg,
        default=None,
        metavar="N",
        help="build the ANN index once the store holds N pieces (default: env "
        "GE2_ANN_THRESHOLD, else 50000)",
    )
    p.add_argument(
        "--commit-every",
        type=positive_arg,
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
    p.add_argument("--concurrency", type=positive_arg, default=4, help="API calls in flight")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="read, split and embed on a Ray cluster (needs ge2[ray]): ADDRESS, or 'auto' for "
        "the cluster this machine is in; a local Ray on this machine's CPUs when omitted. "
        "Put it after the PATHs",
    )
    g = p.add_argument_group(
        "Batch API (about half the price; jobs take minutes to hours)",
        "--batch submits the files to embed as Gemini Batch API jobs, kept in the store "
        "(DIR/batch), prints them and returns; --wait, or running the same command again "
        "later, collects finished jobs into the store. `ge2 batch list|status|cancel` "
        "manages them. Gemini Developer API only; --offline always waits.",
    )
    g.add_argument("--batch", action="store_true", help="embed through the Batch API")
    g.add_argument("--wait", action="store_true", help="wait for the jobs and collect them")
    g.add_argument(
        "--poll",
        type=_seconds_arg,
        default=None,
        metavar="SECONDS",
        help="with --wait: first poll interval, backing off (default 10, up to 300)",
    )
    g.add_argument(
        "--fallback",
        choices=("online",),
        default=None,
        help="embed online the items a batch job could not, in this run or an earlier one "
        "(default: the next --batch run sends them to the Batch API again)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=index.command)


def _seconds_arg(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return seconds


def _add_batch(sub: Any) -> None:
    p = sub.add_parser(
        "batch",
        help="list, check or cancel the Batch API jobs of a store",
        description="The Gemini Batch API jobs a store owns (submitted by `ge2 index "
        "--batch`, kept in DIR/batch). `status` asks the API and collects finished jobs "
        "into the store's cache; `ge2 index ... --batch` then writes them into the store.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "the jobs as last seen (no API call, no key needed)"),
        ("status", "ask the API about live jobs; collect the finished ones"),
        ("cancel", "cancel live jobs; their files go back to be indexed"),
    ):
        a = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "list":
            a.add_argument(
                "jobs",
                nargs="*",
                metavar="JOB",
                help="job ids (ge2-...) or API names (batches/...); default: all"
                + (" live ones" if name == "cancel" else ""),
            )
        a.add_argument("--store", "-s", required=True, metavar="DIR", help="the store folder")
        a.add_argument("--json", action="store_true", help="print the jobs as JSON")
        a.set_defaults(func=batch.command)


def _add_search(sub: Any) -> None:
    p = sub.add_parser(
        "search",
        help="search a store with text and/or a media file",
        description="Top hits by cosine similarity; text and a file together make one query. "
        "Large stores are searched through their ANN index with an exact re-rank.",
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
    p.add_argument("-k", type=positive_arg, default=10, help="how many hits (default 10)")
    p.add_argument("--exact", action="store_true", help="scan every vector, even with an ANN index")
    p.add_argument(
        "--hybrid",
        action="store_true",
        help="also match the query's words in text pieces (full-text), fused by rank",
    )
    p.add_argument(
        "--modality",
        action="append",
        choices=MODALITIES,
        help="only pieces of this kind (repeatable)",
    )
    p.add_argument("--under", metavar="DIR", help="only files under this folder")
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument("--offline", action="store_true", help="use the built-in emulator")
    p.set_defaults(func=search.command)


def _add_embed(sub: Any) -> None:
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
    p.set_defaults(func=embed.command)


def _add_demo(sub: Any) -> None:
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
        type=dimensions_arg,
        default=INDEX_DEFAULT_DIMENSIONS,
        metavar="N",
        help=f"vector size (default {INDEX_DEFAULT_DIMENSIONS})",
    )
    p.add_argument("-k", type=positive_arg, default=3, help="hits per query (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--serve", action="store_true", help="then open the results page (ge2 serve)")
    p.add_argument("--port", type=int, default=serve.DEFAULT_PORT, help="port for --serve")
    p.set_defaults(func=demo.command)


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
    _add_index(sub)
    _add_search(sub)
    _add_embed(sub)
    _add_batch(sub)

    from ge2.emulator import cli as emulator_cli

    p = sub.add_parser(
        "emulator",
        help="serve the offline emulator of the Gemini embedding API",
        description="A local stand-in for the Gemini embedding API (not the model's "
        "semantics): same routes, limits, errors, quotas and faults.",
    )
    emulator_cli.add_arguments(p)
    p.set_defaults(func=services._cmd_emulator)
    _add_demo(sub)
    p = sub.add_parser(
        "serve",
        help="search a store in the browser (a local page and JSON API)",
        description="A local, read-only web page over a store: text or file queries, "
        "results as thumbnails, players at the matched second, PDF pages and snippets; "
        "a JSON API (/api/search, /api/stats) with the fields of `ge2 search --json`.",
    )
    serve.add_arguments(p)
    p.set_defaults(func=serve.command)
    p = sub.add_parser(
        "weaviate-inference",
        add_help=False,
        help="serve GE2 to self-hosted Weaviate as an inference module",
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=services._cmd_weaviate_inference)
    return parser
