"""Gemini Batch API jobs: the embedder's plan, sent as jobs, persisted, resumed, collected.

``Embedder.submit_batch`` plans exactly as ``embed`` does (checks, splitting, task
instructions, cache keys, the largest Matryoshka size), looks the cache up first, and sends
only what is missing and not already in a live job: inline when the body is small, else as
a JSONL file uploaded through the Files API, several jobs when one would pass the per-job
limits. Each job and the keys of its items are written to the state folder before it is
submitted (``batch_state``), so a process killed at any point resumes the same jobs on the
next call and never sends an item twice. The Batch API is on the Gemini Developer API only.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import json
import logging
import os
import secrets
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from google.genai import types

from . import transport
from .batch_state import (
    ABANDONED,
    CANCELLED,
    ENDED_BADLY,
    EXPIRED,
    FAILED,
    LIVE,
    PENDING,
    RUNNING,
    SUBMITTING,
    SUCCEEDED,
    BatchState,
    JobRecord,
)
from .cache import EmbeddingCache, default_path
from .contents import WireItem
from .errors import APIError, BatchJobError, ConfigurationError, EmbeddingError, RequestRejected
from .usage import BATCH_PRICE_FACTOR

if TYPE_CHECKING:
    from google import genai

    from .embedder import Dimensions, Embedder, Piece, _Plan

logger = logging.getLogger("ge2.batch")

Fallback = Literal["online"] | None

#: The API's job states (google-genai's ``JobState`` names) -> the state file's.
_API_STATES = {
    "JOB_STATE_PENDING": PENDING,
    "JOB_STATE_QUEUED": PENDING,
    "JOB_STATE_RUNNING": RUNNING,
    "JOB_STATE_SUCCEEDED": SUCCEEDED,
    "JOB_STATE_FAILED": FAILED,
    "JOB_STATE_CANCELLED": CANCELLED,
    "JOB_STATE_CANCELLING": RUNNING,
    "JOB_STATE_EXPIRED": EXPIRED,
}
#: Test hook: the process exits at this stage (kill-and-resume tests).
_KILL_ENV = "GE2_BATCH_KILL_AT"


@dataclass(frozen=True)
class BatchLimits:
    """How items are cut into jobs. Defaults follow the API; tests use small ones.

    ``inline_bytes``: a job whose request body would stay under it goes inline (the API
    takes about 20 MB inline), else as an uploaded JSONL file of at most ``file_bytes``
    (2 GB). ``max_items`` per job is ge2's choice: a job that fails costs less to redo.
    """

    inline_bytes: int = 20 * 1024 * 1024
    file_bytes: int = 2 * 1024**3
    max_items: int = 50_000

    def __post_init__(self) -> None:
        if min(self.inline_bytes, self.file_bytes, self.max_items) < 1:
            raise ConfigurationError("BatchLimits values must be positive")


#: The smallest delay between two polls after the first (``poll=0`` backs off from here).
MIN_REPOLL_S = 0.1


@dataclass(frozen=True)
class Polling:
    """How often to ask about a job: ``initial`` seconds, times ``factor``, up to ``maximum``.

    Jobs take minutes to hours; the default starts at 10 s and settles at 5 min.
    """

    initial: float = 10.0
    maximum: float = 300.0
    factor: float = 1.5

    def after(self, delay: float) -> float:
        """The next delay: grows by ``factor`` even from 0 (``poll=0`` never spins on the API)."""
        return min(self.maximum, max(delay * self.factor, MIN_REPOLL_S))

    @classmethod
    def of(cls, value: Polling | float | None) -> Polling:
        if value is None:
            return cls()
        if isinstance(value, Polling):
            return value
        seconds = float(value)
        if seconds < 0:
            raise ConfigurationError(f"poll={value!r} must be >= 0 seconds")
        return cls(seconds, max(seconds, cls.maximum), cls.factor)


def default_state_dir() -> Path:
    """``$GE2_CACHE_DIR/batch`` (or ``~/.cache/ge2/batch``): beside the default cache."""
    return default_path().parent / "batch"


def checkpoint(stage: str) -> None:
    """Exit abruptly (status 75, as a kill would) when ``GE2_BATCH_KILL_AT`` names ``stage``.

    The kill-and-resume tests' hook, public so the writers of collected results (``ge2
    index --batch``: ``before-store-write``) mark their own stages the same way.
    """
    if os.environ.get(_KILL_ENV) == stage:
        logging.shutdown()
        os._exit(75)


class _UploadReader(io.FileIO):
    """The JSONL as the SDK reads it, chunk by chunk (the kill-test hook sits between)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")

    def read(self, size: int | None = -1, /) -> bytes:
        checkpoint("during-upload")  # the upload session is open, its bytes not yet sent
        return super().read(size)


