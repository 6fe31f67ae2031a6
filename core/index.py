"""The on-disk index behind ``ge2 index`` / ``ge2 search``: folder walk, change detection, store.

A store is a folder holding ``ge2-store.json`` (model, dimensions, backend), a Qdrant
local-mode database (``qdrant/``) and a store-local embedding cache
(``embeddings.sqlite``), so a rebuilt index over unchanged files costs no API calls.

Every point (one per embedded piece of a file) carries the file's path, modality, MIME
type, sha256, mtime, size, its piece number and the piece count, plus where the piece sits
in the file (pages, seconds, characters). The store is its own manifest: a file counts as
indexed only when all of its pieces are present, so a run interrupted half way through a
file simply redoes that file next time (for free, from the cache).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import media
from .embedder import Embedder, Piece
from .errors import EmbeddingError, GE2Error, InputError
from .inputs import Input, Media, Text, load

CONFIG_FILE = "ge2-store.json"
CACHE_FILE = "embeddings.sqlite"
QDRANT_DIR = "qdrant"
COLLECTION = "ge2"
FORMAT = 1
#: Namespace for point ids: uuid5(path, sha256, piece) is stable across runs.
_POINT_NS = uuid.UUID("6f0f7a47-6c1e-4d0e-9a57-2b7f6c1d9e21")
#: Payload keys copied from a piece's provenance.
PROVENANCE_KEYS = ("page_start", "page_end", "start_s", "end_s", "char_start", "char_end")
SNIPPET_CHARS = 200


# -- walking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundFile:
    """A file on disk as the walk saw it (absolute path, size, mtime in ns)."""

    path: str
    size: int
    mtime_ns: int


def _stat(path: str) -> FoundFile | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FoundFile(path, st.st_size, st.st_mtime_ns)


def walk(
    paths: Iterable[str | os.PathLike[str]],
    *,
    exclude_dirs: Sequence[str | os.PathLike[str]] = (),
    exclude: Sequence[str] = (),
) -> list[FoundFile]:
    """Every file under ``paths``, sorted, without hidden entries or the excluded folders.

    A file named directly is always included; inside folders, names starting with ``.``
    and names matching an ``exclude`` glob are skipped, and symlinked folders are not
    followed (no loops). Raises ``FileNotFoundError`` for a path that does not exist.
    """
    skip = {os.path.realpath(d) for d in exclude_dirs}
    seen: dict[str, FoundFile] = {}

    def excluded(name: str) -> bool:
        return name.startswith(".") or any(fnmatch.fnmatch(name, pat) for pat in exclude)

    for raw in paths:
        root = os.path.abspath(os.fspath(raw))
        if os.path.isfile(root):
            found = _stat(root)
            if found:
                seen[root] = found
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(f"no such file or folder: {os.fspath(raw)}")
        for dirpath, dirnames, filenames in os.walk(root):
            if os.path.realpath(dirpath) in skip:
                dirnames[:] = []
                continue
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not excluded(d) and os.path.realpath(os.path.join(dirpath, d)) not in skip
            )
            for name in sorted(filenames):
                if excluded(name):
                    continue
                full = os.path.join(dirpath, name)
                if os.path.isfile(full):
                    found = _stat(full)
                    if found:
                        seen[full] = found
    return [seen[p] for p in sorted(seen)]


def sha256_file(path: str) -> str:
    """The file's sha256, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- change detection ----------------------------------------------------------------------


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


