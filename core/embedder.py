"""``Embedder``: the one place where embedding happens (sync and async twins).

Inputs are checked, split where over the limits, looked up in the cache, packed into
``batchEmbedContents`` calls, sent several at a time at the pace the quota allows, retried
when the failure is transient, and handed back in input order with unit norm at every size.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
from google import genai
from google.genai import types
from tqdm.auto import tqdm

from . import batch, checks, contents, limits, pacing, split, transport
from .cache import EmbeddingCache
from .contents import WireItem
from .errors import (
    APIError,
    ConfigurationError,
    EmbeddingError,
    InputError,
    ItemFailure,
    QuotaExhausted,
    RequestRejected,
)
from .inputs import Input, as_input
from .tasks import normalize_task
from .usage import Usage, UsageMeter

logger = logging.getLogger("ge2")

Vector = list[float]
Dimensions = int | Sequence[int]

#: Upper bound on calls in flight; the limiter starts at 2 and grows while calls succeed
#: and latency holds, so this only caps a fast endpoint. 500 ms calls at 10 calls/s need 6-7
#: in flight; Vertex AI on google-genai 2.x sends one input per call, where 32 still keep
#: ~60 inputs/s moving. A quota= or a 429 sets the pace long before 32 matter.
DEFAULT_MAX_CONCURRENCY = 32
Overflow = Literal["split", "error"]


@dataclass
class Piece:
    """One embedded piece of an input: the (possibly split) input and its vector.

    ``input.provenance`` says where the piece came from (page range, seconds, characters).
    """

    input: Input
    vector: Vector
    index: int

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(getattr(self.input, "provenance", {}) or {})


@dataclass
class _Plan:
    """Inputs turned into wire items: ``pieces[i]`` holds input i's items (several if split)."""

    inputs: list[Input]
    pieces: list[list[WireItem]]
    owners: dict[str, list[int]] = field(default_factory=dict)

    def unique(self) -> dict[str, WireItem]:
        out: dict[str, WireItem] = {}
        for i, items in enumerate(self.pieces):
            for w in items:
                out.setdefault(w.key, w)
                owners = self.owners.setdefault(w.key, [])
                if not owners or owners[-1] != i:
                    owners.append(i)
        return out


