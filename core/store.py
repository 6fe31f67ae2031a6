"""The ``ge2`` store: LanceDB tables in a folder, and the one search every caller uses.

A store is a folder::

    ge2-store.json      {"format": 2, "backend": "lancedb", "model", "dimensions", "offline"}
    lance/pieces.lance  one row per embedded piece of a file (the vectors)
    lance/files.lance   one row per fully stored file (change detection)
    embeddings.sqlite   the store's embedding cache: a rebuild costs no API calls
    ge2-store.lock      held by the one process writing (searches never wait for it)
    batch/              `ge2 index --batch`: the Batch API jobs this store owns (state file)

``pieces`` columns (nullable unless said): ``id`` (str, uuid5 of path, sha256 and piece
number), ``file_id`` (str, sha256 of the path's bytes: the join key, never null),
``vector`` (fixed-size list of float32, the store's dimensions, unit norm), ``path`` (str,
printable: bytes that are not UTF-8 appear as ``\\xNN``), ``path_bytes`` (binary, the exact
path as the file system has it), ``name``, ``modality`` (text, image, audio, video, pdf,
mixed), ``mime``, ``sha256`` (the file's hash), ``size`` and ``mtime_ns`` (int64),
``piece`` and ``pieces`` (int32: this piece's number and the file's piece count),
``page_start``/``page_end`` (int32), ``start_s``/``end_s`` (float64), ``char_start``/
``char_end`` (int64), ``text`` (the text of a text piece; full-text indexed) and
``provenance`` (JSON of everything the splitter said about the piece).

``files`` columns: ``file_id``, ``path``, ``path_bytes``, ``sha256``, ``size``,
``mtime_ns``, ``pieces``, ``mime``, ``indexed_at`` (seconds since the epoch).

Writes keep the store consistent at every instant a process can die: a file's ``files``
row goes first, then its old pieces, then the new pieces are appended, and only then its
``files`` row comes back. A file without a ``files`` row is redone by the next run (its
vectors come from the cache), so a kill at any point loses nothing already indexed.
Other writers (a Batch API collector, a Ray job) build rows with :func:`pieces_table` and
:func:`files_table` and call :meth:`Store.write` or :meth:`Store.add_rows`.

Search is exact (a scan) until the table holds ``ann_threshold`` pieces; past it,
``ge2 index`` builds an IVF_PQ index and :func:`search` re-ranks its candidates with the
exact vectors (``refine_factor``). Text pieces also get a full-text index, so a hybrid
search fuses the vector ranking with the keyword ranking by reciprocal rank.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GE2Error
from .inputs import Text

if TYPE_CHECKING:
    import pyarrow as pa

    from .embedder import Embedder, Piece

CONFIG_FILE = "ge2-store.json"
CACHE_FILE = "embeddings.sqlite"
LANCE_DIR = "lance"
LOCK_FILE = "ge2-store.lock"
#: The state folder of the Batch API jobs a store owns (``ge2 index --batch``).
BATCH_DIR = "batch"
#: The layout before LanceDB: a Qdrant local-mode database in this folder.
OLD_QDRANT_DIR = "qdrant"
PIECES, FILES = "pieces", "files"
FORMAT = 2
BACKEND = "lancedb"
#: Pieces from which ``ge2 index`` builds an ANN index (env ``GE2_ANN_THRESHOLD``).
#: Exact search over 768-d vectors stays under ~0.15 s up to here on 2 cores
#: (benchmarks/STORE.md); past it the index keeps a search near constant time.
DEFAULT_ANN_THRESHOLD = 50_000
ANN_THRESHOLD_ENV = "GE2_ANN_THRESHOLD"
#: IVF_PQ needs this many rows to train its codebooks; below it search stays exact.
MIN_ANN_ROWS = 256
#: Exact vectors re-read per wanted hit when searching through the ANN index.
REFINE_FACTOR = 20
#: Reciprocal-rank fusion constant (the usual 60).
RRF_K = 60
PROVENANCE_KEYS = ("page_start", "page_end", "start_s", "end_s", "char_start", "char_end")
SNIPPET_CHARS = 200
_POINT_NS = uuid.UUID("6f0f7a47-6c1e-4d0e-9a57-2b7f6c1d9e21")
#: Columns a search hit never carries (big or internal).
_HIDDEN = ("vector", "text", "path_bytes", "provenance")


class StoreError(GE2Error):
    """The store cannot be opened or used as asked (not a store, mismatch, damaged, in use)."""


# -- paths ---------------------------------------------------------------------------------


def path_bytes(path: str) -> bytes:
    """The exact bytes of a path as the file system has it (lossless for any name)."""
    return os.fsencode(path)


def printable(path: str | bytes) -> str:
    """A path that is always printable: bytes that are not UTF-8 become ``\\xNN``."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def file_id(path: str) -> str:
    """The key joining a file's pieces to its row: a hash of the path's bytes."""
    return hashlib.sha256(path_bytes(path)).hexdigest()[:32]