@dataclass
class Changes:
    """What a run must do: embed ``new`` and ``changed``, drop ``deleted``, re-stamp ``touched``.

    ``touched`` files have a new mtime but the same content (no embedding needed).
    """

    new: list[FoundFile] = field(default_factory=list)
    changed: list[FoundFile] = field(default_factory=list)
    unchanged: list[FoundFile] = field(default_factory=list)
    touched: list[FoundFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: What the store held for each path when the changes were detected.
    records: dict[str, IndexedFile] = field(default_factory=dict)

    @property
    def to_embed(self) -> list[FoundFile]:
        return sorted(self.new + self.changed, key=lambda f: f.path)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def detect_changes(
    found: Sequence[FoundFile],
    indexed: dict[str, IndexedFile],
    roots: Iterable[str | os.PathLike[str]],
    *,
    hasher: Callable[[str], str] = sha256_file,
) -> Changes:
    """Compare the walk with the store: size+mtime first, the sha256 only when they moved.

    A path recorded in the store under one of ``roots`` but no longer on disk is deleted;
    paths under other roots are left alone (several folders can share one store). An
    incompletely stored file (an interrupted run) counts as changed.
    """
    changes = Changes(records=dict(indexed))
    for f in found:
        rec = indexed.get(f.path)
        if rec is None:
            changes.new.append(f)
        elif not rec.complete:
            changes.changed.append(f)
        elif rec.size == f.size and rec.mtime_ns == f.mtime_ns:
            changes.unchanged.append(f)
        else:
            try:
                same = f.size == rec.size and hasher(f.path) == rec.sha256
            except OSError:
                same = False
            (changes.touched if same else changes.changed).append(f)
    on_disk = {f.path for f in found}
    root_list = [os.path.abspath(os.fspath(r)) for r in roots]
    changes.deleted = sorted(
        p for p in indexed if p not in on_disk and any(_under(p, r) for r in root_list)
    )
    return changes


# -- the store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreConfig:
    """What every vector in a store shares; a mismatch would make search meaningless."""

    model: str
    dimensions: int
    #: True when built against the offline emulator (stand-in vectors, never mixed with real).
    offline: bool = False
    format: int = FORMAT


@dataclass
class Hit:
    """One search result."""

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


def _clock(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def describe_location(payload: dict[str, Any]) -> str:
    """Where a piece sits in its file, for people: ``pages 7-12``, ``2:00-4:00``, ``chars 0-9000``.

    Empty when the file was embedded whole.
    """
    if payload.get("pieces", 1) <= 1 and "page_start" not in payload and "start_s" not in payload:
        return ""
    if "page_start" in payload:
        a, b = payload["page_start"], payload.get("page_end", payload["page_start"])
        return f"page {a}" if a == b else f"pages {a}-{b}"
    if "start_s" in payload:
        return f"{_clock(payload['start_s'])}-{_clock(payload.get('end_s', payload['start_s']))}"
    if "char_start" in payload:
        return f"chars {payload['char_start']}-{payload.get('char_end', '')}"
    return f"piece {payload.get('piece', 0) + 1}/{payload.get('pieces', 1)}"


class StoreError(GE2Error):
    """The store cannot be opened or used as asked (not a store, mismatch, locked)."""


class Store:
    """A ge2 index in a folder: Qdrant local mode plus the config and the embedding cache."""

    def __init__(self, folder: str | os.PathLike[str], config: StoreConfig) -> None:
        from qdrant_client import QdrantClient, models

        self.folder = Path(folder)
        self.config = config
        self._models = models
        try:
            self._client = QdrantClient(path=str(self.folder / QDRANT_DIR))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreError(
                    f"the store {self.folder} is in use by another ge2 process (Qdrant local "
                    "mode allows one process at a time); wait for it to finish, or use "
                    "another --store"
                ) from exc
            raise
        if not self._client.collection_exists(COLLECTION):
            self._client.create_collection(
                COLLECTION,
                vectors_config=models.VectorParams(
                    size=config.dimensions, distance=models.Distance.COSINE
                ),
            )

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def read_config(folder: str | os.PathLike[str]) -> StoreConfig | None:
        """The store's config, or None when ``folder`` is not (yet) a ge2 store."""
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format", FORMAT) > FORMAT:
            raise StoreError(f"{folder} was written by a newer ge2; upgrade ge2 to use it")
        return StoreConfig(
            model=str(data["model"]),
            dimensions=int(data["dimensions"]),
            offline=bool(data.get("offline", False)),
            format=int(data.get("format", FORMAT)),
        )

    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        offline: bool | None = None,
        create: bool = True,
        default_dimensions: int = 768,
    ) -> Store:
        """Open (or create) the store; refuse a model, size or backend it was not built with."""
        root = Path(folder)
        config = cls.read_config(root)
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
            tmp = root / (CONFIG_FILE + ".tmp")
            tmp.write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, root / CONFIG_FILE)
        else:
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
                    "use the store's own settings, or pick a new --store"
                )
        return cls(root, config)

    @property
    def cache_path(self) -> Path:
        return self.folder / CACHE_FILE

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def _scroll(self, with_vectors: bool = False) -> Iterable[Any]:
        offset = None
        while True:
            points, offset = self._client.scroll(
                COLLECTION,
                limit=1024,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            yield from points
            if offset is None:
                return

    def files(self) -> dict[str, IndexedFile]:
        """Every path in the store with its recorded identity and how many pieces exist.

        Pieces of two versions of one file (a crash between removing and writing) make
        the record incomplete, so the next run redoes that file.
        """
        out: dict[str, IndexedFile] = {}
        for point in self._scroll():
            p = point.payload or {}
            path = p.get("path")
            if not path:
                continue
            rec = out.get(path)
            if rec is None:
                rec = out[path] = IndexedFile(
                    path,
                    str(p.get("sha256")),
                    int(p.get("size", -1)),
                    int(p.get("mtime_ns", -1)),
                    int(p.get("pieces", 0)),
                )
            elif rec.sha256 != p.get("sha256"):
                rec.pieces = -1
            rec.present += 1
        return out

    def count(self) -> int:
        return int(self._client.count(COLLECTION, exact=True).count)

    def search(self, vector: Sequence[float], k: int = 10) -> list[Hit]:
        """The ``k`` nearest pieces by cosine similarity."""
        response = self._client.query_points(
            COLLECTION, query=list(vector), limit=k, with_payload=True
        )
        return [Hit(float(p.score), dict(p.payload or {})) for p in response.points]

    # -- writing ---------------------------------------------------------------------------

    def _path_filter(self, path: str) -> Any:
        m = self._models
        return m.Filter(must=[m.FieldCondition(key="path", match=m.MatchValue(value=path))])

    def _selector(self, path: str, record: IndexedFile | None) -> Any:
        """A complete record names its points' ids (cheap); otherwise match by path (a scan)."""
        if record is not None and record.complete:
            return [point_id(path, record.sha256, i) for i in range(record.pieces)]
        return self._models.FilterSelector(filter=self._path_filter(path))

    def remove(self, path: str, record: IndexedFile | None = None) -> None:
        """Drop every piece of ``path`` (``record``: what ``files()`` said about it)."""
        self._client.delete(COLLECTION, points_selector=self._selector(path, record))

    def replace(
        self,
        found: FoundFile,
        sha: str,
        mime: str,
        pieces: Sequence[Piece],
        *,
        previous: IndexedFile | None = None,
        new: bool = False,
    ) -> int:
        """Store a file's pieces in place of whatever the store held for its path.

        ``new=True`` says the store holds nothing for the path (skips the removal).
        """
        m = self._models
        points = []
        for i, piece in enumerate(pieces):
            payload = piece_payload(found, sha, mime, piece, i, len(pieces))
            pid = point_id(found.path, sha, i)
            points.append(m.PointStruct(id=pid, vector=list(piece.vector), payload=payload))
        if not new:
            self.remove(found.path, previous)
        self._client.upsert(COLLECTION, points=points)
        return len(points)

    def touch(self, found: FoundFile, record: IndexedFile | None = None) -> None:
        """Record a new mtime for a file whose content did not change."""
        self._client.set_payload(
            COLLECTION,
            payload={"mtime_ns": found.mtime_ns, "size": found.size},
            points=self._selector(found.path, record),
        )


def point_id(path: str, sha: str, piece: int) -> str:
    """A piece's point id: stable for the same file content, new when the content changes."""
    return str(uuid.uuid5(_POINT_NS, f"{path}\0{sha}\0{piece}"))


def piece_payload(
    found: FoundFile, sha: str, mime: str, piece: Piece, index: int, count: int
) -> dict[str, Any]:
    """The metadata stored beside one piece's vector."""
    item = piece.input
    payload: dict[str, Any] = {
        "path": found.path,
        "name": os.path.basename(found.path),
        "modality": item.modality,
        "mime": mime,
        "sha256": sha,
        "mtime_ns": found.mtime_ns,
        "size": found.size,
        "piece": index,
        "pieces": count,
    }
    prov = piece.provenance
    for key in PROVENANCE_KEYS:
        if key in prov:
            payload[key] = prov[key]
    if isinstance(item, Text):
        payload["snippet"] = " ".join(item.text[:SNIPPET_CHARS].split())
    return payload


# -- the job -------------------------------------------------------------------------------


@dataclass
class Skipped:
    """A file that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class IndexReport:
    """What ``index_files`` did."""

    embedded_files: int = 0
    pieces: int = 0
    pieces_by_modality: dict[str, int] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)
    interrupted: bool = False


def _mime_of(item: Input) -> str:
    return item.mime if isinstance(item, Media) else "text/plain"


def _load(found: FoundFile) -> tuple[Input, str]:
    """The file as a ge2 input (type from its content) and its MIME type."""
    item = load(found.path)
    if isinstance(item, Text):
        name = os.path.basename(found.path)
        mime = media.mime_from_extension(name) or "text/plain"
        item = Text(item.text, title=name, provenance=item.provenance)
        return item, mime
    return item, _mime_of(item)


def _chunks(files: Sequence[FoundFile], max_files: int, max_bytes: int) -> list[list[FoundFile]]:
    out: list[list[FoundFile]] = []
    current: list[FoundFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_files or size + f.size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        out.append(current)
    return out


def _embed_chunk(
    embedder: Embedder, items: list[tuple[FoundFile, Input, str, str]], report: IndexReport
) -> list[tuple[FoundFile, str, str, list[Piece]]]:
    """Embed a chunk of files; inputs the core rejects are skipped, API failures isolated."""
    todo = list(items)
    while todo:
        try:
            pieces = embedder.embed_pieces([t[1] for t in todo], task="document")
            return [(f, sha, mime, p) for (f, _, sha, mime), p in zip(todo, pieces, strict=True)]
        except InputError as exc:
            if exc.index is None or not 0 <= exc.index < len(todo):
                raise
            bad = todo.pop(exc.index)
            report.skipped.append(Skipped(bad[0].path, exc.problem))
        except EmbeddingError:
            if len(todo) == 1:
                raise
            # Find the failing file(s); the others come back from the cache at no cost.
            out = []
            for single in todo:
                try:
                    out.extend(_embed_chunk(embedder, [single], report))
                except EmbeddingError as exc:
                    reason = str(exc.failures[0].error) if exc.failures else str(exc)
                    report.failed.append(Skipped(single[0].path, reason))
            return out
    return []


def index_files(
    store: Store,
    embedder: Embedder,
    changes: Changes,
    *,
    files_per_commit: int = 50,
    bytes_per_commit: int = 64 * 1024 * 1024,
    on_progress: Callable[[int, IndexReport], None] | None = None,
) -> IndexReport:
    """Apply ``changes`` to the store, committing after every chunk of files.

    Deleted files go first, then re-stamped ones, then the files to embed, a chunk at a
    time; each file's old pieces are replaced only once its new ones are in hand. On
    Ctrl-C the report comes back with ``interrupted`` set and the store holds every file
    finished so far.
    """
    report = IndexReport()
    changed = {f.path for f in changes.changed}
    try:
        records = changes.records
        for path in changes.deleted:
            store.remove(path, records.get(path))
        for f in changes.touched:
            store.touch(f, records.get(f.path))
        for chunk in _chunks(changes.to_embed, files_per_commit, bytes_per_commit):
            loaded: list[tuple[FoundFile, Input, str, str]] = []
            for f in chunk:
                try:
                    item, mime = _load(f)
                    sha = sha256_file(f.path)
                except InputError as exc:
                    report.skipped.append(Skipped(f.path, exc.problem))
                    continue
                except OSError as exc:
                    report.skipped.append(Skipped(f.path, f"unreadable ({exc.strerror or exc})"))
                    continue
                loaded.append((f, item, sha, mime))
            done = _embed_chunk(embedder, loaded, report)
            for f, sha, mime, pieces in done:
                rec = records.get(f.path)
                n = store.replace(f, sha, mime, pieces, previous=rec, new=rec is None)
                report.embedded_files += 1
                report.pieces += n
                for piece in pieces:
                    mod = piece.input.modality
                    report.pieces_by_modality[mod] = report.pieces_by_modality.get(mod, 0) + 1
            # A changed file that can no longer be embedded must not keep its stale pieces.
            stored = {d[0].path for d in done}
            for f in chunk:
                if f.path in changed and f.path not in stored:
                    store.remove(f.path, records.get(f.path))
            if on_progress:
                on_progress(len(chunk), report)
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def timed() -> Callable[[], float]:
    """A stopwatch: call the result for the seconds since ``timed()``."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


__all__ = [
    "CACHE_FILE",
    "CONFIG_FILE",
    "Changes",
    "FoundFile",
    "Hit",
    "IndexReport",
    "IndexedFile",
    "Skipped",
    "Store",
    "StoreConfig",
    "StoreError",
    "describe_location",
    "detect_changes",
    "index_files",
    "sha256_file",
    "walk",
]
