"""``ge2 index --batch``: the indexing job sent through the Gemini Batch API (about half price).

The plan is plain ``ge2 index``'s (same walk, change detection, named skips, splitting,
cache first); only the sending differs: ``Embedder.submit_batch`` with the job state kept
in the store (``Store.batch_dir``), so the store owns its jobs. A run submits and returns;
``--wait`` or a later run collects finished jobs and writes their files exactly as online
indexing would. Every step is durable: results land in the store's cache before anything
is written (``before-store-write`` is the last kill point), so a re-run writes them with
zero API calls and nothing is billed twice.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ge2 import limits
from ge2.batch import BatchJobs, BatchOutcome, Polling, check_supported, checkpoint
from ge2.batch_state import BatchState, JobRecord
from ge2.embedder import Embedder
from ge2.errors import GE2Error, InputError
from ge2.store import BATCH_DIR, printable
from ge2.usage import Usage

from ._common import EXIT_USAGE, Fail, display

if TYPE_CHECKING:
    from ge2.batch import BatchJob, Fallback
    from ge2.index import Changes, IndexReport, LoadedFile
    from ge2.store import Store

#: How often an offline run (the in-process emulator) asks about its jobs, in seconds.
OFFLINE_POLL = 0.2


def live_jobs(store_dir: Path) -> list[JobRecord]:
    """The store's Batch API jobs that have not ended (no API call; [] without any)."""
    folder = store_dir / BATCH_DIR
    if not (folder / BatchState.FILENAME).is_file():
        return []
    state = BatchState(folder)
    try:
        return [j for j in state.jobs() if j.live]
    finally:
        state.close()


def job_label(job: JobRecord) -> str:
    """``ge2-…`` id, the API's ``batches/…`` name when it has one, and the state."""
    return f"{job.id}" + (f" ({job.name})" if job.name else "") + f" {job.state}"


def refuse_while_live(store_dir: Path, paths: Sequence[str]) -> None:
    """Stop an online run on a store with live batch jobs: their files would be paid twice."""
    jobs = live_jobs(store_dir)
    if not jobs:
        return
    where = printable(str(store_dir))
    given = " ".join(printable(p) for p in paths) or "PATH..."
    shown = ", ".join(job_label(j) for j in jobs[:5]) + (" ..." if len(jobs) > 5 else "")
    raise Fail(
        f"ge2: the store {where} has {len(jobs)} Batch API job{'s' * (len(jobs) != 1)} not "
        f"yet collected: {shown}. Indexing online now would embed (and bill) their files a "
        f"second time. Fix: `ge2 index {given} --store {where} --batch --wait` collects them "
        f"into the store, or `ge2 batch cancel --store {where}` cancels them (their files are "
        "then indexed online)",
        EXIT_USAGE,
    )


def check_batch_backend(model: str | None) -> None:
    """Refuse a Vertex AI setup (or an SDK without the Batch API) before any file is read."""
    probe = Embedder(model or limits.DEFAULT_MODEL, progress=False)
    try:
        check_supported(probe)
    finally:
        probe.close()