def point_id(path: str, sha: str, piece: int) -> str:
    """A piece's id: stable for the same file content, new when the content changes."""
    return str(uuid.uuid5(_POINT_NS, f"{file_id(path)}\0{_safe_text(sha)}\0{piece}"))


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(_sql(v) for v in values)})"


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreConfig:
    """What every vector in a store shares; a mismatch would make search meaningless."""

    model: str
    dimensions: int
    #: True when built against the offline emulator (stand-in vectors, never mixed with real).
    offline: bool = False
    format: int = FORMAT
    backend: str = BACKEND


@dataclass
class IndexedFile:
    """What the store holds for one path: its recorded identity and how many pieces exist."""

    path: str
    sha256: str
    size: int
    mtime_ns: int
    pieces: int
    present: int = 0

    @property
    def complete(self) -> bool:
        return self.present == self.pieces and self.pieces > 0


@dataclass(frozen=True)
class FileEntry:
    """One file ready to store: where it is, its identity, and its embedded pieces."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    mime: str
    pieces: Sequence[Piece]


@dataclass
class Hit:
    """One search result: a score (cosine similarity, or the fused rank score) and the row."""

    score: float
    payload: dict[str, Any]

    @property
    def path(self) -> str:
        return str(self.payload.get("path", ""))

    @property
    def modality(self) -> str:
        return str(self.payload.get("modality", ""))

    @property
    def where(self) -> str:
        return describe_location(self.payload)


@dataclass
class Maintenance:
    """What :meth:`Store.refresh_indexes` did."""

    vector_index: str = "none"  # none | built | updated | kept
    text_index: str = "none"
    compacted: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _clock(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def describe_location(payload: dict[str, Any]) -> str:
    """Where a piece sits in its file, for people: ``pages 7-12``, ``2:00-4:00``, ``chars 0-9000``.

    Empty when the file was embedded whole.
    """
    p = {k: v for k, v in payload.items() if v is not None}
    if p.get("pieces", 1) <= 1 and "page_start" not in p and "start_s" not in p:
        return ""
    if "page_start" in p:
        a, b = p["page_start"], p.get("page_end", p["page_start"])
        return f"page {a}" if a == b else f"pages {a}-{b}"
    if "start_s" in p:
        return f"{_clock(p['start_s'])}-{_clock(p.get('end_s', p['start_s']))}"
    if "char_start" in p:
        return f"chars {p['char_start']}-{p.get('char_end', '')}"
    return f"piece {p.get('piece', 0) + 1}/{p.get('pieces', 1)}"


# -- schema --------------------------------------------------------------------------------


def pieces_schema(dimensions: int) -> pa.Schema:
    """The ``pieces`` table's Arrow schema (see the module docstring)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("file_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimensions), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("path_bytes", pa.binary(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("modality", pa.string()),
            pa.field("mime", pa.string()),
            pa.field("sha256", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("mtime_ns", pa.int64()),
            pa.field("piece", pa.int32()),
            pa.field("pieces", pa.int32()),
            pa.field("page_start", pa.int32()),
            pa.field("page_end", pa.int32()),
            pa.field("start_s", pa.float64()),
            pa.field("end_s", pa.float64()),
            pa.field("char_start", pa.int64()),
            pa.field("char_end", pa.int64()),
            pa.field("text", pa.string()),
            pa.field("provenance", pa.string()),
        ]
    )


