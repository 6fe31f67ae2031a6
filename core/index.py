"""``ge2 index``'s job: walk folders, detect what changed, embed it, keep the store in line.

The store itself (LanceDB tables, search) lives in :mod:`ge2.store`; this module decides
*what* to write. A run never aborts on one bad file: every per-file or per-folder
problem (a name the file system cannot give as text, permissions, decoding, splitting,
the model's limits, an image bomb) becomes a named, counted skip and the run goes on.
Paths are kept as the file system gives them (``os.fsdecode``: surrogate-escaped when
not UTF-8), stored losslessly as bytes, and printed with :func:`ge2.store.printable`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from . import media
from .embedder import Embedder, Piece
from .errors import EmbeddingError, InputError
from .inputs import Input, Media, Text, load
from .store import (
    CACHE_FILE,
    CONFIG_FILE,
    FileEntry,
    Hit,
    IndexedFile,
    Store,
    StoreConfig,
    StoreError,
    describe_location,
    printable,
)

# -- walking -------------------------------------------------------------------------------


@dataclass
class Skipped:
    """A file or folder that was not indexed, and why (``kind``: "file" or "folder")."""

    path: str
    reason: str
    kind: str = "file"


@dataclass(frozen=True)
class FoundFile:
    """A file on disk as the walk saw it (absolute path, size, mtime in ns)."""

    path: str
    size: int
    mtime_ns: int


def skip_reason(exc: BaseException) -> str:
    """Why a file was skipped, in one line, from what reading or splitting it raised."""
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"unreadable ({exc.strerror or exc})"
    if isinstance(exc, InputError):
        return f"{exc.problem}; fix: {exc.fix}" if exc.fix else exc.problem
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def walk(
    paths: Iterable[str | os.PathLike[str]],
    *,
    exclude_dirs: Sequence[str | os.PathLike[str]] = (),
    exclude: Sequence[str] = (),
    problems: list[Skipped] | None = None,
) -> list[FoundFile]:
    """Every file under ``paths``, sorted, without hidden entries or the excluded folders.

    A file named directly is always included; inside folders, names starting with ``.``
    and names matching an ``exclude`` glob are skipped, and symlinked folders are not
    followed (no loops). Folders and files that cannot be read are appended to
    ``problems`` (when given) instead of being passed over in silence. Raises
    ``FileNotFoundError`` for a path that does not exist.
    """
    skip = {os.path.realpath(d) for d in exclude_dirs}
    seen: dict[str, FoundFile] = {}

    def excluded(name: str) -> bool:
        return name.startswith(".") or any(fnmatch.fnmatch(name, pat) for pat in exclude)

    def note(path: str, exc: BaseException, kind: str) -> None:
        if problems is not None:
            problems.append(Skipped(path, _reason(exc), kind))

    def add(full: str) -> None:
        try:
            st = os.stat(full)
        except OSError as exc:
            note(full, exc, "file")
            return
        seen[full] = FoundFile(full, st.st_size, st.st_mtime_ns)

    for raw in paths:
        root = os.path.abspath(os.fspath(raw))
        if os.path.isfile(root):
            add(root)
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(f"no such file or folder: {printable(os.fspath(raw))}")
        errors: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
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
                    add(full)
                elif os.path.islink(full) and not os.path.exists(full):
                    target = printable(os.readlink(full))
                    note(full, InputError(f"broken symbolic link (its target {target} is gone)"),
                         "file")  # fmt: skip
        for exc in errors:
            note(str(exc.filename or root), exc, "folder")
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
class Changes:
    """What a run must do: embed ``new`` and ``changed``, drop ``deleted``, re-stamp ``touched``.

    ``touched`` files have a new mtime but the same content (no embedding needed).
    ``pruned`` are stored paths outside this run's roots whose folder is gone (a renamed
    or moved folder), or, with ``prune=True``, every stored path that no longer exists.
    """

    new: list[FoundFile] = field(default_factory=list)
    changed: list[FoundFile] = field(default_factory=list)
    unchanged: list[FoundFile] = field(default_factory=list)
    touched: list[FoundFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
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
    unreadable: Sequence[str] = (),
    prune: bool = False,
    exists: Callable[[str], bool] = os.path.lexists,
) -> Changes:
    """Compare the walk with the store: size+mtime first, the sha256 only when they moved.

    A path recorded in the store under one of ``roots`` but no longer on disk is deleted,
    unless it sits under an ``unreadable`` folder (it may well still be there). Paths
    under other roots are kept (several folders can share one store), except that a path
    beside a root (under the root's parent) whose folder no longer exists is pruned: its
    folder was renamed or moved. ``prune=True`` prunes every stored path that no longer
    exists. An incompletely stored file (an interrupted run) counts as changed.
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
    blind = [os.path.abspath(u) for u in unreadable]
    parents = {os.path.dirname(r) for r in root_list}
    folder_gone: dict[str, bool] = {}
    for p in sorted(indexed):
        if p in on_disk or any(_under(p, u) for u in blind):
            continue
        if any(_under(p, r) for r in root_list):
            changes.deleted.append(p)
            continue
        folder = os.path.dirname(p)
        if folder not in folder_gone:
            folder_gone[folder] = not os.path.isdir(folder)
        if (folder_gone[folder] and any(_under(p, parent) for parent in parents)) or (
            prune and not exists(p)
        ):
            changes.pruned.append(p)
    return changes


# -- the job -------------------------------------------------------------------------------


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
        name = printable(os.path.basename(found.path))  # the title goes to the API as text
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


class LoadedFile(NamedTuple):
    """A file read for embedding: as the walk saw it, as a ge2 input, its sha256 and MIME."""

    found: FoundFile
    input: Input
    sha256: str
    mime: str


_Loaded = LoadedFile


def _embed_chunk(
    embedder: Embedder, items: list[_Loaded], report: IndexReport
) -> list[tuple[LoadedFile, list[Piece]]]:
    """Embed a chunk of files; a file the core rejects or cannot process is skipped by name.

    Inputs the core rejects (``InputError`` with an index) leave the batch; API failures
    and unexpected per-file errors are isolated by retrying file by file (the files that
    did embed come back from the cache at no cost).
    """
    todo = list(items)
    while todo:
        try:
            pieces = embedder.embed_pieces([t[1] for t in todo], task="document")
            return list(zip(todo, pieces, strict=True))
        except InputError as exc:
            if exc.index is not None and 0 <= exc.index < len(todo):
                bad = todo.pop(exc.index)
                report.skipped.append(Skipped(bad[0].path, _reason(exc)))
                continue
            if len(todo) == 1:
                report.skipped.append(Skipped(todo[0][0].path, _reason(exc)))
                return []
            return _one_by_one(embedder, todo, report)
        except EmbeddingError as exc:
            if len(todo) == 1:
                reason = str(exc.failures[0].error) if exc.failures else str(exc)
                report.failed.append(Skipped(todo[0][0].path, reason))
                return []
            return _one_by_one(embedder, todo, report)
        except (KeyboardInterrupt, StoreError):
            raise
        except Exception as exc:  # a splitter or decoder failing on one file's content
            if len(todo) == 1:
                report.skipped.append(Skipped(todo[0][0].path, _reason(exc)))
                return []
            return _one_by_one(embedder, todo, report)
    return []


def _one_by_one(
    embedder: Embedder, todo: list[_Loaded], report: IndexReport
) -> list[tuple[LoadedFile, list[Piece]]]:
    out = []
    for single in todo:
        out.extend(_embed_chunk(embedder, [single], report))
    return out


def load_files(files: Sequence[FoundFile], report: IndexReport) -> list[LoadedFile]:
    """Read files as ge2 inputs (type from content, hashed); a file that cannot be read
    is a named skip in ``report``, so every writer (online, Batch API) skips alike."""
    loaded: list[LoadedFile] = []
    for f in files:
        try:
            item, mime = _load(f)
            sha = sha256_file(f.path)
        except (KeyboardInterrupt, StoreError):
            raise
        except Exception as exc:  # one file's name, permissions or content: skip it, go on
            report.skipped.append(Skipped(f.path, _reason(exc)))
            continue
        loaded.append(LoadedFile(f, item, sha, mime))
    return loaded


def store_files(
    store: Store,
    files: Sequence[FoundFile],
    embedded: Sequence[tuple[LoadedFile, list[Piece]]],
    changed: set[str] | frozenset[str],
    report: IndexReport,
) -> None:
    """Write embedded ``files`` into the store (one commit) and count them in ``report``.

    Of ``files``, the ``changed`` ones that were not embedded lose their stale pieces: a
    changed file that can no longer be embedded must not be found by its old content.
    Shared by ``index_files`` and the Batch API writer so both store files the same way.
    """
    entries = [
        FileEntry(lf.found.path, lf.found.size, lf.found.mtime_ns, lf.sha256, lf.mime, pieces)
        for lf, pieces in embedded
    ]
    report.pieces += store.write(entries)
    report.embedded_files += len(entries)
    for e in entries:
        for piece in e.pieces:
            mod = piece.input.modality
            report.pieces_by_modality[mod] = report.pieces_by_modality.get(mod, 0) + 1
    stored = {e.path for e in entries}
    stale = [f.path for f in files if f.path in changed and f.path not in stored]
    if stale:
        store.remove_many(stale)


def index_files(
    store: Store,
    embedder: Embedder | None,
    changes: Changes,
    *,
    files_per_commit: int = 50,
    bytes_per_commit: int = 64 * 1024 * 1024,
    on_progress: Callable[[int, IndexReport], None] | None = None,
) -> IndexReport:
    """Apply ``changes`` to the store, committing after every chunk of files.

    Deleted and pruned files go first, then re-stamped ones, then the files to embed, a
    chunk at a time; each file's old pieces are replaced only once its new ones are in
    hand (``embedder`` may be None when nothing is to be embedded). On Ctrl-C the
    report comes back with ``interrupted`` set and the store holds every file finished.
    """
    report = IndexReport()
    changed = {f.path for f in changes.changed}
    try:
        if changes.deleted or changes.pruned:
            store.remove_many(changes.deleted + changes.pruned)
        for f in changes.touched:
            store.touch(f.path, f.size, f.mtime_ns)
        for chunk in _chunks(changes.to_embed, files_per_commit, bytes_per_commit):
            if embedder is None:
                raise ValueError("index_files needs an embedder when there are files to embed")
            done = _embed_chunk(embedder, load_files(chunk, report), report)
            store_files(store, chunk, done, changed, report)
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
    "LoadedFile",
    "Skipped",
    "Store",
    "StoreConfig",
    "StoreError",
    "describe_location",
    "detect_changes",
    "index_files",
    "load_files",
    "sha256_file",
    "skip_reason",
    "store_files",
    "walk",
]
