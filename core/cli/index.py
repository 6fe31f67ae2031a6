"""``ge2 index``: bring a store in line with folders of files; every bad file a named skip."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ge2 import limits
from ge2.embedder import Embedder
from ge2.usage import Usage

from ._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    INDEX_DEFAULT_DIMENSIONS,
    Fail,
    display,
    usage_line,
    use_backend,
)

if TYPE_CHECKING:
    import argparse

    from ge2.batch import Fallback
    from ge2.index import Changes, IndexReport, Skipped
    from ge2.store import Maintenance, Store


def open_store(
    folder: Path,
    *,
    model: str | None,
    dimensions: int | None,
    offline_flag: bool,
    create: bool,
    rebuild: bool = False,
) -> tuple[Store, bool]:
    """Open the store and decide the backend: a store built offline stays offline."""
    from ge2.store import Store

    config = Store.read_config(folder)
    # --offline on a real-API store is refused by Store.open, with the reason.
    offline = True if offline_flag else (config.offline if config is not None else False)
    store = Store.open(
        folder,
        model=model,
        dimensions=dimensions,
        offline=offline,
        create=create,
        writable=create,
        rebuild=rebuild,
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
    prune: bool = False,
    rebuild: bool = False,
    ann_threshold: int | None = None,
    ray: bool = False,
    ray_address: str | None = None,
    batch: bool = False,
    wait: bool = False,
    poll: float | None = None,
    fallback: Fallback = None,
) -> int:
    """``ge2 index``: bring the store in line with the files under ``paths`` (``ray``: read,
    split and embed on a Ray cluster at ``ray_address``, a local one when None; ``batch``:
    through the Gemini Batch API, collected now with ``wait`` or by a later run)."""
    from ge2.index import detect_changes, index_files, timed, walk
    from ge2.store import Store

    from . import batch_index

    stopwatch = timed()
    if not paths and (rebuild or not prune):
        raise Fail(
            "ge2: give the files or folders to index"
            + (
                " (--rebuild re-reads them; their vectors come from the cache)"
                if rebuild
                else " (or --prune alone, to drop stored paths that no longer exist)"
            ),
            EXIT_USAGE,
        )
    config = Store.read_config(store_dir)
    if config is not None and Store.is_old_layout(store_dir) and not rebuild:
        Store.open(store_dir, create=False, writable=False)  # raises the old-layout message
    if paths and not batch:
        batch_index.refuse_while_live(store_dir, paths)
    if not backend_ready:
        if config is not None and offline and not config.offline:
            raise Fail(
                f"ge2: the store {store_dir} holds real API vectors; --offline would mix in "
                "the emulator's stand-ins. Drop --offline, or pick a new --store",
                EXIT_USAGE,
            )
        if config is not None and config.offline and not offline:
            print("ge2: this store was built offline, so it stays offline.", file=sys.stderr)
        if paths:
            use_backend(offline or (config is not None and config.offline), "the files")
    if batch and paths:
        batch_index.check_batch_backend(model or (config.model if config else None))
    walk_problems: list[Skipped] = []
    try:
        found = walk(paths, exclude_dirs=[store_dir], exclude=exclude, problems=walk_problems)
    except FileNotFoundError as exc:
        raise Fail(f"ge2: {exc}", EXIT_USAGE) from exc
    store, is_offline = open_store(
        store_dir,
        model=model,
        dimensions=dimensions,
        offline_flag=offline,
        create=True,
        rebuild=rebuild,
    )
    for s in walk_problems:
        print(f"ge2: warning: skipped {s.kind} {display(s.path)}: {s.reason}", file=sys.stderr)
    maintenance: Maintenance | None = None
    batch_run: batch_index.BatchRun | None = None
    with store:
        unreadable = [s.path for s in walk_problems if s.kind == "folder"]
        changes = detect_changes(found, store.files(), paths, unreadable=unreadable, prune=prune)
        quota = limits.Quota(requests_per_minute) if requests_per_minute else None
        if paths and batch:
            report, usage, batch_run = batch_index.index_with_batch(
                store,
                changes,
                wait=wait,
                poll=poll,
                fallback=fallback,
                offline=is_offline,
                files_per_commit=files_per_commit,
                max_concurrency=max_concurrency,
                quota=quota,
            )
        elif paths and ray:
            report, usage = _index_on_ray(
                store, changes, ray_address, is_offline, quota, max_concurrency, progress
            )
        elif paths:
            embedder = store.embedder(max_concurrency=max_concurrency, quota=quota)
            try:
                report = _index_with_progress(store, embedder, changes, files_per_commit, progress)
                usage = embedder.usage
            finally:
                embedder.close()
        else:  # --prune alone: nothing to embed, no API needed
            report = index_files(store, None, changes)
            usage = Usage()
        report.skipped[:0] = walk_problems
        if not report.interrupted:
            maintenance = store.refresh_indexes(ann_threshold)
            if rebuild:
                store.drop_old_layout()
        total_points = store.count()
        stored_files = len(store.files())
        has_ann = store.has_vector_index()
    summary = _summary(store, store_dir, is_offline, found, changes, report, usage, stopwatch())
    summary.update(store_files=stored_files, store_pieces=total_points)
    summary["search"] = {
        "ann_index": has_ann,
        "maintenance": None if maintenance is None else _maintenance_dict(maintenance),
    }
    if batch_run is not None:
        summary["batch"] = batch_run.as_dict()
    if as_json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        extra = (
            batch_index.summary_lines(summary["batch"], str(store_dir), paths)
            if batch_run is not None and not report.interrupted
            else []
        )
        _print_summary(summary, usage, report, out, extra)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if report.failed else EXIT_OK


def _maintenance_dict(m: Maintenance) -> dict[str, Any]:
    return {
        "vector_index": m.vector_index,
        "text_index": m.text_index,
        "compacted": m.compacted,
        "seconds": round(m.seconds, 3),
    }


def _summary(
    store: Store,
    store_dir: Path,
    is_offline: bool,
    found: Sequence[Any],
    changes: Changes,
    report: IndexReport,
    usage: Usage,
    seconds: float,
) -> dict[str, Any]:
    from ge2.store import printable

    problems = {s.path for s in report.skipped + report.failed}

    def items(rows: Sequence[Skipped]) -> list[dict[str, str]]:
        return [{"path": printable(s.path), "kind": s.kind, "reason": s.reason} for s in rows]

    return {
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
        "pruned": len(changes.pruned),
        "skipped": items(report.skipped),
        "failed": items(report.failed),
        "pieces": report.pieces,
        "pieces_by_modality": dict(sorted(report.pieces_by_modality.items())),
        "usage": usage.as_dict(),
        "seconds": round(seconds, 3),
        "interrupted": report.interrupted,
    }


def _index_with_progress(
    store: Store, embedder: Embedder, changes: Changes, files_per_commit: int, progress: bool | None
) -> IndexReport:
    from tqdm.auto import tqdm

    from ge2.index import index_files

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
            bar.write(f"ge2: warning: skipped {display(s.path)}: {s.reason}", file=sys.stderr)
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


def _index_on_ray(
    store: Store,
    changes: Changes,
    address: str | None,
    offline: bool,
    quota: limits.Quota | None,
    max_concurrency: int,
    progress: bool | None,
) -> tuple[IndexReport, Usage]:
    """The same job with Ray doing the reading, splitting and embedding."""
    import os

    from tqdm.auto import tqdm

    from ge2.errors import MissingExtraError

    try:
        from ge2.integrations import ray as on_ray
    except MissingExtraError as exc:
        raise Fail(f"ge2: --ray needs Ray. {exc}", EXIT_USAGE) from exc
    options: dict[str, Any] = {"max_concurrency": max_concurrency}
    if address is None:
        options["cache"] = str(store.cache_path)  # one machine: the store's cache is shared
    if offline:  # the emulator's address is not a secret; workers may not share our env
        options.update(base_url=os.environ["GOOGLE_GEMINI_BASE_URL"], api_key="ge2-emulator")
    started = bool(changes.to_embed) and on_ray.connect(address)
    bar = tqdm(
        total=len(changes.to_embed),
        unit="file",
        desc="ge2 index --ray",
        disable=(progress is False) or None,
        dynamic_ncols=True,
    )
    try:
        report: IndexReport
        usage: Usage
        report, usage = on_ray.index_changes(
            store, changes, quota=quota, on_files=bar.update, **options
        )
        return report, usage
    finally:
        bar.close()
        if started:
            import ray

            ray.shutdown()


def _print_summary(
    s: dict[str, Any],
    usage: Usage,
    report: IndexReport,
    out: TextIO,
    extra: Sequence[str] = (),
) -> None:
    mods = ", ".join(f"{k} {v}" for k, v in s["pieces_by_modality"].items()) or "none"
    where = "offline emulator" if s["offline"] else s["model"]
    print(
        f"Scanned {s['files_found']} files for {display(s['store'])} "
        f"({where}, {s['dimensions']} dimensions) in {s['seconds']:.1f} s",
        file=out,
    )
    print(
        f"  files: {s['new']} new, {s['changed']} changed, {s['unchanged']} unchanged, "
        f"{s['deleted']} deleted, {len(s['skipped'])} skipped, {len(s['failed'])} failed",
        file=out,
    )
    if s["pruned"]:
        print(
            f"  pruned {s['pruned']} stored paths that no longer exist (renamed or moved)",
            file=out,
        )
    print(f"  embedded {s['files_embedded']} files as {s['pieces']} pieces ({mods})", file=out)
    print(f"  API: {usage_line(usage)}", file=out)
    for item in s["skipped"]:
        what = "folder " if item["kind"] == "folder" else ""
        print(f"  skipped {what}{display(item['path'])}: {item['reason']}", file=out)
    for item in s["failed"]:
        print(f"  failed {display(item['path'])}: {item['reason']}", file=out)
    search = "ANN index + exact re-rank" if s["search"]["ann_index"] else "exact"
    print(
        f"  store: {s['store_files']} files, {s['store_pieces']} pieces (search: {search})",
        file=out,
    )
    for line in extra:
        print(line, file=out)
    if report.interrupted and "batch" in s:
        print(
            "Interrupted. The batch jobs keep running and their state is kept in "
            f"{display(s['batch']['state_dir'])}; run the same command again to collect them "
            "(nothing is submitted twice).",
            file=out,
        )
    elif report.interrupted:
        print(
            "Interrupted. Every file finished so far is stored; run the same command again "
            "to resume (files already embedded cost no API calls).",
            file=out,
        )
    elif report.failed:
        print("Some files failed at the API; run the same command again to retry them.", file=out)


def command(args: argparse.Namespace) -> int:
    if args.ray and args.ray != "auto" and ":" not in args.ray and Path(args.ray).exists():
        raise Fail(
            f"ge2: --ray took {args.ray!r} as the cluster's address, but it is a path. Put "
            "--ray after the PATHs, or give the address (auto, HOST:PORT, ray://HOST:PORT)",
            EXIT_USAGE,
        )
    if not args.batch:
        given = [
            flag
            for flag, value in (
                ("--wait", args.wait),
                ("--poll", args.poll is not None),
                ("--fallback", args.fallback is not None),
            )
            if value
        ]
        if given:
            raise Fail(f"ge2: {', '.join(given)} only go with --batch", EXIT_USAGE)
    elif args.ray is not None:
        raise Fail(
            "ge2: --batch and --ray are two ways to embed the same files; pick one", EXIT_USAGE
        )
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
        prune=args.prune,
        rebuild=args.rebuild,
        ann_threshold=args.ann_threshold,
        ray=args.ray is not None,
        ray_address=args.ray or None,
        batch=args.batch,
        wait=args.wait,
        poll=args.poll,
        fallback=args.fallback,
    )
