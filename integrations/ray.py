"""Gemini Embedding 2 on Ray Data: a split stage on every CPU, embedding actors sized to the
quota, one quota for the whole cluster, and a writer for the ``ge2`` store.

- :class:`SplitPieces` (for ``ds.flat_map``) turns each row's item (text, or a file's path
  or bytes) into in-limit pieces, one row each with its provenance: the CPU-heavy decode and
  cut of long video, audio and PDFs spreads over the cluster.
- :class:`GE2Embed` (for ``ds.map_batches`` with an actor pool) holds one ``ge2.Embedder``
  per actor and adds an ``embedding`` column. Batching, retries, 429 back-off and the cache
  stay in the core; what Ray adds is that every actor paces through ONE limiter, a named
  actor (:func:`quota_actor`), so N actors together stay under the tier's rate, whether the
  rate is given (``quota=``) or learned from the server.
- :func:`embed` wires both for the common case; :func:`write_store` streams the result into
  a folder that ``ge2 search --store`` (and LanceDB) open.

Ray's own fault tolerance re-runs a lost batch (actor restarts, task retries); with a
shared cache the re-run costs no API calls for what already came back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ge2
from ge2 import pacing

try:
    import ray
    import ray.data
except ImportError as exc:  # pragma: no cover - exercised with the import simulated away
    raise ge2.MissingExtraError("ray[data]", "ray") from exc

#: Provenance columns a piece row carries (None where they do not apply).
PROVENANCE = (
    "piece",
    "pieces",
    "page_start",
    "page_end",
    "start_s",
    "end_s",
    "char_start",
    "char_end",
)
_NAMESPACE = "ge2"
_USAGE_COUNTS = ("requests", "items", "retries", "rate_limited", "cache_hits", "failures")
_USAGE_COUNTS += ("tokens", "cost_usd")
_PIECE_COLUMNS = ("piece_text", "piece_bytes", "piece_uri", "piece_mime")


# -- one quota for the cluster --------------------------------------------------------------


class _QuotaKeeper:
    """The cluster's pacing state: a core ``Limiter`` in one actor, on the actor's clock.

    It holds the calls in flight too (slots), so slow start is cluster-wide: N actors
    begin with the limiter's initial few calls between them, not N times as many (a first
    burst over the quota would teach the limiter a rate far below it).
    """

    def __init__(self, quota: Mapping[str, Any] | None) -> None:
        self.quota = ge2.Quota.of(dict(quota)) if quota else None
        self.limiter = pacing.Limiter(max_concurrency=1 << 16)
        self.limiter.attach(1 << 16, self.quota)  # a given quota paces: no slow start
        self.tickets: dict[int, pacing.Ticket] = {}
        self.next_id = 0
        self.slots: dict[int, float] = {}  # slot id -> when taken (a dead actor's expire)
        self.next_slot = 0

    def try_acquire(self) -> int | None:
        """A slot for one call in flight (its id), or None when the window is full."""
        import time

        now = time.monotonic()
        for sid in [k for k, t in self.slots.items() if now - t > pacing.HISTORY_S]:
            del self.slots[sid]  # held longer than any call lives: its actor died
        if len(self.slots) >= self.limiter.concurrency_limit:
            return None
        self.next_slot += 1
        self.slots[self.next_slot] = now
        return self.next_slot

    def release(self, slot: int) -> None:
        self.slots.pop(slot, None)
        self.usage: dict[str, dict[str, Any]] = {}

    def reserve(self, units: int, tokens: int) -> float:
        return self.limiter.reserve(units, tokens, self.quota)

    def back_off(self, seconds: float) -> None:
        self.limiter.back_off(seconds)

    def depart(self, units: int) -> int | float:
        got = self.limiter.depart(units)
        if isinstance(got, float):
            return got
        self.next_id += 1
        self.tickets[self.next_id] = got
        return self.next_id

    def succeeded(self, tid: int) -> None:
        if (t := self.tickets.pop(tid, None)) is not None:
            self.limiter.succeeded(t)

    def rate_limited(self, tid: int, delay: float, per_day: bool) -> None:
        if (t := self.tickets.pop(tid, None)) is not None:
            self.limiter.rate_limited(t, delay, per_day=per_day)

    def forget(self, tid: int) -> None:
        if (t := self.tickets.pop(tid, None)) is not None:
            self.limiter.abandoned(t)

    def stats(self) -> dict[str, Any]:
        return {"learned_rate": self.limiter.learned_rate, "rejections": self.limiter.rejections}

    def add_usage(self, run: str, delta: dict[str, Any]) -> None:
        """Sum one batch's API usage into run ``run`` (so a job can report its whole cost)."""
        total = self.usage.setdefault(run, {"by_modality": {}})
        for k, v in delta.items():
            if k == "by_modality":
                for mod, n in v.items():
                    total["by_modality"][mod] = total["by_modality"].get(mod, 0) + n
            else:
                total[k] = total.get(k, 0) + v

    def pop_usage(self, run: str) -> dict[str, Any]:
        return self.usage.pop(run, {"by_modality": {}})