def _normalize(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    out: np.ndarray = rows / norms
    return out


_check_dims = checks.check_dimensions


class Embedder:
    """Gemini Embedding 2 for any input ge2 knows: text, images, audio, video, PDF, mixed.

    ``client`` reuses a configured ``google.genai.Client``; otherwise one is built from
    ``api_key`` / ``vertexai`` / ``project`` / ``location`` / ``base_url`` or, when those are
    not given, from the SDK's own environment variables, exactly as the SDK reads them.
    ``cache`` is off by default (a library should not write files unasked): ``True`` uses
    ``~/.cache/ge2/embeddings.sqlite`` (or ``$GE2_CACHE_DIR``), a path uses that file.
    ``quota`` is a ``ge2.Quota`` or a dict of its fields (what a config file holds): a hard
    ceiling, paced evenly. Without it the pace is learned from the server (429s with their
    ``RetryInfo``, and successes), and calls in flight grow up to ``max_concurrency``.
    ``limiter="shared"`` (default) shares what is learned with every Embedder of the same
    credentials and model in the process; ``"private"`` paces alone (a separate project).
    ``credentials`` (google-auth) and ``http_options`` (``types.HttpOptions`` or a dict of its
    fields: headers, api_version, client_args, ...) go to the client ge2 builds; an
    ``http_options.retry_options`` becomes ge2's retry policy (the SDK never retries twice).
    """

    def __init__(
        self,
        model: str = limits.DEFAULT_MODEL,
        dimensions: int = limits.MAX_DIMENSIONS,
        *,
        client: genai.Client | None = None,
        api_key: str | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        base_url: str | None = None,
        credentials: Any = None,
        http_options: types.HttpOptions | Mapping[str, Any] | None = None,
        cache: bool | str | os.PathLike[str] | EmbeddingCache = False,
        batch_size: int = limits.MAX_BATCH_REQUESTS,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        quota: limits.Quota | Mapping[str, Any] | None = None,
        limiter: Literal["shared", "private"] | pacing.Limiter = "shared",
        max_retries: int = 6,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        timeout: float | None = 120.0,
        overflow: Overflow = "split",
        split_options: split.SplitOptions | None = None,
        max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
        progress: bool | None = None,
    ) -> None:
        self.model = model
        self.dimensions = _check_dims(dimensions)
        if not 1 <= batch_size <= limits.MAX_BATCH_REQUESTS:
            raise ConfigurationError(
                f"batch_size={batch_size} must be 1..{limits.MAX_BATCH_REQUESTS} (the API's limit)"
            )
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if overflow not in ("split", "error"):
            raise ConfigurationError("overflow must be 'split' or 'error'")
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.overflow: Overflow = overflow
        self.split_options = split_options or split.SplitOptions()
        self.max_audio_seconds = max_audio_seconds
        self.progress = progress
        http = transport.http_options_dict(http_options)
        self.retry = transport.retry_policy_of(
            http.pop("retry_options", None),
            transport.RetryPolicy(max_retries, retry_base_delay, retry_max_delay),
        )
        self._client_args = {
            "credentials": credentials,
            "http_options": http or None,
            "api_key": api_key,
            "vertexai": vertexai,
            "project": project,
            "location": location,
            "base_url": base_url,
            "timeout_s": timeout,
        }
        self._client = client
        self._client_lock = threading.Lock()
        if isinstance(cache, EmbeddingCache):
            self.cache: EmbeddingCache | None = cache
        elif cache is True:
            self.cache = EmbeddingCache()
        elif cache:
            self.cache = EmbeddingCache(cache)
        else:
            self.cache = None
        if not (isinstance(limiter, pacing.Limiter) or limiter in ("shared", "private")):
            raise ConfigurationError(
                f"limiter={limiter!r}: use 'shared' (one limiter per credentials and model in "
                "this process, the default), 'private' (this Embedder paces alone: for a "
                "separate project's quota) or a ge2.pacing.Limiter to share explicitly"
            )
        self._shared_limiter = limiter == "shared"
        self.pacer = pacing.Pacer(
            limits.Quota.of(quota),
            max_concurrency=max_concurrency,
            limiter=limiter if isinstance(limiter, pacing.Limiter) else None,
        )
        self._meter = UsageMeter()

    # -- configuration -------------------------------------------------------------------

    @property
    def client(self) -> genai.Client:
        """The google-genai client, built on first use so constructing costs nothing."""
        with self._client_lock:
            if self._client is None:
                self._client = transport.make_client(**self._client_args)
            return self._client

    @property
    def vertexai(self) -> bool:
        return transport.is_vertex(self.client)

    @property
    def usage(self) -> Usage:
        """Counters since construction (or ``reset_usage``): requests, items, retries, cost,
        and the pace the limiter learned from the server (``learned_rate``, inputs/s)."""
        snap = self._meter.snapshot()
        if self.pacer.bound:
            limiter = self._limiter()
            rate = limiter.learned_rate
            snap.learned_rate = rate * pacing.LEARNED_HEADROOM if rate else None
            snap.concurrency_limit = limiter.concurrency_limit
        return snap

    def reset_usage(self) -> None:
        self._meter.reset()

    def __repr__(self) -> str:
        cache = f", cache={str(self.cache.path)!r}" if self.cache else ""
        return f"Embedder(model={self.model!r}, dimensions={self.dimensions}{cache})"

    # -- public API ----------------------------------------------------------------------

    @overload
    def embed(
        self, inputs: Iterable[Any], *, task: str | None = ..., dimensions: int | None = ...
    ) -> list[Vector]: ...
    @overload
    def embed(
        self, inputs: Iterable[Any], *, task: str | None = ..., dimensions: Sequence[int]
    ) -> dict[int, list[Vector]]: ...
    def embed(
        self,
        inputs: Iterable[Any],
        *,
        task: str | None = "document",
        dimensions: Dimensions | None = None,
    ) -> list[Vector] | dict[int, list[Vector]]:
        """One vector per input, in input order (several sizes: a dict by size, one API call).

        An input over the model's limits is split and its pieces' vectors mean-pooled
        (``embed_pieces`` returns one vector per piece instead). Raises ``InputError`` before
        sending anything if an input is unusable, and ``EmbeddingError`` (holding every
        vector that did succeed) if some inputs failed at the API.
        """
        inputs = checks.input_list(inputs, "embed")
        plan = self._plan(inputs, task)
        sizes = self._sizes(dimensions)
        fetched = self._fetch_sync(plan, max(sizes))
        return self._pooled(plan, fetched, sizes, dimensions)

    def embed_one(
        self, item: Any, *, task: str | None = "document", dimensions: int | None = None
    ) -> Vector:
        """The vector of a single input."""
        return self.embed([item], task=task, dimensions=dimensions)[0]

    def embed_pieces(
        self, inputs: Iterable[Any], *, task: str | None = "document", dimensions: int | None = None
    ) -> list[list[Piece]]:
        """One vector per piece: ``result[i]`` lists input i's pieces with their provenance."""
        inputs = checks.input_list(inputs, "embed_pieces")
        plan = self._plan(inputs, task)
        size = self._sizes(dimensions)[0] if dimensions is None else _check_dims(dimensions)
        fetched = self._fetch_sync(plan, size)
        return self._pieces(plan, fetched, size)

    async def aembed(
        self,
        inputs: Iterable[Any],
        *,
        task: str | None = "document",
        dimensions: Dimensions | None = None,
    ) -> Any:
        """Async twin of ``embed``."""
        inputs = checks.input_list(inputs, "aembed")
        plan = await asyncio.to_thread(self._plan, inputs, task)
        sizes = self._sizes(dimensions)
        fetched = await self._fetch_async(plan, max(sizes))
        return self._pooled(plan, fetched, sizes, dimensions)

    async def aembed_one(
        self, item: Any, *, task: str | None = "document", dimensions: int | None = None
    ) -> Vector:
        """Async twin of ``embed_one``."""
        result = await self.aembed([item], task=task, dimensions=dimensions)
        return list(result[0])

    async def aembed_pieces(
        self, inputs: Iterable[Any], *, task: str | None = "document", dimensions: int | None = None
    ) -> list[list[Piece]]:
        """Async twin of ``embed_pieces``."""
        inputs = checks.input_list(inputs, "aembed_pieces")
        plan = await asyncio.to_thread(self._plan, inputs, task)
        size = self._sizes(dimensions)[0] if dimensions is None else _check_dims(dimensions)
        fetched = await self._fetch_async(plan, size)
        return self._pieces(plan, fetched, size)

    def check(
        self, inputs: Iterable[Any], *, task: str | None = "document"
    ) -> list[InputError | None]:
        """What ``embed`` would refuse, per input, without sending anything.

        ``result[i]`` is the ``InputError`` input i would raise (``index=i``), or None when
        it is fine, so a caller can set the bad inputs aside and embed the rest in one call
        instead of retrying after each refusal. Costs one planning pass (files are read).
        """
        inputs = checks.input_list(inputs, "check")
        name = normalize_task(task)
        vertex = self.vertexai
        out: list[InputError | None] = []
        for index, raw in enumerate(inputs):
            try:
                self._plan_one(index, raw, name, vertex)
            except InputError as exc:
                out.append(exc)
            else:
                out.append(None)
        return out

    def close(self) -> None:
        """Release the cache file handle (the SDK client is the caller's or garbage-collected)."""
        if self.cache is not None:
            self.cache.close()

    # -- planning ------------------------------------------------------------------------

    def _sizes(self, dimensions: Dimensions | None) -> list[int]:
        if dimensions is None:
            return [self.dimensions]
        return checks.dimension_sizes(dimensions)

    def _plan(self, inputs: Iterable[Any], task: str | None) -> _Plan:
        """Check every input and turn it into wire items; raises before anything is sent."""
        task = normalize_task(task)
        vertex = self.vertexai
        items: list[Input] = []
        pieces: list[list[WireItem]] = []
        for index, raw in enumerate(inputs):
            item, wire = self._plan_one(index, raw, task, vertex)
            items.append(item)
            pieces.append(wire)
        return _Plan(items, pieces)

    def _plan_one(
        self, index: int, raw: Any, task: str, vertex: bool
    ) -> tuple[Input, list[WireItem]]:
        """One input checked (and split where allowed) into its wire items."""
        try:
            item = split.canonical(as_input(raw))
        except InputError as exc:
            raise InputError(exc.problem, index=index, item=exc.item, fix=exc.fix) from exc
        m = checks.measure(item, index, vertexai=vertex, max_audio_seconds=self.max_audio_seconds)
        parts: list[tuple[Input, int]] = [(item, m.tokens)]
        if m.over:
            if self.overflow == "error":
                raise InputError(
                    "over the model's limits: " + "; ".join(m.over),
                    index=index,
                    item=item.label,
                    fix="shorten it, or use overflow='split' to embed it in pieces",
                    over_limit=True,
                )
            parts = []
            try:
                cut = split.split(
                    item, self.split_options, max_audio_seconds=self.max_audio_seconds
                )
            except InputError as exc:
                raise InputError(exc.problem, index=index, item=exc.item, fix=exc.fix) from exc
            for piece in cut:
                pm = checks.measure(
                    piece, index, vertexai=vertex, max_audio_seconds=self.max_audio_seconds
                )
                if pm.over:
                    raise InputError(
                        "still over the limits after splitting: " + "; ".join(pm.over),
                        index=index,
                        item=piece.label,
                        fix="split this input yourself into smaller pieces",
                        over_limit=True,
                    )
                parts.append((piece, pm.tokens))
            logger.info("input #%d (%s) split into %d pieces", index, item.label, len(parts))
        wire = [
            contents.build(p, model=self.model, task=task, vertexai=vertex, tokens=t)
            for p, t in parts
        ]
        return item, wire

    def _batches(self, todo: list[WireItem]) -> list[list[WireItem]]:
        """Pack items into calls bounded by count and bytes; one call per task/title group."""
        per_call = self.batch_size
        if self.vertexai and not transport.vertex_batches_supported():
            per_call = 1  # google-genai 2.x: one content per Vertex call; concurrency carries it
        groups: dict[tuple[str | None, str | None], list[WireItem]] = {}
        for w in todo:
            groups.setdefault(w.group, []).append(w)
        batches: list[list[WireItem]] = []
        for group in groups.values():
            current: list[WireItem] = []
            size = 0
            for w in group:
                if current and (
                    len(current) >= per_call or size + w.nbytes > limits.PACK_REQUEST_BYTES
                ):
                    batches.append(current)
                    current, size = [], 0
                current.append(w)
                size += w.nbytes
            if current:
                batches.append(current)
        return batches

    def _lookup(self, plan: _Plan, size: int) -> tuple[dict[str, np.ndarray], list[WireItem]]:
        unique = plan.unique()
        found: dict[str, np.ndarray] = {}
        if self.cache is not None and unique:
            found = self.cache.get_many(unique, size)
            if found:
                self._meter.add(cache_hits=len(found))
        return found, [w for k, w in unique.items() if k not in found]

    def _progress_bar(self, total: int) -> Any:
        enabled = self.progress
        if enabled is None:
            enabled = total > self.batch_size and sys.stderr.isatty()
        return tqdm(total=total, unit="item", desc="ge2 embed", disable=not enabled, leave=False)

    # -- sending -------------------------------------------------------------------------

    def _call(self, batch: list[WireItem], size: int) -> list[list[float]]:
        cfg = transport.embed_config(size, batch[0].task_type, batch[0].title)
        response = self.client.models.embed_content(
            model=self.model, contents=[w.content() for w in batch], config=cfg
        )
        return transport.vectors_of(response, len(batch))

    async def _acall(self, batch: list[WireItem], size: int) -> list[list[float]]:
        cfg = transport.embed_config(size, batch[0].task_type, batch[0].title)
        body = await asyncio.to_thread(lambda: [w.content() for w in batch])
        response = await self.client.aio.models.embed_content(
            model=self.model, contents=body, config=cfg
        )
        return transport.vectors_of(response, len(batch))

    def _limiter(self) -> pacing.Limiter:
        """The limiter this Embedder sends through (shared per credentials and model)."""
        if self._shared_limiter:
            return self.pacer.bind(
                lambda: pacing.shared_limiter(transport.limiter_key(self.client, self.model))
            )
        return self.pacer.limiter

    def _retry_delay(self, exc: BaseException, attempt: int) -> tuple[transport.Failure, float]:
        """For calls that embed nothing (Batch API jobs, files): the retry policy only, so
        they never teach the embedding limiter a rate. The delay, or -1 to give up."""
        failure = transport.classify(exc)
        if not failure.retryable or attempt >= self.retry.max_retries:
            return failure, -1.0
        self._meter.add(retries=1)
        return failure, self.retry.delay(attempt, failure)

    def _after_failure(
        self, exc: BaseException, attempt: int, ticket: pacing.Ticket
    ) -> tuple[transport.Failure, float]:
        """Classify a failure and tell the limiter; the delay before the next try, or -1."""
        failure = transport.classify(exc)
        limiter = self._limiter()
        if failure.rate_limited:
            self._meter.add(rate_limited=1)
            limiter.rate_limited(ticket, failure.delay, per_day=failure.per_day)
        elif (outage := limiter.failed(ticket, failure.error, server=failure.server)) is not None:
            # The breaker is open: stop; this batch and the rest fail with the one outage.
            return dataclasses.replace(failure, error=outage, retryable=False), -1.0
        if not failure.retryable or attempt >= self.retry.max_retries:
            return failure, -1.0
        wait = self.retry.delay(attempt, failure)
        self._meter.add(retries=1)
        limiter.note_retry(transport.describe_retry(failure, attempt, self.retry.max_retries, wait))
        if failure.rate_limited:
            # The limiter already holds every caller back until the server's retryDelay;
            # the retry books its slot on the shared schedule like any call.
            limiter.back_off(wait)
            return failure, 0.0
        return failure, wait

    def _accept(
        self, batch: list[WireItem], rows: list[list[float]], out: dict[str, np.ndarray]
    ) -> None:
        vecs = _normalize(np.asarray(rows, dtype=np.float32))
        got = {w.key: vecs[i] for i, w in enumerate(batch)}
        if self.cache is not None:
            self.cache.put_many(got)
        for w in batch:
            self._meter.embedded(w.modality, w.tokens)
        out.update(got)

    def _refused(
        self, batch: list[WireItem], errors: dict[str, APIError], stop: threading.Event
    ) -> bool | float:
        """Whether ``batch`` must not go (a daily quota hit, or the service is down), or
        seconds to wait before asking again (a trial call is testing the service)."""
        if stop.is_set():
            for w in batch:
                errors[w.key] = QuotaExhausted(
                    "not sent: an earlier call hit a quota that waiting will not clear"
                )
            return True
        verdict = self._limiter().admit()
        if isinstance(verdict, float):
            return verdict
        if verdict is not None:
            self._give_up(batch, verdict, stop, errors, lambda _: None)
            return True
        return False

    def _begin(self, batch: list[WireItem]) -> float:
        """Book the next try of ``batch``: seconds to wait before sending it."""
        self._meter.add(requests=1)
        return self.pacer.reserve(len(batch), sum(w.tokens for w in batch))

    def _failed(
        self,
        exc: BaseException,
        attempt: int,
        batch: list[WireItem],
        errors: dict[str, APIError],
        stop: threading.Event,
        ticket: pacing.Ticket,
    ) -> float | list[list[WireItem]]:
        """After a failed try: seconds before retrying, or the single-item calls to send."""
        try:
            failure, delay = self._after_failure(exc, attempt, ticket)
        except BaseException:
            self._limiter().abandoned(ticket)
            raise
        if delay >= 0:
            return delay
        singles: list[list[WireItem]] = []
        self._give_up(batch, failure.error, stop, errors, singles.append)
        return singles

    def _send_sync(
        self,
        batch: list[WireItem],
        size: int,
        out: dict[str, np.ndarray],
        errors: dict[str, APIError],
        stop: threading.Event,
    ) -> None:
        limiter = self._limiter()
        attempt = 0
        while True:
            if refusal := self._refused(batch, errors, stop):
                if refusal is True:
                    return
                time.sleep(refusal)
                continue
            limiter.acquire()
            try:
                time.sleep(self._begin(batch))
                while isinstance(ticket := limiter.depart(len(batch)), float):
                    time.sleep(ticket)
                try:
                    rows = self._call(batch, size)
                except Exception as exc:
                    outcome = self._failed(exc, attempt, batch, errors, stop, ticket)
                else:
                    limiter.succeeded(ticket)
                    self._accept(batch, rows, out)
                    return
            finally:
                limiter.release()
            if isinstance(outcome, float):
                time.sleep(outcome)
                attempt += 1
                continue
            for single in outcome:
                self._send_sync(single, size, out, errors, stop)
            return

    async def _send_async(
        self,
        batch: list[WireItem],
        size: int,
        out: dict[str, np.ndarray],
        errors: dict[str, APIError],
        stop: threading.Event,
    ) -> None:
        limiter = self._limiter()
        attempt = 0
        while True:
            if refusal := self._refused(batch, errors, stop):
                if refusal is True:
                    return
                await asyncio.sleep(refusal)
                continue
            await limiter.aacquire()
            try:
                await asyncio.sleep(self._begin(batch))
                while isinstance(ticket := limiter.depart(len(batch)), float):
                    await asyncio.sleep(ticket)
                try:
                    rows = await self._acall(batch, size)
                except asyncio.CancelledError:
                    limiter.abandoned(ticket)
                    raise
                except Exception as exc:
                    outcome = self._failed(exc, attempt, batch, errors, stop, ticket)
                else:
                    limiter.succeeded(ticket)
                    self._accept(batch, rows, out)
                    return
            finally:
                limiter.release()
            if isinstance(outcome, float):
                await asyncio.sleep(outcome)
                attempt += 1
                continue
            for single in outcome:
                await self._send_async(single, size, out, errors, stop)
            return

    def _give_up(
        self,
        batch: list[WireItem],
        error: APIError,
        stop: threading.Event,
        errors: dict[str, APIError],
        resend: Callable[[list[WireItem]], Any],
    ) -> None:
        """Record a final failure; a rejected multi-item call is retried item by item.

        One bad item in a call of 100 makes the API reject all 100; re-sending them singly
        finds the bad one and keeps the other 99.
        """
        if isinstance(error, RequestRejected) and len(batch) > 1 and error.code == 400:
            for w in batch:
                resend([w])
            return
        if isinstance(error, QuotaExhausted) or error.code in (401, 403):
            stop.set()
        for w in batch:
            self._meter.add(failures=1)
            errors[w.key] = error

    def _fetch_sync(self, plan: _Plan, size: int) -> dict[str, np.ndarray]:
        found, todo = self._lookup(plan, size)
        if todo:
            errors: dict[str, APIError] = {}
            stop = threading.Event()
            batches = self._batches(todo)
            bar = self._progress_bar(len(todo))
            try:
                with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
                    futures = [
                        pool.submit(self._send_sync, b, size, found, errors, stop) for b in batches
                    ]
                    for fut, b in zip(futures, batches, strict=True):
                        fut.result()
                        bar.update(len(b))
            finally:
                bar.close()
            self._raise_failures(plan, found, errors)
        return found

    async def _fetch_async(self, plan: _Plan, size: int) -> dict[str, np.ndarray]:
        found, todo = await asyncio.to_thread(self._lookup, plan, size)
        if todo:
            errors: dict[str, APIError] = {}
            stop = threading.Event()
            gate = asyncio.Semaphore(self.max_concurrency)
            bar = self._progress_bar(len(todo))

            async def run(batch: list[WireItem]) -> None:
                async with gate:
                    await self._send_async(batch, size, found, errors, stop)
                bar.update(len(batch))

            try:
                await asyncio.gather(*(run(b) for b in self._batches(todo)))
            finally:
                bar.close()
            self._raise_failures(plan, found, errors)
        return found

    # -- results -------------------------------------------------------------------------

    def _raise_failures(
        self, plan: _Plan, found: dict[str, np.ndarray], errors: dict[str, APIError]
    ) -> None:
        if not errors:
            return
        failures: list[ItemFailure] = []
        for i, items in enumerate(plan.pieces):
            for w in items:
                if w.key in errors:
                    failures.append(ItemFailure(i, errors[w.key], plan.inputs[i].label))
                    break
        vectors: list[Vector | None] = []
        pieces: list[list[Piece] | None] = []
        failed = {f.index for f in failures}
        for i, items in enumerate(plan.pieces):
            if i in failed:
                vectors.append(None)
                pieces.append(None)
            else:
                stacked = np.stack([found[w.key] for w in items])
                vectors.append(_normalize(stacked.mean(axis=0)[None, :])[0].tolist())
                pieces.append(
                    [Piece(w.item, v.tolist(), i) for w, v in zip(items, stacked, strict=True)]
                )
        raise EmbeddingError(vectors, failures, pieces)

    def _pooled(
        self,
        plan: _Plan,
        fetched: dict[str, np.ndarray],
        sizes: list[int],
        dimensions: Dimensions | None,
    ) -> list[Vector] | dict[int, list[Vector]]:
        full_size = max(sizes)
        full = np.zeros((len(plan.pieces), full_size), dtype=np.float32)
        # One piece per input (the common case): one vectorised copy, not one numpy call each.
        single = [i for i, items in enumerate(plan.pieces) if len(items) == 1]
        if single:
            full[single] = np.stack([fetched[plan.pieces[i][0].key][:full_size] for i in single])
        for i, items in enumerate(plan.pieces):
            if len(items) > 1:
                stacked = np.stack([fetched[w.key][:full_size] for w in items])
                full[i] = _normalize(stacked).mean(axis=0)
        by_size: dict[int, list[Vector]] = {d: _normalize(full[:, :d]).tolist() for d in sizes}
        if dimensions is None or isinstance(dimensions, int | np.integer):
            return by_size[sizes[0]]
        return by_size

    def _pieces(self, plan: _Plan, fetched: dict[str, np.ndarray], size: int) -> list[list[Piece]]:
        out: list[list[Piece]] = []
        for i, items in enumerate(plan.pieces):
            vecs = _normalize(np.stack([fetched[w.key][:size] for w in items]))
            out.append([Piece(w.item, v.tolist(), i) for w, v in zip(items, vecs, strict=True)])
        return out

    # -- Batch API (ge2.batch) -----------------------------------------------------------

    def submit_batch(
        self,
        inputs: Iterable[Any],
        *,
        task: str | None = "document",
        dimensions: Dimensions | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        limits: batch.BatchLimits | None = None,
        resend_failed: bool = True,
    ) -> batch.BatchJob:
        """Send what ``embed`` would send as Gemini Batch API jobs (about half the price).

        Returns at once with a ``BatchJob``: ``.wait()`` then ``.results()`` (same shape as
        ``embed``). Job state lives in ``state_dir`` (default beside the cache) before
        anything is sent, so calling again with the same inputs after a crash resumes the
        same jobs and sends nothing twice. Items an earlier job failed are sent again,
        unless ``resend_failed=False`` (they are then left for ``fallback="online"``).
        Gemini Developer API only.
        """
        runner = batch.BatchRunner(self, state_dir, limits)
        return runner.submit(inputs, task, dimensions, resend_failed)

    async def asubmit_batch(
        self,
        inputs: Iterable[Any],
        *,
        task: str | None = "document",
        dimensions: Dimensions | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        limits: batch.BatchLimits | None = None,
        resend_failed: bool = True,
    ) -> batch.BatchJob:
        """Async twin of ``submit_batch``."""
        return await asyncio.to_thread(
            self.submit_batch,
            inputs,
            task=task,
            dimensions=dimensions,
            state_dir=state_dir,
            limits=limits,
            resend_failed=resend_failed,
        )
