"""``ge2 batch list|status|cancel``: the Batch API jobs a store owns (kept in ``DIR/batch``).

``list`` reads the state file only (no key, no API call); ``status`` asks the API about
the live jobs and collects finished ones into the store's cache (``ge2 index --batch``
then writes them into the store at no API cost); ``cancel`` cancels live jobs, whose items
go back to pending, so the next ``ge2 index`` (online or ``--batch``) sends them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ge2.batch_state import COLLECTED, BatchState, JobRecord
from ge2.store import BATCH_DIR, CACHE_FILE, Store, printable

from ._common import EXIT_OK, EXIT_USAGE, Fail, use_backend
from .batch_index import job_dict, usd

if TYPE_CHECKING:
    import argparse

    from ge2.store import StoreConfig


def _recorded(folder: Path) -> list[JobRecord]:
    if not (folder / BatchState.FILENAME).is_file():
        return []
    state = BatchState(folder)
    try:
        jobs: list[JobRecord] = state.jobs()
    finally:
        state.close()
    return jobs


def run_batch(
    action: str,
    store_dir: Path,
    ids: Sequence[str] = (),
    *,
    as_json: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """``ge2 batch ACTION``: show, refresh or cancel the store's jobs (all, or ``ids``)."""
    config = Store.read_config(store_dir)
    where = printable(str(store_dir))
    if config is None:
        raise Fail(
            f"ge2: {where} is not a ge2 store (no ge2-store.json); `ge2 index PATH --store "
            f"{where} --batch` makes one and submits its files",
            EXIT_USAGE,
        )
    folder = store_dir / BATCH_DIR
    before = _recorded(folder)
    known = {j.id for j in before} | {j.name for j in before if j.name}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise Fail(
            f"ge2: no batch job {', '.join(unknown)} in the store {where}; `ge2 batch list "
            f"--store {where}` shows the jobs it owns",
            EXIT_USAGE,
        )
    jobs = before
    if action != "list" and before:
        jobs = _ask_api(action, store_dir, list(ids), config)
    if action == "cancel":
        wanted = set(ids)
        was_live = {j.id for j in before if j.live and (not ids or {j.id, j.name} & wanted)}
        jobs = [j for j in jobs if j.id in was_live]
    elif ids:
        wanted = set(ids)
        jobs = [j for j in jobs if j.id in wanted or j.name in wanted]
    if as_json:
        print(
            json.dumps({"store": str(store_dir), "jobs": [job_dict(j) for j in jobs]}, indent=2),
            file=out,
        )
        return EXIT_OK
    _print_table(jobs, out)
    for line in _hints(action, before, jobs, where):
        print(line, file=out)
    return EXIT_OK


def _ask_api(action: str, store_dir: Path, ids: list[str], config: StoreConfig) -> list[JobRecord]:
    """Refresh or cancel at the API (the store's model and cache: results land there)."""
    from ge2.batch import BatchJobs
    from ge2.embedder import Embedder

    use_backend(config.offline, "the job requests")
    emb = Embedder(config.model, config.dimensions, cache=store_dir / CACHE_FILE, progress=False)
    try:
        with BatchJobs(emb, store_dir / BATCH_DIR) as jobs:
            if action == "status":
                jobs.status(ids or None)
            else:
                jobs.cancel(ids or None)
            seen: list[JobRecord] = jobs.list()
            return seen
    finally:
        emb.close()


def _print_table(jobs: Sequence[JobRecord], out: TextIO) -> None:
    if not jobs:
        print("No batch jobs.", file=out)
        return
    head = (
        f"{'JOB':<21} {'API NAME':<24} {'STATE':<10} {'ITEMS':>6} {'DONE':>6} {'FAILED':>6} "
        f"{'BATCH $':>9} {'ONLINE $':>9}  CREATED"
    )
    print(head, file=out)
    for j in jobs:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created))
        print(
            f"{j.id:<21} {(j.name or '-'):<24} {j.state:<10} {j.items:>6} {j.done:>6} "
            f"{j.failed:>6} {usd(j.cost_usd):>9} {usd(j.online_cost_usd):>9}  {created}",
            file=out,
        )
        if j.error and not j.live and j.state != COLLECTED:
            print(f"{'':<21} {j.error}", file=out)
    live = sum(j.live for j in jobs)
    print(
        f"{len(jobs)} job{'s' * (len(jobs) != 1)}, {live} live; "
        f"~${usd(sum(j.cost_usd for j in jobs))} at the batch price "
        f"(online: ~${usd(sum(j.online_cost_usd for j in jobs))})",
        file=out,
    )


def _hints(
    action: str, before: Sequence[JobRecord], after: Sequence[JobRecord], where: str
) -> list[str]:
    lines: list[str] = []
    was_live = {j.id for j in before if j.live}
    collected = [j for j in after if j.id in was_live and j.state == COLLECTED]
    live = [j for j in after if j.live]
    if action == "cancel" and after:
        lines.append(
            "Cancelled. Their files go to the next `ge2 index PATH... --store "
            f"{where}` (online) or `... --batch` (submitted again)."
        )
    if collected:
        lines.append(
            f"Collected {len(collected)} job{'s' * (len(collected) != 1)} into the store's "
            f"cache; `ge2 index PATH... --store {where} --batch` writes them into the store "
            "(no API calls)."
        )
    if live and action != "cancel":
        lines.append(
            f"{len(live)} job{'s' * (len(live) != 1)} still running; `ge2 index PATH... "
            f"--store {where} --batch --wait` waits for them and stores their files."
        )
    return lines


def command(args: argparse.Namespace) -> int:
    return run_batch(
        args.action, Path(args.store), getattr(args, "jobs", ()) or (), as_json=args.json
    )