def quota_actor(name: str = "quota", quota: Mapping[str, Any] | ge2.Quota | None = None) -> Any:
    """The named actor holding the cluster's pacing for ``name`` (created on first use)."""
    if isinstance(quota, ge2.Quota):
        quota = {k: v for k, v in vars(quota).items() if v is not None}
    keeper = ray.remote(num_cpus=0, max_concurrency=64)(_QuotaKeeper)
    # Detached: it outlives the worker that happened to create it (actor pools scale down),
    # and lives as long as the cluster; the name is the key every process finds it by.
    return keeper.options(
        name=f"ge2-quota-{name}", namespace=_NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(quota)


class ClusterLimiter(pacing.Limiter):
    """A core ``Limiter`` whose pace (booked schedule, learned rate, 429 back-off) lives in
    the cluster's quota actor; calls in flight and the outage breaker stay per process."""

    def __init__(self, actor: Any, max_concurrency: int = 16) -> None:
        super().__init__(max_concurrency=max_concurrency)
        self.actor = actor
        self._held: list[int] = []  # this process's cluster slots (fungible)

    def acquire(self) -> None:
        """A local slot (this process's cap), then one of the cluster's (its window)."""
        import time

        super().acquire()
        delay = 0.005
        try:
            while (slot := ray.get(self.actor.try_acquire.remote())) is None:
                time.sleep(delay)
                delay = min(0.1, delay * 2)
        except BaseException:
            super().release()
            raise
        with self._lock:
            self._held.append(slot)

    async def aacquire(self) -> None:
        import asyncio

        await asyncio.to_thread(self.acquire)

    def release(self) -> None:
        with self._lock:
            slot = self._held.pop() if self._held else None
        if slot is not None:
            self.actor.release.remote(slot)
        super().release()

    def reserve(self, units: int, tokens: int = 0, quota: ge2.Quota | None = None) -> float:
        return float(ray.get(self.actor.reserve.remote(units, tokens)))

    def back_off(self, seconds: float) -> None:
        self.actor.back_off.remote(seconds)

    def depart(self, units: int) -> pacing.Ticket | float:
        got = ray.get(self.actor.depart.remote(units))
        if isinstance(got, float):
            return got
        ticket = super().depart(units)  # local: latency and calls in flight
        assert isinstance(ticket, pacing.Ticket)
        ticket.remote_id = got  # type: ignore[attr-defined]
        return ticket

    def succeeded(self, ticket: pacing.Ticket) -> None:
        self.actor.succeeded.remote(getattr(ticket, "remote_id", -1))
        super().succeeded(ticket)

    def rate_limited(self, ticket: pacing.Ticket, delay: float, *, per_day: bool = False) -> None:
        self.actor.rate_limited.remote(getattr(ticket, "remote_id", -1), delay, per_day)
        with self._lock:
            self._open.pop(id(ticket), None)
            self._slow_start = False
            self.rejections += 1

    def abandoned(self, ticket: pacing.Ticket) -> None:
        self.actor.forget.remote(getattr(ticket, "remote_id", -1))
        super().abandoned(ticket)

    def failed(self, ticket: pacing.Ticket, error: Any, *, server: bool) -> Any:
        self.actor.forget.remote(getattr(ticket, "remote_id", -1))
        return super().failed(ticket, error, server=server)


# -- rows <-> ge2 inputs -------------------------------------------------------------------


def _item(value: Any, kind: str) -> ge2.Input:
    """A row's value as a ge2 input: ``kind="text"`` reads str as text, ``"file"`` as a path
    or URI; bytes are always a file's content."""
    if isinstance(value, ge2.Text | ge2.Media | ge2.Mixed):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return ge2.load(bytes(value))
    if isinstance(value, str):
        return ge2.load(value) if kind == "file" else ge2.Text(value)
    raise ge2.InputError(
        f"cannot embed a {type(value).__name__}",
        fix="a column of str (text, or paths with kind='file') or bytes",
    )


def _piece_columns(piece: ge2.Input) -> dict[str, Any]:
    """A piece as plain columns Ray can move between nodes (bytes, not temp-file paths)."""
    prov = dict(getattr(piece, "provenance", {}) or {})
    out: dict[str, Any] = {k: prov.get(k) for k in PROVENANCE}
    if isinstance(piece, ge2.Text):
        out.update(piece_text=piece.text, piece_bytes=None, piece_uri=None, piece_mime="text/plain")
    elif isinstance(piece, ge2.Media) and piece.uri is not None:
        # A remote URI is sent as the URI (the API fetches it): there are no bytes to move.
        out.update(piece_text=None, piece_bytes=None, piece_uri=piece.uri, piece_mime=piece.mime)
    elif isinstance(piece, ge2.Media):
        out.update(piece_text=None, piece_bytes=piece.read(), piece_uri=None, piece_mime=piece.mime)
    else:
        raise ge2.InputError("a mixed input cannot be split on Ray", fix="split it yourself")
    return out


def _from_columns(row: Mapping[str, Any]) -> ge2.Input:
    from ge2.inputs import media_class

    if not _missing(row.get("piece_text")):
        return ge2.Text(str(row["piece_text"]))
    cls = media_class(str(row["piece_mime"]))
    if cls is None:
        raise ge2.InputError(f"unsupported piece type {row['piece_mime']}")
    if not _missing(row.get("piece_uri")):
        return cls(str(row["piece_uri"]), str(row["piece_mime"]))
    return cls(bytes(row["piece_bytes"]), str(row["piece_mime"]))


class SplitPieces:
    """``ds.flat_map(SplitPieces(column))``: one row per in-limit piece of each item.

    An item that cannot be read or split keeps one row with ``piece_error`` set (and no
    piece), so one bad file never fails the job and is reported, not lost.
    """

    def __init__(
        self, column: str = "item", *, kind: str = "text", options: ge2.SplitOptions | None = None
    ) -> None:
        if kind not in ("text", "file"):
            raise ge2.ConfigurationError("kind must be 'text' or 'file'")
        self.column, self.kind, self.options = column, kind, options

    def __call__(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        from ge2.checks import measure
        from ge2.split import canonical, split

        try:
            item = canonical(_item(row[self.column], self.kind))
            if measure(item, None, vertexai=False).over:
                pieces = split(item, self.options)
            else:
                pieces = [item]
            out = []
            for i, piece in enumerate(pieces):
                cols = _piece_columns(piece)
                cols["piece"], cols["pieces"] = i, len(pieces)
                out.append({**row, **cols, "piece_error": None})
            return out
        except (ge2.InputError, OSError) as exc:
            empty = dict.fromkeys(PROVENANCE)
            return [
                {
                    **row,
                    **empty,
                    "piece_text": None,
                    "piece_bytes": None,
                    "piece_uri": None,
                    "piece_mime": None,
                    "piece_error": str(exc),
                }
            ]


class GE2Embed:
    """``ds.map_batches(GE2Embed, fn_constructor_kwargs={...}, concurrency=N)``.

    Embeds ``column`` (or the piece columns :class:`SplitPieces` wrote) into
    ``output_column`` with ``task``. All actors of one ``quota_name`` pace together.
    Bad input gives a null vector and ``embedding_error``; an API failure that survives the
    core's retries raises, so Ray retries the batch (free from the cache where it got far).
    """

    def __init__(
        self,
        column: str = "item",
        *,
        kind: str = "text",
        task: str = "document",
        dimensions: int = 768,
        quota: Mapping[str, Any] | ge2.Quota | None = None,
        quota_name: str = "quota",
        output_column: str = "embedding",
        max_concurrency: int = 16,
        usage_run: str | None = None,
        **embedder_options: Any,
    ) -> None:
        self.column, self.kind, self.task = column, kind, task
        self.output_column = output_column
        self.usage_run = usage_run
        self._usage_lock = threading.Lock()  # batches run on several threads of the actor
        self._last_usage: dict[str, Any] = {}
        self.keeper = quota_actor(quota_name, quota)
        self.limiter = ClusterLimiter(self.keeper, max_concurrency)
        given = ge2.Quota.of(dict(quota) if isinstance(quota, Mapping) else quota)
        self.embedder = ge2.Embedder(
            dimensions=dimensions,
            quota=given,
            limiter=self.limiter,
            max_concurrency=max_concurrency,
            progress=False,
            **embedder_options,
        )

    def _inputs(self, batch: Mapping[str, Any], n: int) -> tuple[list[Any], list[str | None]]:
        inputs: list[Any] = []
        errors: list[str | None] = []
        pieces = "piece_mime" in batch
        for i in range(n):
            if pieces:
                row = {k: batch[k][i] for k in _PIECE_COLUMNS if k in batch}
                err = batch.get("piece_error", [None] * n)[i]
                if not _missing(err) or _missing(row["piece_mime"]):
                    inputs.append(None)
                    errors.append(str(err) if not _missing(err) else "no piece")
                    continue
                inputs.append(_from_columns(row))
            else:
                try:
                    inputs.append(_item(batch[self.column][i], self.kind))
                except ge2.InputError as exc:
                    inputs.append(None)
                    errors.append(str(exc))
                    continue
            errors.append(None)
        return inputs, errors

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        n = len(next(iter(batch.values()))) if batch else 0
        inputs, errors = self._inputs(batch, n)
        todo = [i for i in range(n) if inputs[i] is not None]
        checked = self.embedder.check([inputs[i] for i in todo], task=self.task)
        for i, problem in zip(todo, checked, strict=True):
            if problem is not None:
                errors[i], inputs[i] = str(problem), None
        todo = [i for i in range(n) if inputs[i] is not None]
        vectors = self.embedder.embed([inputs[i] for i in todo], task=self.task) if todo else []
        out: list[Any] = [None] * n
        for i, v in zip(todo, vectors, strict=True):
            out[i] = np.asarray(v, dtype=np.float32)
        result = {k: v for k, v in batch.items() if k != "piece_bytes"}
        result[self.output_column] = out
        result["embedding_error"] = errors
        if self.usage_run is not None:
            self._report_usage()
        return result

    def _report_usage(self) -> None:
        """Send this actor's usage since its last report to the quota actor (the job's tally)."""
        with self._usage_lock:
            now = self.embedder.usage.as_dict()
            last, self._last_usage = self._last_usage, now
        delta: dict[str, Any] = {k: now[k] - last.get(k, 0) for k in _USAGE_COUNTS}
        delta["by_modality"] = {
            m: n - last.get("by_modality", {}).get(m, 0) for m, n in now["by_modality"].items()
        }
        ray.get(self.keeper.add_usage.remote(self.usage_run, delta))


def embed(
    ds: Any,
    column: str = "item",
    *,
    kind: str = "text",
    task: str = "document",
    dimensions: int = 768,
    quota: Mapping[str, Any] | ge2.Quota | None = None,
    concurrency: int = 2,
    batch_size: int = 100,
    calls_per_actor: int = 4,
    split: bool = True,
    quota_name: str = "quota",
    **embedder_options: Any,
) -> Any:
    """``ds`` with an ``embedding`` column (and one row per piece where items were split).

    The split stage runs as tasks on every CPU; embedding runs in a pool of ``concurrency``
    actors that share one quota, each working on up to ``calls_per_actor`` batches at once
    (an API call waits on the network, not the CPU: with one batch at a time an actor
    sends ``batch_size`` inputs per round trip at most). Actors and calls bound what is in
    flight, not the rate: the quota does.
    """
    if concurrency < 1:
        raise ge2.ConfigurationError(
            f"concurrency={concurrency}: give at least 1 embedding actor (e.g. concurrency=2)"
        )
    if split:
        ds = ds.flat_map(SplitPieces(column, kind=kind))
    return ds.map_batches(
        GE2Embed,
        fn_constructor_kwargs={
            "column": column,
            "kind": kind,
            "task": task,
            "dimensions": dimensions,
            "quota": dict(vars(quota)) if isinstance(quota, ge2.Quota) else quota,
            "quota_name": quota_name,
            **embedder_options,
        },
        compute=ray.data.ActorPoolStrategy(
            size=concurrency,
            max_tasks_in_flight_per_actor=calls_per_actor,
            max_concurrent_calls_per_actor=calls_per_actor,
            enable_true_multi_threading=True,
        ),
        batch_size=batch_size,
        batch_format="numpy",
        # No CPU reserved: an embedding actor waits on the network, and any reservation
        # would keep the split tasks (1 CPU each) off the CPUs it holds (on a 1-CPU node,
        # two actors at 0.5 each left the split stage unschedulable: the job hung).
        num_cpus=0,
    )


# -- into a ge2 store ----------------------------------------------------------------------


def files_dataset(paths: Iterable[str | os.PathLike[str]]) -> Any:
    """A dataset of files to index: ``path``, ``size``, ``mtime_ns``, ``sha256``.

    The driver only lists and stats; the hashing (a full read of every file) runs as a Ray
    stage beside the split, on the cluster's CPUs.
    """
    rows = []
    for p in paths:
        st = os.stat(p)
        rows.append({"path": os.path.abspath(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    if not rows:
        raise ge2.ConfigurationError("files_dataset: no files given")
    return ray.data.from_items(rows).map(_with_sha256)


def _with_sha256(row: dict[str, Any]) -> dict[str, Any]:
    from ge2.index import sha256_file

    try:
        sha = sha256_file(str(row["path"]))
    except OSError:
        sha = ""  # the split stage reports the unreadable file by name
    return {**row, "sha256": sha}


@dataclass
class _Written:
    files: int = 0
    pieces: int = 0
    by_modality: dict[str, int] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # path -> why it was not stored


def _drain(ds: Any, store: Any, on_files: Any = None) -> _Written:
    """Write an embedded file dataset into an open, writable store, whole files only."""
    from ge2.embedder import Piece
    from ge2.store import FileEntry

    pending: dict[str, list[dict[str, Any]]] = {}
    done = _Written()
    for batch in ds.iter_batches(batch_size=256, batch_format="pandas"):
        for row in batch.to_dict("records"):
            pending.setdefault(row["path"], []).append(row)
        ready = [p for p, rows in pending.items() if len(rows) >= _int(rows[0]["pieces"], 1)]
        entries = []
        for path in ready:
            rows = sorted(pending.pop(path), key=lambda r: _int(r["piece"], 0))
            bad = [r for r in rows if _missing(r["embedding"])]
            if bad:
                err = bad[0].get("embedding_error")
                done.problems[path] = str(err) if not _missing(err) else "not embedded"
                continue
            pieces = [
                Piece(_row_input(r), np.asarray(r["embedding"]).tolist(), _int(r["piece"], 0))
                for r in rows
            ]
            entries.append(
                FileEntry(
                    path=path,
                    size=int(rows[0]["size"]),
                    mtime_ns=int(rows[0]["mtime_ns"]),
                    sha256=str(rows[0]["sha256"]),
                    mime=str(rows[0]["piece_mime"] or ""),
                    pieces=pieces,
                )
            )
        done.pieces += store.write(entries)
        done.files += len(entries)
        for e in entries:
            for piece in e.pieces:
                mod = piece.input.modality
                done.by_modality[mod] = done.by_modality.get(mod, 0) + 1
        if on_files is not None and (entries or ready):
            on_files(len(ready))
    for path in pending:
        done.problems[path] = "some of its pieces never came back"
    return done


def write_store(
    ds: Any,
    store_dir: str | os.PathLike[str],
    *,
    dimensions: int = 768,
    model: str = ge2.limits.DEFAULT_MODEL,
    offline: bool = False,
) -> dict[str, int]:
    """Stream an embedded file dataset (from :func:`files_dataset` through :func:`embed`
    with ``column="path", kind="file"``) into a ``ge2`` store; returns counts.

    One writer (this process) holds the store's lock; a file is written once all of its
    pieces have arrived, so a failed run leaves whole files only and the next run redoes
    the rest.
    """
    from ge2.store import Store

    store = Store.open(
        store_dir, model=model, dimensions=dimensions, offline=offline, create=True, writable=True
    )
    try:
        done = _drain(ds, store)
        store.refresh_indexes()
    finally:
        store.close()
    return {"files": done.files, "failed": len(done.problems)}


# -- `ge2 index --ray` ---------------------------------------------------------------------


def connect(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` ("auto": the one this machine belongs to), or start
    a local one (``num_cpus``, default all) when None; quiet (no Ray INFO/DEBUG lines, no
    progress bars). Returns True when this call started Ray (so the caller shuts it down)."""
    import logging
    import warnings

    if ray.is_initialized():
        return False
    # Ray's C++ core logs non-fatal notes (e.g. on actor restarts) straight to stderr.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address is None:
        options["num_cpus"] = num_cpus
    else:
        options["address"] = address
    with warnings.catch_warnings():
        # Starting Ray forks and execs at once; LanceDB's fork caveat does not apply.
        warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
        ray.init(**options)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def index_changes(
    store: Any,
    changes: Any,
    *,
    concurrency: int = 2,
    quota: Mapping[str, Any] | ge2.Quota | None = None,
    on_files: Any = None,
    **embedder_options: Any,
) -> tuple[Any, ge2.Usage]:
    """Apply ``ge2.index.detect_changes``'s verdict to an open store with Ray doing the reading,
    splitting and embedding (Ray must be initialised: see :func:`connect`).

    Deleted, pruned and re-stamped files are handled here like in ``ge2 index``; the new and
    changed files go through ``files_dataset -> embed(kind="file") -> write``. A changed
    file that can no longer be embedded loses its stale pieces. Returns the run's
    ``IndexReport`` and its API usage summed over every actor.
    """
    import uuid

    from ge2.index import IndexReport, Skipped
    from ge2.usage import Usage

    report = IndexReport()
    if changes.deleted or changes.pruned:
        store.remove_many(changes.deleted + changes.pruned)
    for f in changes.touched:
        store.touch(f.path, f.size, f.mtime_ns)
    todo = [f.path for f in changes.to_embed]
    if not todo:
        return report, Usage()
    run = uuid.uuid4().hex
    quota_name = str(embedder_options.pop("quota_name", store.config.model))
    ds = embed(
        files_dataset(todo),
        column="path",
        kind="file",
        dimensions=store.config.dimensions,
        model=store.config.model,
        quota=quota,
        concurrency=min(concurrency, len(todo)),  # no idle actors (and no Ray warning)
        quota_name=quota_name,
        usage_run=run,
        **embedder_options,
    )
    try:
        done = _drain(ds, store, on_files)
    except KeyboardInterrupt:
        report.interrupted = True
        done = _Written()
    finally:
        tally = ray.get(quota_actor(quota_name).pop_usage.remote(run))
    report.embedded_files, report.pieces = done.files, done.pieces
    report.pieces_by_modality = done.by_modality
    report.skipped = [Skipped(p, why) for p, why in sorted(done.problems.items())]
    changed = {f.path for f in changes.changed}
    stale = [p for p in done.problems if p in changed]
    if stale:
        store.remove_many(stale)
    fields = {k: v for k, v in tally.items() if k in Usage.__dataclass_fields__}
    return report, Usage(**fields)


def _missing(value: Any) -> bool:
    """None, or the NaN / NA that pandas and NumPy put where a value is missing."""
    if value is None:
        return True
    if isinstance(value, str | bytes | list | tuple | np.ndarray):
        return False
    try:
        return bool(value != value)  # NaN; pandas.NA raises on bool()
    except (TypeError, ValueError):
        return True


def _int(value: Any, default: int) -> int:
    return default if _missing(value) else int(value)


def _row_input(row: Mapping[str, Any]) -> ge2.Input:
    prov = {k: row[k] for k in PROVENANCE if not _missing(row.get(k))}
    for k in ("piece", "pieces", "page_start", "page_end", "char_start", "char_end"):
        if k in prov:
            prov[k] = int(prov[k])
    prov["source"] = row["path"]
    if not _missing(row.get("piece_text")):
        return ge2.Text(str(row["piece_text"]), provenance=prov)
    from ge2.inputs import media_class

    cls = media_class(str(row["piece_mime"]))
    assert cls is not None
    return cls(row["path"], str(row["piece_mime"]), provenance=prov)


__all__ = [
    "PROVENANCE",
    "ClusterLimiter",
    "GE2Embed",
    "SplitPieces",
    "connect",
    "embed",
    "files_dataset",
    "index_changes",
    "quota_actor",
    "write_store",
]
