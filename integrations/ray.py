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

import hashlib
import os
from collections.abc import Iterable, Mapping
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


# -- one quota for the cluster --------------------------------------------------------------


class _QuotaKeeper:
    """The cluster's pacing state: a core ``Limiter`` in one actor, on the actor's clock."""

    def __init__(self, quota: Mapping[str, Any] | None) -> None:
        self.quota = ge2.Quota.of(dict(quota)) if quota else None
        self.limiter = pacing.Limiter(max_concurrency=1 << 16)
        self.tickets: dict[int, pacing.Ticket] = {}
        self.next_id = 0

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
        out.update(piece_text=piece.text, piece_bytes=None, piece_mime="text/plain")
    elif isinstance(piece, ge2.Media):
        out.update(piece_text=None, piece_bytes=piece.read(), piece_mime=piece.mime)
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
        **embedder_options: Any,
    ) -> None:
        self.column, self.kind, self.task = column, kind, task
        self.output_column = output_column
        self.limiter = ClusterLimiter(quota_actor(quota_name, quota), max_concurrency)
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
                row = {k: batch[k][i] for k in ("piece_text", "piece_bytes", "piece_mime")}
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
        return result


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
    split: bool = True,
    quota_name: str = "quota",
    **embedder_options: Any,
) -> Any:
    """``ds`` with an ``embedding`` column (and one row per piece where items were split).

    The split stage runs as tasks on every CPU; embedding runs in ``concurrency`` actors
    that share one quota (their number bounds calls in flight, not the rate: the quota does).
    """
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
        concurrency=concurrency,
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=0.5,
    )


# -- into a ge2 store ----------------------------------------------------------------------


def files_dataset(paths: Iterable[str]) -> Any:
    """A dataset of files to index: ``path``, ``size``, ``mtime_ns``, ``sha256``."""
    rows = []
    for p in paths:
        st = os.stat(p)
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        rows.append(
            {
                "path": os.path.abspath(p),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": h.hexdigest(),
            }
        )
    return ray.data.from_items(rows)


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
    from ge2.embedder import Piece
    from ge2.store import FileEntry, Store

    store = Store.open(
        store_dir, model=model, dimensions=dimensions, offline=offline, create=True, writable=True
    )
    pending: dict[str, list[dict[str, Any]]] = {}
    written = failed = 0
    try:
        for batch in ds.iter_batches(batch_size=256, batch_format="pandas"):
            for row in batch.to_dict("records"):
                pending.setdefault(row["path"], []).append(row)
            ready = [p for p, rows in pending.items() if len(rows) >= _int(rows[0]["pieces"], 1)]
            entries = []
            for path in ready:
                rows = sorted(pending.pop(path), key=lambda r: _int(r["piece"], 0))
                if any(_missing(r["embedding"]) for r in rows):
                    failed += 1
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
            written += len(entries)
            store.write(entries)
        failed += len(pending)
        store.refresh_indexes()
    finally:
        store.close()
    return {"files": written, "failed": failed}


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
    "embed",
    "files_dataset",
    "quota_actor",
    "write_store",
]