@dataclasses.dataclass
class BatchRun:
    """What the batch side of one ``ge2 index --batch`` run did (for the summary)."""

    state_dir: Path
    jobs: list[JobRecord] = dataclasses.field(default_factory=list)
    files_pending: int = 0
    waited: bool = False

    def as_dict(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for j in self.jobs:
            states[j.state] = states.get(j.state, 0) + 1
        return {
            "state_dir": str(self.state_dir),
            "jobs": [job_dict(j) for j in self.jobs],
            "states": states,
            "items": sum(j.items for j in self.jobs),
            "cost_usd": round(sum(j.cost_usd for j in self.jobs), 8),
            "online_cost_usd": round(sum(j.online_cost_usd for j in self.jobs), 8),
            "files_pending": self.files_pending,
            "waited": self.waited,
        }


def job_dict(j: JobRecord) -> dict[str, Any]:
    """One job as ``--json`` shows it (``ge2 index --batch`` and ``ge2 batch``)."""
    return {
        "id": j.id,
        "name": j.name,
        "state": j.state,
        "live": j.live,
        "mode": j.mode,
        "model": j.model,
        "dimensions": j.dims,
        "items": j.items,
        "done": j.done,
        "failed": j.failed,
        "tokens": j.tokens,
        "cost_usd": round(j.cost_usd, 8),
        "online_cost_usd": round(j.online_cost_usd, 8),
        "error": j.error,
        "created": j.created,
        "updated": j.updated,
    }


def index_with_batch(
    store: Store,
    changes: Changes,
    *,
    wait: bool,
    poll: float | None,
    fallback: Fallback,
    offline: bool,
    files_per_commit: int,
    max_concurrency: int,
    quota: limits.Quota | None,
    err: TextIO = sys.stderr,
) -> tuple[IndexReport, Usage, BatchRun]:
    """Apply ``changes`` to the store with the files' vectors from Batch API jobs.

    Deletes, prunes and re-stamps happen at once. The files to embed are read and planned
    as online; the store's earlier jobs are asked about first (finished ones collected into
    the cache), then only what is neither cached nor in a live job is submitted. Files
    whose every piece is back are written; the others wait for a later run. Ctrl-C sets
    ``report.interrupted``: the jobs keep running and the state folder keeps them.
    """
    from ge2.index import index_files, load_files

    report = index_files(store, None, dataclasses.replace(changes, new=[], changed=[]))
    run = BatchRun(store.batch_dir)
    embedder = store.embedder(max_concurrency=max_concurrency, quota=quota)
    try:
        with BatchJobs(embedder, store.batch_dir) as jobs:
            earlier = [j.id for j in jobs.list() if j.live]
            job: BatchJob | None = None
            try:
                if earlier:
                    jobs.status(earlier)  # finished jobs -> the cache, before planning
                loaded = load_files(changes.to_embed, report)
                job, loaded = _submit(
                    embedder, loaded, store.batch_dir, report, resend_failed=fallback is None
                )
                for s in report.skipped:
                    print(f"ge2: warning: skipped {display(s.path)}: {s.reason}", file=err)
                if job is not None and job.ids and (wait or offline) and not job.done:
                    run.waited = True
                    print(
                        f"ge2: waiting for {_jobs_phrase(job.jobs)} (Ctrl-C stops waiting; "
                        "the jobs keep running and the next run collects them)",
                        file=err,
                        flush=True,
                    )
                    job.wait(Polling.of(OFFLINE_POLL if poll is None and offline else poll))
                outcome = job.outcome(fallback=fallback) if job is not None else BatchOutcome()
                run.files_pending = len(outcome.pending)
                _write(store, changes, loaded, outcome, files_per_commit, report)
            except KeyboardInterrupt:
                report.interrupted = True
            finally:
                ids = list(dict.fromkeys(earlier + (job.ids if job is not None else [])))
                run.jobs = [j for j in jobs.list() if j.id in set(ids)]
                if job is not None:
                    job.close()
        usage = embedder.usage
    finally:
        embedder.close()
    return report, usage, run


def _jobs_phrase(jobs: Sequence[JobRecord]) -> str:
    names = ", ".join(j.name or j.id for j in jobs[:3]) + (" ..." if len(jobs) > 3 else "")
    return f"{len(jobs)} batch job{'s' * (len(jobs) != 1)} ({names})"


def _submit(
    embedder: Embedder,
    loaded: list[LoadedFile],
    state_dir: Path,
    report: IndexReport,
    *,
    resend_failed: bool,
) -> tuple[BatchJob | None, list[LoadedFile]]:
    """Submit the files' inputs; a file the core refuses or cannot split is a named skip.

    Planning happens before anything is sent, so a refused input leaves no job behind.
    Without ``resend_failed``, items an earlier job failed stay out (``--fallback online``
    embeds them online instead of sending them to the Batch API again).
    """
    from ge2.index import Skipped

    todo = list(loaded)
    while todo:
        try:
            job = embedder.submit_batch(
                [lf.input for lf in todo],
                task="document",
                state_dir=state_dir,
                resend_failed=resend_failed,
            )
            return job, todo
        except InputError as exc:
            if exc.index is None or not 0 <= exc.index < len(todo):
                raise
            bad = todo.pop(exc.index)
            report.skipped.append(Skipped(bad.found.path, exc.problem))
        except (KeyboardInterrupt, GE2Error):
            raise
        except Exception:  # a splitter or decoder failing on one file's content
            kept = _plannable(embedder, todo, report)
            if len(kept) == len(todo):
                raise
            todo = kept
    return None, []


def _plannable(embedder: Embedder, todo: list[LoadedFile], report: IndexReport) -> list[LoadedFile]:
    """The files that plan on their own; the others are skipped with their reason."""
    from ge2.index import Skipped, skip_reason

    kept: list[LoadedFile] = []
    for lf in todo:
        try:
            problem = embedder.check([lf.input], task="document")[0]
        except (KeyboardInterrupt, GE2Error):
            raise
        except Exception as exc:
            report.skipped.append(Skipped(lf.found.path, skip_reason(exc)))
            continue
        if problem is not None:
            report.skipped.append(Skipped(lf.found.path, problem.problem))
        else:
            kept.append(lf)
    return kept


def _write(
    store: Store,
    changes: Changes,
    loaded: list[LoadedFile],
    outcome: BatchOutcome,
    files_per_commit: int,
    report: IndexReport,
) -> None:
    """Files whose pieces are all back go into the store, a commit per ``files_per_commit``.

    A failed or skipped changed file loses its stale pieces (as online); a file still in
    a live job keeps what the store has until its job is collected.
    """
    from ge2.index import Skipped, store_files

    changed = frozenset(f.path for f in changes.changed)
    for i, why in sorted(outcome.failed.items()):
        report.failed.append(
            Skipped(
                loaded[i].found.path,
                f"{why}. Fix: run the same command again to re-send it, or add "
                "--fallback online to embed it online",
            )
        )
    ready = sorted(outcome.pieces)
    pending = {loaded[i].found.path for i in outcome.pending}
    settled = [f for f in changes.to_embed if f.path not in pending]
    if ready or any(f.path in changed for f in settled):
        checkpoint("before-store-write")
    for start in range(0, len(ready), files_per_commit):
        chunk = ready[start : start + files_per_commit]
        store_files(
            store,
            [loaded[i].found for i in chunk],
            [(loaded[i], outcome.pieces[i]) for i in chunk],
            changed,
            report,
        )
    written = {loaded[i].found.path for i in ready}
    store_files(store, [f for f in settled if f.path not in written], [], changed, report)


def usd(amount: float) -> str:
    """Dollars to 4 places, or to 6 when smaller than a cent (a few texts cost that)."""
    return f"{amount:.6f}" if 0 < amount < 0.01 else f"{amount:.4f}"


def summary_lines(run: dict[str, Any], store_dir: str, paths: Sequence[str]) -> list[str]:
    """The batch part of ``ge2 index``'s summary: jobs, states, the two prices, what next."""
    jobs = run["jobs"]
    states = ", ".join(f"{n} {s}" for s, n in sorted(run["states"].items()))
    if jobs:
        lines = [
            f"  batch: {len(jobs)} job{'s' * (len(jobs) != 1)} ({states}), {run['items']} "
            f"items, ~${usd(run['cost_usd'])} at the batch price (online: "
            f"~${usd(run['online_cost_usd'])})"
        ]
    else:
        lines = ["  batch: no job needed (every vector was in the store's cache)"]
    for j in jobs:
        done = f", {j['done']} done" if j["done"] else ""
        failed = f", {j['failed']} failed" if j["failed"] else ""
        lines.append(
            f"    {j['id']}" + (f" {j['name']}" if j["name"] else "") + f": {j['state']}, "
            f"{j['items']} items{done}{failed}"
        )
    if run["files_pending"]:
        where = printable(store_dir)
        given = " ".join(printable(p) for p in paths)
        lines.append(
            f"{run['files_pending']} file{'s' * (run['files_pending'] != 1)} wait for their "
            "batch jobs (minutes to hours). Run the same command again to collect them into "
            f"the store, or `ge2 index {given} --store {where} --batch --wait` to wait here; "
            f"`ge2 batch status --store {where}` shows the jobs."
        )
    return lines