def _estimate_bytes(w: WireItem) -> int:
    """A request's JSON size: base64 grows media by 4/3; keys and config add a little."""
    if w.text is not None:
        return len(json.dumps(w.text)) + 160
    return (w.nbytes * 4) // 3 + 240


def _cost(w: WireItem) -> float:
    from .limits import PRICE_PER_MILLION_TOKENS

    price = PRICE_PER_MILLION_TOKENS.get(w.modality, PRICE_PER_MILLION_TOKENS["text"])
    return w.tokens * price * BATCH_PRICE_FACTOR / 1_000_000


def check_supported(embedder: Embedder) -> None:
    """Raise ``ConfigurationError`` unless this Embedder's client can run Batch API jobs.

    Public so a caller (``ge2 index --batch``) can refuse before reading any file.
    """
    if embedder.vertexai:
        raise ConfigurationError(
            "the Batch API for embeddings is on the Gemini Developer API only; this "
            "Embedder is on Vertex AI (which has batch prediction jobs instead). Use "
            "embed() here, or an Embedder with a Gemini API key (GEMINI_API_KEY) for "
            "submit_batch()"
        )
    if not hasattr(embedder.client.batches, "create_embeddings"):
        raise ConfigurationError(
            "this google-genai has no batches.create_embeddings (the Batch API for "
            "embeddings); upgrade it: pip install -U google-genai"
        )