def files_schema() -> pa.Schema:
    """The ``files`` table's Arrow schema."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("file_id", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("path_bytes", pa.binary(), nullable=False),
            pa.field("sha256", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("mtime_ns", pa.int64()),
            pa.field("pieces", pa.int32()),
            pa.field("mime", pa.string()),
            pa.field("indexed_at", pa.float64()),
        ]
    )


def _safe_text(text: str) -> str:
    """Text as valid UTF-8 (a lone surrogate cannot be stored in Arrow)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def pieces_table(entries: Sequence[FileEntry], dimensions: int) -> pa.Table:
    """Rows for the ``pieces`` table from files and their embedded pieces (built by column)."""
    import numpy as np
    import pyarrow as pa

    schema = pieces_schema(dimensions)
    cols: dict[str, list[Any]] = {f.name: [] for f in schema if f.name != "vector"}
    vectors: list[Sequence[float]] = []
    for e in entries:
        fid, raw, shown = file_id(e.path), path_bytes(e.path), printable(e.path)
        name, count, sha = printable(os.path.basename(e.path)), len(e.pieces), _safe_text(e.sha256)
        for i, piece in enumerate(e.pieces):
            if len(piece.vector) != dimensions:
                raise StoreError(
                    f"a vector of {len(piece.vector)} floats for {shown}; this store holds "
                    f"{dimensions}"
                )
            item = piece.input
            prov = getattr(item, "provenance", None) or {}
            cols["id"].append(str(uuid.uuid5(_POINT_NS, f"{fid}\0{sha}\0{i}")))
            cols["file_id"].append(fid)
            cols["path"].append(shown)
            cols["path_bytes"].append(raw)
            cols["name"].append(name)
            cols["modality"].append(item.modality)
            cols["mime"].append(e.mime)
            cols["sha256"].append(sha)
            cols["size"].append(e.size)
            cols["mtime_ns"].append(e.mtime_ns)
            cols["piece"].append(i)
            cols["pieces"].append(count)
            cols["text"].append(_safe_text(item.text) if isinstance(item, Text) else None)
            cols["provenance"].append(
                json.dumps(prov, default=str, ensure_ascii=True) if prov else None
            )
            for key in PROVENANCE_KEYS:
                cols[key].append(prov.get(key))
            vectors.append(piece.vector)
    flat = np.asarray(vectors, dtype=np.float32).reshape(-1)
    arrays = [
        pa.FixedSizeListArray.from_arrays(pa.array(flat), dimensions)
        if f.name == "vector"
        else pa.array(cols[f.name], type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def files_table(entries: Sequence[FileEntry]) -> pa.Table:
    """Rows for the ``files`` table: one per fully stored file."""
    import pyarrow as pa

    now = time.time()
    rows = [
        {
            "file_id": file_id(e.path),
            "path": printable(e.path),
            "path_bytes": path_bytes(e.path),
            "sha256": e.sha256,
            "size": e.size,
            "mtime_ns": e.mtime_ns,
            "pieces": len(e.pieces),
            "mime": e.mime,
            "indexed_at": now,
        }
        for e in entries
    ]
    return pa.Table.from_pylist(rows, schema=files_schema())


# -- the store -----------------------------------------------------------------------------


def ann_threshold() -> int:
    """Pieces from which an ANN index is built: ``GE2_ANN_THRESHOLD`` or the default."""
    raw = os.environ.get(ANN_THRESHOLD_ENV, "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_ANN_THRESHOLD
    except ValueError:
        raise StoreError(
            f"{ANN_THRESHOLD_ENV}={raw!r} is not a whole number of pieces; unset it or give "
            f"one like {DEFAULT_ANN_THRESHOLD}"
        ) from None


def _quiet_lance() -> None:
    # LanceDB's Rust side logs warnings (small k-means samples) straight to stderr.
    os.environ.setdefault("LANCEDB_LOG", "error")


class Store:
    """A ge2 store in a folder: LanceDB ``pieces`` and ``files`` tables, config and cache."""

    def __init__(self, folder: Path, config: StoreConfig, *, writable: bool) -> None:
        self.folder = folder
        self.config = config
        self.writable = writable
        self._lock: Any = None
        if writable:
            self._lock = _acquire_lock(folder)
        try:
            with self._guard("open"):
                _quiet_lance()
                import lancedb

                self._db = lancedb.connect(str(folder / LANCE_DIR))
                self._pieces = self._table(PIECES, pieces_schema(config.dimensions))
                self._files = self._table(FILES, files_schema())
        except BaseException:
            self.close()
            raise
        if self._pieces is not None:
            size = self._pieces.schema.field("vector").type.list_size
            if size != config.dimensions:
                self.close()
                raise StoreError(
                    f"the store {folder} is damaged: its pieces hold {size}-dimension vectors "
                    f"but {CONFIG_FILE} says {config.dimensions}. {self.rebuild_hint}"
                )

    def _table(self, name: str, schema: pa.Schema) -> Any:
        try:
            return self._db.open_table(name)
        except (ValueError, FileNotFoundError):
            if not self.writable:
                return None
            return self._db.create_table(name, schema=schema, exist_ok=True)

    # -- opening ---------------------------------------------------------------------------

    @property
    def rebuild_hint(self) -> str:
        return (
            f"Fix: `ge2 index PATH... --store {printable(str(self.folder))} --rebuild` rebuilds "
            "it from the files (vectors come from the store's cache: no API calls)"
        )

    @staticmethod
    def read_config(folder: str | os.PathLike[str]) -> StoreConfig | None:
        """The store's config, or None when ``folder`` is not (yet) a ge2 store."""
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            config = StoreConfig(
                model=str(data["model"]),
                dimensions=int(data["dimensions"]),
                offline=bool(data.get("offline", False)),
                format=int(data.get("format", 1)),
                backend=str(data.get("backend", "qdrant")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"the store {folder} has an unreadable {CONFIG_FILE} ({exc}); restore it, or "
                "index into a new --store (its embedding cache can be copied along)"
            ) from exc
        if config.format > FORMAT:
            raise StoreError(f"{folder} was written by a newer ge2; upgrade ge2 to use it")
        return config

    @staticmethod
    def is_old_layout(folder: str | os.PathLike[str]) -> bool:
        """True for a store from before LanceDB (a Qdrant local-mode ``qdrant/`` folder)."""
        return (Path(folder) / CONFIG_FILE).is_file() and (Path(folder) / OLD_QDRANT_DIR).is_dir()

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        offline: bool | None = None,
        create: bool = True,
        writable: bool | None = None,
        rebuild: bool = False,
        default_dimensions: int = 768,
    ) -> Store:
        """Open (or create) the store; refuse a model, size or backend it was not built with.

        ``writable`` (default: ``create``) takes the store's write lock. ``rebuild`` drops
        the stored vectors (an old layout's too) and keeps the config and the cache.
        """
        root = Path(folder)
        writable = create if writable is None else writable
        config = cls.read_config(root)
        if config is not None and cls.is_old_layout(root) and not rebuild:
            raise StoreError(
                f"the store {root} was built by an older ge2 (Qdrant local mode, its "
                f"{OLD_QDRANT_DIR}/ folder); this ge2 stores vectors in LanceDB. Fix: run "
                f"`ge2 index PATH... --store {root} --rebuild` with the same paths: the "
                "vectors come from the store's cache at no API calls, and the old folder is "
                "removed only then"
            )
        if config is None:
            if not create:
                raise StoreError(
                    f"{root} is not a ge2 store (no {CONFIG_FILE}); build one with "
                    f"`ge2 index PATH --store {root}`"
                )
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise StoreError(
                    f"{root} exists and is not a ge2 store (no {CONFIG_FILE}); "
                    "pick a new or empty folder for --store"
                )
            from .limits import DEFAULT_MODEL

            config = StoreConfig(
                model=model or DEFAULT_MODEL,
                dimensions=dimensions or default_dimensions,
                offline=bool(offline),
            )
            root.mkdir(parents=True, exist_ok=True)
            _write_config(root, config)
        elif rebuild:
            config = StoreConfig(
                model=model or config.model,
                dimensions=dimensions or config.dimensions,
                offline=config.offline if offline is None else offline,
            )
        else:
            _check_matches(root, config, model, dimensions, offline)
        if rebuild:
            lock = _acquire_lock(root)
            try:
                shutil.rmtree(root / LANCE_DIR, ignore_errors=True)
                _write_config(root, config)
            finally:
                _release_lock(lock)
        elif config.format < FORMAT and writable:
            config = StoreConfig(config.model, config.dimensions, config.offline)
            _write_config(root, config)
        return cls(root, config, writable=writable)

    def drop_old_layout(self) -> bool:
        """Remove a pre-LanceDB ``qdrant/`` folder (after a rebuild); True if there was one."""
        old = self.folder / OLD_QDRANT_DIR
        if not old.is_dir():
            return False
        shutil.rmtree(old)
        return True

    @property
    def cache_path(self) -> Path:
        return self.folder / CACHE_FILE

    def embedder(self, **options: Any) -> Embedder:
        """An Embedder for this store: its model and size, its cache, no progress bar."""
        from .embedder import Embedder

        return Embedder(
            self.config.model,
            self.config.dimensions,
            cache=self.cache_path,
            progress=False,
            **options,
        )

    @property
    def batch_dir(self) -> Path:
        """Where ``ge2 index --batch`` keeps its jobs' state: inside the store, so the
        store's jobs travel (and are found) with it."""
        return self.folder / BATCH_DIR

    def close(self) -> None:
        _release_lock(self._lock)
        self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn LanceDB's and the disk's failures into a StoreError naming the store and fix."""
        try:
            yield
        except (StoreError, KeyboardInterrupt):
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreError(
                    f"the disk holding the store {self.folder} is full ({action}). Free some "
                    "space and run the same command again: every file finished so far is "
                    "stored, and the rest resumes"
                ) from exc
            raise self._damaged(action, exc) from exc
        except (RuntimeError, ValueError) as exc:
            if "No space left" in str(exc):
                raise StoreError(
                    f"the disk holding the store {self.folder} is full ({action}). Free some "
                    "space and run the same command again: every file finished so far is "
                    "stored, and the rest resumes"
                ) from exc
            raise self._damaged(action, exc) from exc

    def _damaged(self, action: str, exc: BaseException) -> StoreError:
        detail = " ".join(str(exc).split())[:300]
        return StoreError(
            f"the store {self.folder} could not {action}: a table is damaged or unreadable "
            f"({type(exc).__name__}: {detail}). {self.rebuild_hint}"
        )

    def _writer(self) -> Any:
        if not self.writable:
            raise StoreError(f"the store {self.folder} was opened read-only")
        return self._pieces

    # -- reading ---------------------------------------------------------------------------

    def files(self) -> dict[str, IndexedFile]:
        """Every fully stored path with its recorded identity and how many pieces exist.

        The path keys are file-system strings (``os.fsdecode`` of the stored bytes), so
        they compare equal to what a folder walk finds, whatever the name's encoding.
        """
        if self._files is None or self._pieces is None:
            return {}
        import pyarrow.compute as pc

        with self._guard("read its files"):
            rows = self._files.search().select(list(files_schema().names)).limit(None).to_arrow()
            ids = self._pieces.search().select(["file_id"]).limit(None).to_arrow()
        present: dict[str, int] = {}
        if ids.num_rows:
            counts = pc.value_counts(ids["file_id"])
            present = {
                str(v["values"]): int(v["counts"]) for v in counts.to_pylist() if v is not None
            }
        out: dict[str, IndexedFile] = {}
        for r in rows.to_pylist():
            path = os.fsdecode(r["path_bytes"])
            out[path] = IndexedFile(
                path,
                str(r["sha256"]),
                int(r["size"]),
                int(r["mtime_ns"]),
                int(r["pieces"]),
                present.get(str(r["file_id"]), 0),
            )
        return out

    def count(self) -> int:
        """How many pieces the store holds."""
        if self._pieces is None:
            return 0
        with self._guard("count its pieces"):
            return int(self._pieces.count_rows())

    def has_vector_index(self) -> bool:
        return self._index_named("vector") is not None

    def _index_named(self, column: str) -> Any:
        if self._pieces is None:
            return None
        with self._guard("read its indexes"):
            for ix in self._pieces.list_indices():
                if column in ix.columns:
                    return ix
        return None

    def search(
        self,
        vector: Sequence[float],
        k: int = 10,
        *,
        exact: bool = False,
        text: str | None = None,
        modality: str | Sequence[str] | None = None,
        path_prefix: str | None = None,
    ) -> list[Hit]:
        """The ``k`` best pieces for a query vector: see the module-level :func:`search`."""
        return search(
            self,
            vector,
            k,
            exact=exact,
            text=text,
            modality=modality,
            path_prefix=path_prefix,
        )

    def file_row(self, fid: str) -> dict[str, Any] | None:
        """The ``files`` row of one stored file by its id (``ge2 serve`` serves files by id,
        never by a path from a request)."""
        if self._files is None or not re.fullmatch(r"[0-9a-f]{32}", fid):
            return None
        with self._guard("read its files"):
            rows = self._files.search().where(f"file_id = {_sql(fid)}").limit(1).to_list()
        return dict(rows[0]) if rows else None

    def modality_counts(self) -> dict[str, int]:
        """Pieces per modality."""
        if self._pieces is None:
            return {}
        kinds = ("text", "image", "audio", "video", "pdf", "mixed")
        with self._guard("count its pieces"):
            counts = {m: int(self._pieces.count_rows(f"modality = {_sql(m)}")) for m in kinds}
        return {m: n for m, n in counts.items() if n}

    # -- writing ---------------------------------------------------------------------------

    def write(self, entries: Sequence[FileEntry]) -> int:
        """Store files' pieces in place of whatever the store held for their paths.

        Four commits for the whole batch, in the order that keeps every instant
        consistent (see the module docstring). Returns the number of pieces written.
        """
        if not entries:
            return 0
        pieces = pieces_table(entries, self.config.dimensions)
        rows = files_table(entries)
        ids = [file_id(e.path) for e in entries]
        self.remove_ids(ids)
        self.add_rows(pieces, rows)
        return int(pieces.num_rows)

    def add_rows(self, pieces: pa.Table, files: pa.Table | None = None) -> None:
        """Append ready-made rows (pieces first, then their files rows: the commit marker)."""
        table = self._writer()
        with self._guard("write pieces"):
            if pieces.num_rows:
                table.add(pieces)
            if files is not None and files.num_rows:
                self._files.add(files)

    def remove_ids(self, ids: Sequence[str]) -> None:
        """Drop the files rows, then the pieces, of these file ids."""
        table = self._writer()
        with self._guard("remove pieces"):
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                self._files.delete(_in("file_id", chunk))
                table.delete(_in("file_id", chunk))

    def remove(self, path: str, record: IndexedFile | None = None) -> None:
        """Drop every piece of ``path`` (``record`` is accepted for symmetry; not needed)."""
        self.remove_ids([file_id(path)])

    def remove_many(self, paths: Sequence[str]) -> None:
        self.remove_ids([file_id(p) for p in paths])

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content did not change."""
        table = self._writer()
        where = f"file_id = {_sql(file_id(path))}"
        values = {"size": size, "mtime_ns": mtime_ns}
        with self._guard("update a file's time"):
            self._files.update(where=where, values=values)
            table.update(where=where, values=values)

    # -- maintenance -----------------------------------------------------------------------

    def refresh_indexes(self, threshold: int | None = None, *, force: bool = False) -> Maintenance:
        """Keep search fast as the store grows: FTS on text, ANN past ``threshold``, compaction.

        Builds the ANN index once the table reaches the threshold, folds new rows into it
        after appends (re-training it when they outnumber the indexed ones), and compacts
        small fragments left by many small commits.
        """
        started = time.perf_counter()
        done = Maintenance()
        table = self._writer()
        threshold = ann_threshold() if threshold is None else threshold
        with self._guard("index its pieces"):
            rows = table.count_rows()
            if rows == 0:
                return done
            from lancedb.index import FTS, IvfPq

            fts = self._index_named("text")
            if fts is None and table.count_rows("text IS NOT NULL") > 0:
                table.create_index("text", config=FTS(with_position=False), replace=True)
                done.text_index = "built"
            elif fts is not None:
                done.text_index = "kept"
            vec = self._index_named("vector")
            if rows >= max(threshold, MIN_ANN_ROWS) and (vec is None or force or self._stale(vec)):
                table.create_index(
                    "vector",
                    config=IvfPq(
                        distance_type="cosine",
                        num_partitions=_partitions(rows),
                        num_sub_vectors=_sub_vectors(self.config.dimensions),
                    ),
                    replace=True,
                )
                done.vector_index = "built"
            elif vec is not None:
                done.vector_index = "kept"
            stats = table.stats()
            frags = stats.get("fragment_stats", {})
            unindexed = any(
                ix.num_unindexed_rows for ix in table.list_indices() if ix.num_unindexed_rows
            )
            if unindexed or frags.get("num_small_fragments", 0) > 32:
                table.optimize(cleanup_older_than=timedelta(minutes=1))
                self._files.optimize(cleanup_older_than=timedelta(minutes=1))
                done.compacted = True
                if done.vector_index == "kept" and unindexed:
                    done.vector_index = "updated"
        done.seconds = time.perf_counter() - started
        return done

    def _stale(self, index: Any) -> bool:
        """Re-train when the rows added since outnumber half the rows it was trained on."""
        indexed = int(getattr(index, "num_indexed_rows", 0) or 0)
        unindexed = int(getattr(index, "num_unindexed_rows", 0) or 0)
        return unindexed > max(indexed, 1) // 2


def _partitions(rows: int) -> int:
    """IVF partitions of ~8,192 rows (LanceDB's default size): quick to train on 2 cores."""
    return max(1, min(4096, rows // 8192))


def _sub_vectors(dimensions: int) -> int:
    for width in (16, 8, 4, 2, 1):
        if dimensions % width == 0 and dimensions // width <= 256:
            return dimensions // width
    return 1


def _write_config(root: Path, config: StoreConfig) -> None:
    tmp = root / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, root / CONFIG_FILE)


def _check_matches(
    root: Path, config: StoreConfig, model: str | None, dimensions: int | None, offline: bool | None
) -> None:
    problems = []
    if dimensions is not None and dimensions != config.dimensions:
        problems.append(
            f"it holds {config.dimensions}-dimension vectors, you asked for {dimensions}"
        )
    if model is not None and model != config.model:
        problems.append(f"it was built with {config.model}, you asked for {model}")
    if offline is not None and offline != config.offline:
        problems.append(
            "it was built with the offline emulator (stand-in vectors) and this run "
            "would use the real API"
            if config.offline
            else "it holds real API vectors and this run would use the offline emulator"
        )
    if problems:
        raise StoreError(
            f"cannot use the store {root}: {'; '.join(problems)}. Drop the option to "
            "use the store's own settings, or pick a new --store (or --rebuild this one)"
        )


def _acquire_lock(folder: Path) -> Any:
    """Take the store's write lock (one writer at a time; searches never take it)."""
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / LOCK_FILE, "a+b")  # noqa: SIM115 - held until close()
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; LanceDB's commits still serialise
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        raise StoreError(
            f"the store {folder} is in use by another ge2 process writing to it; wait for it "
            "to finish, or use another --store (searching it meanwhile is fine)"
        ) from exc
    return fh


def _release_lock(fh: Any) -> None:
    if fh is not None:
        fh.close()


# -- the one search path -------------------------------------------------------------------


def _filters(modality: str | Sequence[str] | None, path_prefix: str | None) -> str | None:
    parts = []
    if modality:
        mods = [modality] if isinstance(modality, str) else list(modality)
        parts.append(_in("modality", mods))
    if path_prefix:
        parts.append(f"starts_with(path, {_sql(printable(path_prefix))})")
    return " AND ".join(parts) or None


def _columns(table: Any) -> list[str]:
    return [n for n in table.schema.names if n not in ("vector", "path_bytes", "provenance")]


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if v is not None and not k.startswith("_")}
    text = out.get("text")
    if isinstance(text, str):
        out["snippet"] = " ".join(text[:SNIPPET_CHARS].split())
    for key in _HIDDEN:
        out.pop(key, None)
    return out


def hit_rows(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """Hits as the rows ``ge2 search --json`` prints and ``ge2 serve``'s API answers."""
    rows = []
    for rank, hit in enumerate(hits, 1):
        row: dict[str, Any] = {"rank": rank, "score": round(hit.score, 4), "where": hit.where}
        row.update(hit.payload)
        rows.append(row)
    return rows


def search(
    store: Store,
    vector: Sequence[float],
    k: int = 10,
    *,
    exact: bool = False,
    text: str | None = None,
    modality: str | Sequence[str] | None = None,
    path_prefix: str | None = None,
) -> list[Hit]:
    """The one search over a ge2 store (``ge2 search``, ``ge2 serve`` and Ray stores use it).

    ``vector``: the query, embedded with the store's model and size (task "query").
    ``exact``: scan every vector even when an ANN index exists. Without it, a store with
    an ANN index is searched through it, then its candidates are re-ranked with the
    exact vectors. ``text``: also run a full-text search for these words over the text
    pieces and fuse the two rankings by reciprocal rank (the score is then the fused
    score). ``modality`` and ``path_prefix`` filter before ranking. Scores are cosine
    similarities (vector search) or fused rank scores (hybrid), best first.
    """
    table = store._pieces
    if table is None or k < 1:
        return []
    if len(vector) != store.config.dimensions:
        raise StoreError(
            f"a query of {len(vector)} floats for the store {store.folder}, which holds "
            f"{store.config.dimensions}-dimension vectors"
        )
    where = _filters(modality, path_prefix)
    cols = _columns(table)
    depth = max(k, 50) if text else k
    with store._guard("search"):
        q = (
            table.search(list(vector), vector_column_name="vector")
            .distance_type("cosine")
            .select(cols)
            .limit(depth)
        )
        if where:
            q = q.where(where, prefilter=True)
        if exact or not store.has_vector_index():
            q = q.bypass_vector_index()
        else:
            q = q.nprobes(_nprobes(table)).refine_factor(REFINE_FACTOR)
        vec_rows = q.to_arrow().to_pylist()
        hits = [Hit(1.0 - float(r["_distance"]), _payload(r)) for r in vec_rows]
        if not text or not text.strip() or store._index_named("text") is None:
            return hits[:k]
        f = table.search(text, query_type="fts", fts_columns="text").select(cols).limit(depth)
        if where:
            f = f.where(where, prefilter=True)
        text_rows = f.to_arrow().to_pylist()
    return _fuse(vec_rows, text_rows, k)


def _nprobes(table: Any) -> int:
    """Partitions to probe: at least 20 (every one in a store under ~160k pieces)."""
    rows = int(table.count_rows())
    return max(20, _partitions(rows) // 5)


def _fuse(vec_rows: list[dict[str, Any]], text_rows: list[dict[str, Any]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of two rankings of the same rows (keyed by piece id)."""
    scores: dict[str, float] = {}
    rows: dict[str, dict[str, Any]] = {}
    for ranking, label in ((vec_rows, "vector"), (text_rows, "text")):
        for rank, row in enumerate(ranking):
            key = str(row["id"])
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
            entry = rows.setdefault(key, dict(row))
            entry.setdefault("_matched", []).append(label)
            if label == "vector":
                entry["_cosine"] = 1.0 - float(row["_distance"])
    best = sorted(scores, key=lambda key: scores[key], reverse=True)[:k]
    out = []
    for key in best:
        row = rows[key]
        payload = _payload(row)
        payload["matched"] = "+".join(row["_matched"])
        if "_cosine" in row:
            payload["cosine"] = round(float(row["_cosine"]), 4)
        out.append(Hit(scores[key], payload))
    return out


__all__ = [
    "ANN_THRESHOLD_ENV",
    "CACHE_FILE",
    "CONFIG_FILE",
    "DEFAULT_ANN_THRESHOLD",
    "FileEntry",
    "Hit",
    "IndexedFile",
    "Maintenance",
    "Store",
    "StoreConfig",
    "StoreError",
    "ann_threshold",
    "describe_location",
    "file_id",
    "files_schema",
    "files_table",
    "pieces_schema",
    "pieces_table",
    "printable",
    "search",
]