class BatchRunner:
    """The Batch API side of one ``Embedder`` over one state folder."""

    def __init__(
        self,
        embedder: Embedder,
        state_dir: str | os.PathLike[str] | None = None,
        limits: BatchLimits | None = None,
    ) -> None:
        check_supported(embedder)
        self.embedder = embedder
        self.limits = limits or BatchLimits()
        self.state = BatchState(state_dir if state_dir is not None else default_state_dir())
        #: Collected vectors land here: the embedder's cache, else one in the state folder.
        self._own_cache = embedder.cache is None
        self.cache = embedder.cache or EmbeddingCache(self.state.folder / "vectors.sqlite")

    @property
    def client(self) -> genai.Client:
        return self.embedder.client

    def close(self) -> None:
        """Release the state file (and the cache, when it is this runner's own)."""
        self.state.close()
        if self._own_cache:
            self.cache.close()

    def __enter__(self) -> BatchRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submitting ---------------------------------------------------------------------

    def submit(
        self,
        inputs: Iterable[Any],
        task: str | None,
        dimensions: Dimensions | None,
        resend_failed: bool = True,
    ) -> BatchJob:
        plan = self.embedder._plan(inputs, task)
        sizes = self.embedder._sizes(dimensions)
        size = max(sizes)
        self.resolve_submitting()
        interrupted = [j.id for j in self.state.jobs() if j.state == SUCCEEDED]
        if interrupted:  # a collection cut short: finish it, so the record is complete
            self.refresh(interrupted)
        unique = plan.unique()
        found = self.cache.get_many(unique, size) if unique else {}
        if found:
            self.embedder._meter.add(cache_hits=len(found))
        missing = {k: w for k, w in unique.items() if k not in found}
        live = self.state.live_jobs_for(missing, size)
        todo = [w for k, w in missing.items() if k not in live]
        if not resend_failed and todo:  # left for outcome(fallback="online")
            failed = self.state.failures_for([w.key for w in todo])
            todo = [w for w in todo if w.key not in failed]
        job_ids = list(dict.fromkeys(live.values()))
        if live:
            logger.info("%d items already in live batch jobs; not sent again", len(live))
        for mode, chunk in self._chunks(todo):
            job_ids.append(self._submit_one(mode, chunk, size))
        return BatchJob(self, plan, sizes, dimensions, job_ids)

    def _chunks(self, todo: list[WireItem]) -> list[tuple[str, list[WireItem]]]:
        """Cut items into jobs within the per-job limits: inline or as a file each.

        An inline job carries ONE call config (task type, title) for all its requests; a
        file carries one per line. So items of several configs (``gemini-embedding-001``
        documents with titles) go as files rather than as one small inline job per title.
        """
        lim = self.limits
        one_config = len({w.group for w in todo}) <= 1
        out: list[tuple[str, list[WireItem]]] = []
        current: list[WireItem] = []
        size = 0

        def close() -> None:
            inline = one_config and size <= lim.inline_bytes
            out.append(("inline" if inline else "file", current))

        for w in todo:
            n = _estimate_bytes(w)
            if current and (len(current) >= lim.max_items or size + n > lim.file_bytes):
                close()
                current, size = [], 0
            current.append(w)
            size += n
        if current:
            close()
        return out

    def _submit_one(self, mode: str, items: list[WireItem], size: int) -> str:
        """Record, (upload,) create, record the name: in that order, each step durable."""
        job_id = f"ge2-{secrets.token_hex(8)}"
        self.state.record(
            job_id,
            mode=mode,
            model=self.embedder.model,
            dims=size,
            items=[(w.key, w.modality, w.tokens) for w in items],
            cost_usd=sum(_cost(w) for w in items),
        )
        checkpoint("after-record")
        if mode == "file":
            src = types.EmbeddingsBatchJobSource(file_name=self._upload(job_id, items, size))
        else:
            src = types.EmbeddingsBatchJobSource(
                inlined_requests=types.EmbedContentBatch(
                    contents=[w.content() for w in items],
                    config=transport.embed_config(size, items[0].task_type, items[0].title),
                )
            )
        job = self._create(job_id, src)
        self.embedder._meter.add(batch_jobs=1)
        checkpoint("after-create")
        self.state.update(job_id, name=job.name, state=_state_of(job))
        logger.info("batch job %s (%s) submitted: %d items, %s", job.name, job_id, len(items), mode)
        return job_id

    def _upload(self, job_id: str, items: list[WireItem], size: int) -> str:
        """Write the JSONL (one keyed request a line) and upload it; returns ``files/...``."""
        path = self.state.folder / f"{job_id}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for w in items:
                request: dict[str, Any] = {
                    "content": w.content().model_dump(mode="json", exclude_none=True),
                    "output_dimensionality": size,
                }
                if w.task_type:
                    request["task_type"] = w.task_type
                if w.title:
                    request["title"] = w.title
                out.write(json.dumps({"key": w.key, "request": request}) + "\n")
        checkpoint("before-upload")

        def upload() -> types.File:
            with _UploadReader(path) as stream:
                return self.client.files.upload(
                    file=stream,
                    config=types.UploadFileConfig(display_name=job_id, mime_type="jsonl"),
                )

        try:
            uploaded = self._retrying(upload)
        finally:
            path.unlink(missing_ok=True)
        name = str(uploaded.name)
        self.state.update(job_id, file_name=name)
        checkpoint("after-upload")
        return name

    def _create(self, job_id: str, src: types.EmbeddingsBatchJobSource) -> types.BatchJob:
        """Create the job; after a transient failure, look for it by name before retrying."""
        attempt = 0
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "create_embeddings() is experimental"
                    return self.client.batches.create_embeddings(
                        model=self.embedder.model,
                        src=src,
                        config=types.CreateEmbeddingsBatchJobConfig(display_name=job_id),
                    )
            except Exception as exc:
                failure, delay = self.embedder._retry_delay(exc, attempt)
                existing = self._find_remote(job_id) if failure.retryable else None
                if existing is not None:
                    return existing
                if delay < 0:
                    self.state.update(job_id, state=ABANDONED, error=str(failure.error))
                    raise failure.error from exc
                time.sleep(delay)
                attempt += 1

    def _retrying(self, call: Any) -> Any:
        """An idempotent SDK call with the embedder's retry policy (transient errors only)."""
        attempt = 0
        while True:
            try:
                return call()
            except Exception as exc:
                failure, delay = self.embedder._retry_delay(exc, attempt)
                if delay < 0:
                    raise failure.error from exc
                time.sleep(delay)
                attempt += 1

    def _find_remote(self, job_id: str) -> types.BatchJob | None:
        for job in self._retrying(lambda: list(self.client.batches.list())):
            if job.display_name == job_id:
                found: types.BatchJob = job
                return found
        return None

    def resolve_submitting(self) -> None:
        """Jobs recorded but not known to be created: adopt them if the API has them.

        A process killed between ``create`` and recording the job's name leaves such a
        record; the job is found by its display name, so it is polled, not sent again.
        """
        pending = [
            j
            for j in self.state.jobs()
            if j.state == SUBMITTING and not self.state.submitting_elsewhere(j.id)
        ]
        if not pending:
            return
        remote = {
            j.display_name: j for j in self._retrying(lambda: list(self.client.batches.list()))
        }
        for rec in pending:
            job = remote.get(rec.id)
            if job is not None:
                self.state.update(rec.id, name=job.name, state=_state_of(job))
                logger.info("batch job %s (%s) found after an interrupted submit", job.name, rec.id)
            else:
                self.state.update(rec.id, state=ABANDONED, error="never created (interrupted)")
                if rec.file_name:
                    self._delete_file(rec.file_name)

    def _delete_file(self, name: str) -> None:
        try:
            self.client.files.delete(name=name)
        except Exception as exc:  # an orphaned upload expires by itself after 48 h
            logger.debug("could not delete %s: %s", name, exc)

    # -- polling and collecting -----------------------------------------------------------

    def refresh(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """Ask the API about each live job; collect the results of those that succeeded."""
        for rec in self.state.jobs(job_ids):
            if rec.state not in LIVE or rec.name is None:
                continue
            if rec.state != SUCCEEDED:
                name = rec.name
                try:
                    job = self._retrying(lambda name=name: self.client.batches.get(name=name))
                except RequestRejected as exc:
                    if exc.code != 404:
                        raise
                    self.state.update(rec.id, state=FAILED, error=f"not found at the API: {exc}")
                    continue
                state = _state_of(job)
                checkpoint("after-poll")
                if state in ENDED_BADLY:
                    self.state.update(rec.id, state=state, error=_job_error(job, state))
                    logger.warning("batch job %s ended %s", rec.name, state)
                    continue
                if state != rec.state:
                    self.state.update(rec.id, state=state)
                if state != SUCCEEDED:
                    continue
            else:
                name = rec.name
                job = self._retrying(lambda name=name: self.client.batches.get(name=name))
            self._collect(rec, job)
        return self.state.jobs(job_ids)

    def _collect(self, rec: JobRecord, job: types.BatchJob) -> None:
        """Results into the cache, then the items marked: a kill in between re-collects."""
        items = self.state.items(rec.id)
        by_key = {it.key: it for it in items}
        answers: list[tuple[int, Any, Any]] = []  # (seq, values or None, error)
        dest = job.dest
        if rec.mode == "inline":
            responses = (dest.inlined_embed_content_responses if dest else None) or []
            if not responses and dest is not None and dest.inlined_responses:
                # Every item failed: the SDK then uses its generate-content name for them.
                responses = list(dest.inlined_responses)  # type: ignore[arg-type]
            for seq, r in enumerate(responses):
                if seq >= len(items):
                    logger.warning("job %s answered more results than requests", rec.name)
                    break
                answers.append((seq, *_answer_of(r)))
        else:
            if dest is None or not dest.file_name:
                self.state.update(rec.id, state=FAILED, error="succeeded without a results file")
                logger.warning("batch job %s succeeded without a results file", rec.name)
                return
            for row in self._download_lines(dest.file_name):
                key = row.get("key")
                it = by_key.get(str(key))
                if it is None:
                    logger.warning(
                        "job %s: results line with unknown key %r ignored", rec.name, key
                    )
                    continue
                answers.append((it.seq, *_answer_of(row)))
        vectors: dict[str, np.ndarray] = {}
        done: list[int] = []
        failed: dict[int, str] = {}
        for seq, values, error in answers:
            it = items[seq]
            if values:
                vec = np.asarray(values, dtype=np.float32)
                norm = float(np.linalg.norm(vec)) or 1.0
                vectors[it.key] = vec / norm
                done.append(seq)
            else:
                failed[seq] = error or "no embedding in the answer"
        self.cache.put_many(vectors)
        checkpoint("during-collect")
        self.state.finish(
            rec.id,
            done,
            failed,
            missing_error=f"missing from the results of batch job {rec.name}",
        )
        for seq in done:
            self.embedder._meter.embedded_batch(items[seq].modality, items[seq].tokens)
        if failed or len(done) < len(items):
            logger.warning(
                "batch job %s: %d of %d items failed", rec.name, len(items) - len(done), len(items)
            )

    def _download_lines(self, file_name: str) -> Iterable[dict[str, Any]]:
        path = self.state.folder / f"{file_name.replace('/', '_')}.results.jsonl"
        try:
            self._retrying(lambda: self._download_to(file_name, path))
            with open(path, encoding="utf-8") as lines:
                for n, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError:
                        logger.warning("%s line %d is not JSON; skipped", file_name, n)
                        continue
                    if isinstance(row, dict):
                        yield row
        finally:
            path.unlink(missing_ok=True)

    def _download_to(self, file_name: str, path: Path) -> None:
        """Stream a results file to disk (older SDKs without ``destination=``: in memory)."""
        try:
            self.client.files.download(file=file_name, destination=str(path))
        except TypeError:
            path.write_bytes(self.client.files.download(file=file_name))

    def cancel(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """Cancel live jobs at the API; their unfinished items go back to pending."""
        for rec in self.state.jobs(job_ids):
            if rec.state in LIVE and rec.state != SUCCEEDED and rec.name:
                name = rec.name
                self._retrying(lambda name=name: self.client.batches.cancel(name=name))
                self.state.update(rec.id, state=CANCELLED, error="cancelled by the user")
        return self.state.jobs(job_ids)


def _state_of(job: types.BatchJob) -> str:
    raw = getattr(job.state, "value", job.state) or ""
    return _API_STATES.get(str(raw), PENDING)


def _job_error(job: types.BatchJob, state: str) -> str:
    detail = getattr(job, "error", None)
    why = f": {detail.message}" if detail is not None and getattr(detail, "message", None) else ""
    return f"{state}{why}"


def _answer_of(r: Any) -> tuple[list[float] | None, str | None]:
    """(values, None) or (None, why) from an inline response object or a results line."""
    if isinstance(r, dict):
        resp, err = r.get("response"), r.get("error")
        emb = resp.get("embedding") if isinstance(resp, dict) else None
        values = emb.get("values") if isinstance(emb, dict) else None
        why = f"{err.get('code')}: {err.get('message')}" if isinstance(err, dict) else None
        return (list(values) if values else None), why
    err = getattr(r, "error", None)
    if err is not None:
        return None, f"{err.code}: {err.message}"
    resp = getattr(r, "response", None)
    emb = getattr(resp, "embedding", None) if resp is not None else None
    values = getattr(emb, "values", None) if emb is not None else None
    return (list(values) if values else None), None


@dataclass
class BatchOutcome:
    """``BatchJob.outcome()``: by input index, the pieces of the inputs fully embedded,
    why an input failed (one of its items failed, or its job ended badly), and the inputs
    still waiting for a live job."""

    pieces: dict[int, list[Piece]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)


class BatchJob:
    """The Batch API jobs carrying one ``submit_batch`` call's inputs, and its results.

    ``wait()`` polls until every job has ended; ``results()`` returns one vector per input
    in input order (unit norm, split inputs pooled as ``embed`` pools them). Async twins:
    ``await_()``, ``aresults()``, ``apieces()``, ``arefresh()``, ``acancel()``.
    """

    def __init__(
        self,
        runner: BatchRunner,
        plan: _Plan,
        sizes: list[int],
        dimensions: Dimensions | None,
        job_ids: list[str],
    ) -> None:
        self._runner = runner
        self._plan = plan
        self._sizes = sizes
        self._dimensions = dimensions
        #: ge2's ids of the jobs (also their display names at the API).
        self.ids = job_ids

    @property
    def jobs(self) -> list[JobRecord]:
        """The jobs as last seen (no API call)."""
        return self._runner.state.jobs(self.ids)

    @property
    def names(self) -> list[str]:
        """The API's names (``batches/...``) of the jobs created so far."""
        return [j.name for j in self.jobs if j.name]

    @property
    def done(self) -> bool:
        """Whether every job has ended (no API call)."""
        return all(j.state not in LIVE for j in self.jobs)

    @property
    def cost_usd(self) -> float:
        """Estimated price of the submitted items at the batch rate."""
        return sum(j.cost_usd for j in self.jobs)

    @property
    def online_cost_usd(self) -> float:
        """What the same items would cost through ``embed`` (for a summary line)."""
        return sum(j.online_cost_usd for j in self.jobs)

    def __repr__(self) -> str:
        states = ", ".join(f"{j.name or j.id}={j.state}" for j in self.jobs) or "nothing to send"
        return f"BatchJob({len(self._plan.pieces)} inputs: {states})"

    def refresh(self) -> list[JobRecord]:
        """Ask the API once about every live job; collect the finished ones."""
        return self._runner.refresh(self.ids)

    def wait(self, poll: Polling | float | None = None, timeout: float | None = None) -> bool:
        """Poll (backing off) until every job has ended; False if ``timeout`` came first."""
        polling = Polling.of(poll)
        delay = polling.initial
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if self.done:
                return True
            if deadline is not None and time.monotonic() + delay > deadline:
                return False
            time.sleep(delay)
            delay = polling.after(delay)

    def results(self, *, fallback: Fallback = None, poll: Polling | float | None = None) -> Any:
        """One vector per input, in order (a dict by size when several were asked).

        Waits for the jobs first. Items a job could not embed raise ``EmbeddingError``
        (holding every other vector), or are embedded online with ``fallback="online"``;
        a job that failed, expired or was cancelled raises ``BatchJobError`` naming it.
        """
        self.wait(poll)
        return self._assemble(fallback)

    def pieces(
        self, *, fallback: Fallback = None, poll: Polling | float | None = None
    ) -> list[list[Piece]]:
        """One vector per piece, as ``embed_pieces`` returns them (at the first size asked)."""
        self.wait(poll)
        return self._assemble(fallback, pieces=True)  # type: ignore[no-any-return]

    def cancel(self) -> list[JobRecord]:
        """Cancel the live jobs; their items will be sent by the next ``submit_batch``."""
        return self._runner.cancel(self.ids)

    def outcome(self, *, fallback: Fallback = None) -> BatchOutcome:
        """Where each input stands now, without waiting: ready, failed or still in a job.

        For a caller that writes what is ready and leaves the rest for a later run (``ge2
        index --batch``) instead of raising on the first failure as ``results()`` does.
        ``fallback="online"`` first embeds online the items no live job carries any more.
        """
        runner, plan = self._runner, self._plan
        size = self._sizes[0]
        unique = plan.unique()
        found = runner.cache.get_many(unique, max(self._sizes)) if unique else {}
        missing = [k for k in unique if k not in found]
        live = runner.state.live_jobs_for(missing, max(self._sizes)) if missing else {}
        gone = [k for k in missing if k not in live]
        errors: dict[str, str] = {}
        if gone and fallback == "online":
            failed_online: dict[str, APIError] = {}
            found.update(self._online(gone, max(self._sizes), failed_online))
            errors = {k: str(e) for k, e in failed_online.items()}
        elif gone:
            why = runner.state.failures_for(gone)
            default = "not embedded by its batch job; run again to send it again"
            errors = {k: why.get(k, (False, default))[1] for k in gone}
        out = BatchOutcome()
        ready: list[int] = []
        for i, items in enumerate(plan.pieces):
            keys = [w.key for w in items]
            if all(k in found for k in keys):
                ready.append(i)
                continue
            bad = next((errors[k] for k in keys if k in errors), None)
            if bad is not None:
                out.failed[i] = bad
            else:
                out.pending.append(i)
        if ready:
            sub = type(plan)([plan.inputs[i] for i in ready], [plan.pieces[i] for i in ready])
            got = runner.embedder._pieces(sub, found, size)
            for i, pieces in zip(ready, got, strict=True):
                for piece in pieces:
                    piece.index = i
                out.pieces[i] = pieces
        return out

    def close(self) -> None:
        """Release the state file this job's runner holds open (its results stay on disk)."""
        self._runner.close()

    async def arefresh(self) -> list[JobRecord]:
        """Async twin of ``refresh``."""
        return await asyncio.to_thread(self.refresh)

    async def await_(
        self, poll: Polling | float | None = None, timeout: float | None = None
    ) -> bool:
        """Async twin of ``wait``."""
        polling = Polling.of(poll)
        delay = polling.initial
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            await self.arefresh()
            if self.done:
                return True
            if deadline is not None and time.monotonic() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = polling.after(delay)

    async def aresults(
        self, *, fallback: Fallback = None, poll: Polling | float | None = None
    ) -> Any:
        """Async twin of ``results``."""
        await self.await_(poll)
        return await asyncio.to_thread(self._assemble, fallback)

    async def apieces(
        self, *, fallback: Fallback = None, poll: Polling | float | None = None
    ) -> list[list[Piece]]:
        """Async twin of ``pieces``."""
        await self.await_(poll)
        return await asyncio.to_thread(self._assemble, fallback, True)

    async def acancel(self) -> list[JobRecord]:
        """Async twin of ``cancel``."""
        return await asyncio.to_thread(self.cancel)

    def _assemble(self, fallback: Fallback, pieces: bool = False) -> Any:
        runner, plan, emb = self._runner, self._plan, self._runner.embedder
        size = max(self._sizes)
        unique = plan.unique()
        found = runner.cache.get_many(unique, size) if unique else {}
        missing = [k for k in unique if k not in found]
        errors: dict[str, APIError] = {}
        bad_jobs = [j for j in self.jobs if j.state in ENDED_BADLY]
        if missing:
            why = runner.state.failures_for(missing)
            if fallback == "online":
                found.update(self._online(missing, size, errors))
            elif any(why.get(k, (False, ""))[0] for k in missing):
                ended = ", ".join(f"{j.name or j.id} ({j.state})" for j in bad_jobs) or next(
                    why[k][1] for k in missing if why.get(k, (False, ""))[0]
                )
                count = sum(1 for k in missing if why.get(k, (False, ""))[0])
                raise BatchJobError(
                    f"batch job(s) {ended}: {count} items were not embedded and are pending "
                    "again. Fix: call submit_batch() again with the same inputs (only those "
                    "items are sent), or results(fallback='online') to embed them now",
                    jobs=[j.name or j.id for j in bad_jobs],
                )
            else:
                for k in missing:
                    errors[k] = RequestRejected(
                        why.get(k, (False, "not embedded by its batch job"))[1]
                        + "; re-run submit_batch() to send it again, or use "
                        "results(fallback='online')"
                    )
        if errors:
            emb._raise_failures(plan, found, errors)
        if pieces:
            return emb._pieces(plan, found, self._sizes[0])
        return emb._pooled(plan, found, self._sizes, self._dimensions)

    def _online(self, keys: list[str], size: int, errors: dict[str, APIError]) -> dict[str, Any]:
        """Embed the items a batch could not, with the online path (stored in the cache)."""
        runner, emb = self._runner, self._runner.embedder
        unique = self._plan.unique()
        wires = [unique[k] for k in keys]
        sub = type(self._plan)([w.item for w in wires], [[w] for w in wires])
        try:
            got = emb._fetch_sync(sub, size)
        except EmbeddingError as exc:
            got = {}
            for f in exc.failures:
                errors[keys[f.index]] = (
                    f.error if isinstance(f.error, APIError) else APIError(str(f.error))
                )
            for i, vec in enumerate(exc.vectors):
                if vec is not None:
                    got[keys[i]] = np.asarray(vec, dtype=np.float32)
        if runner.cache is not emb.cache:
            runner.cache.put_many(got)
        return got


class BatchJobs:
    """The jobs one state folder holds: list, refresh, cancel (what ``ge2 batch`` shows)."""

    def __init__(self, embedder: Embedder, state_dir: str | os.PathLike[str] | None = None) -> None:
        self._runner = BatchRunner(embedder, state_dir)

    @property
    def state_dir(self) -> Path:
        return self._runner.state.folder

    def list(self) -> list[JobRecord]:
        """Every job, oldest first, as last seen (no API call)."""
        return self._runner.state.jobs()

    def status(self, ids: Sequence[str] | None = None) -> builtins.list[JobRecord]:
        """Ask the API about the live jobs (all, or these ids/names); collect finished ones."""
        self._runner.resolve_submitting()
        wanted = list(ids) if ids else [j.id for j in self._runner.state.jobs()]
        self._check_known(wanted)
        return self._runner.refresh(wanted)

    def cancel(self, ids: Sequence[str] | None = None) -> builtins.list[JobRecord]:
        """Cancel live jobs (all, or these ids/names); their items return to pending."""
        wanted = list(ids) if ids else [j.id for j in self._runner.state.jobs() if j.live]
        self._check_known(wanted)
        return self._runner.cancel(wanted)

    def _check_known(self, ids: Sequence[str]) -> None:
        known = {j.id for j in self._runner.state.jobs()} | {
            j.name for j in self._runner.state.jobs() if j.name
        }
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ConfigurationError(
                f"no batch job {', '.join(unknown)} in {self.state_dir}; `list()` shows the "
                "jobs this folder owns"
            )

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> BatchJobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "BatchJob",
    "BatchJobs",
    "BatchLimits",
    "BatchOutcome",
    "Polling",
    "check_supported",
    "checkpoint",
]
