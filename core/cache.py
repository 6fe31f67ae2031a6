"""A persistent, content-addressed embedding cache in SQLite (WAL), safe across processes.

Keys hash the model, the task as sent and the input's bytes (see ``ge2.contents``). Each
entry keeps the largest vector ever fetched for it: a smaller size is served from it (the
re-normalised prefix, which is what the API returns), a larger one is fetched again.

The cache is an accelerator, never a point of failure: a corrupt or unreadable file is moved
aside (``embeddings.sqlite.corrupt-<time>``) with one warning and a fresh one started; any
other database error degrades to cache misses; a stored vector that is damaged (wrong
length, not finite, not unit norm) is dropped and fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

logger = logging.getLogger("ge2")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY,
    dims INTEGER NOT NULL,
    vector BLOB NOT NULL,
    created REAL NOT NULL
)
"""
#: SQLite caps a statement's parameters; look keys up in chunks below it.
_CHUNK = 500
#: Every stored vector is the API's unit vector: further than this from norm 1, it is damaged.
NORM_TOLERANCE = 1e-3
#: SQLite result codes that mean the file itself is unusable (not merely busy or locked).
_BROKEN_CODES = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_CANTOPEN"})
_BROKEN_WORDS = ("not a database", "malformed", "unable to open", "no such column", "no such table")


def default_path() -> Path:
    """``$GE2_CACHE_DIR`` or the XDG cache folder, ``~/.cache/ge2/embeddings.sqlite``."""
    base = os.environ.get("GE2_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ge2"
    )
    return Path(base) / "embeddings.sqlite"


def _is_broken(exc: sqlite3.Error) -> bool:
    """True when the error says the file is corrupt, not a cache, or cannot be opened."""
    if getattr(exc, "sqlite_errorname", None) in _BROKEN_CODES:
        return True
    text = str(exc).lower()
    return any(word in text for word in _BROKEN_WORDS)


def _connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the cache file and prove it is one: raises ``sqlite3.Error`` if not."""
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute(_SCHEMA)
        conn.execute("SELECT key, dims, vector, created FROM embeddings LIMIT 1").fetchall()
        conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def valid_vector(blob: object, dims: object, min_dims: int) -> np.ndarray | None:
    """The stored vector if it is whole and sound, else None.

    Sound means: its byte length matches its recorded size, that size covers ``min_dims``,
    every value is finite and its norm is 1 (ge2 stores the API's unit vectors only).
    """
    if not isinstance(blob, bytes) or not isinstance(dims, int) or dims < max(1, min_dims):
        return None
    if len(blob) != dims * 4:
        return None
    vec = np.frombuffer(blob, dtype=np.float32)
    if not np.isfinite(vec).all():
        return None
    if abs(float(np.linalg.norm(vec.astype(np.float64))) - 1.0) > NORM_TOLERANCE:
        return None
    return vec


class EmbeddingCache:
    """Vectors by key. Thread-safe; several processes may share one file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        with self._lock:
            self._conn: sqlite3.Connection | None = self._open()

    # -- opening and healing ---------------------------------------------------------------

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(message, *args)

    def _open(self) -> sqlite3.Connection | None:
        """A connection to a sound cache file: the existing one, or a fresh one after moving
        a broken file aside; None (run without a cache) when neither can be had."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return _connect(self.path)
        except OSError as exc:
            self._warn_once(
                "off", "ge2 cache %s cannot be created (%s); running without it", self.path, exc
            )
            return None
        except sqlite3.Error as exc:
            if not _is_broken(exc):
                self._warn_once(
                    "off", "ge2 cache %s is unusable (%s); running without it", self.path, exc
                )
                return None
            return self._heal(exc)

    def _heal(self, cause: sqlite3.Error) -> sqlite3.Connection | None:
        """Move a broken cache file (and its WAL files) aside and start a fresh one."""
        try:  # another process may have healed it since we looked
            return _connect(self.path)
        except sqlite3.Error:
            pass
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            os.replace(self.path, aside)
            for side in ("-wal", "-shm"):
                sidecar = self.path.with_name(self.path.name + side)
                if sidecar.exists():
                    with contextlib.suppress(OSError):
                        os.replace(sidecar, aside.with_name(aside.name + side))
            conn = _connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            self._warn_once(
                "off",
                "ge2 cache %s is unusable (%s) and cannot be replaced (%s); running without it",
                self.path,
                cause,
                exc,
            )
            return None
        logger.warning(
            "ge2 cache %s was unusable (%s): moved it to %s and started a fresh cache",
            self.path,
            cause,
            aside.name,
        )
        return conn

    def _failed(self, exc: sqlite3.Error, doing: str) -> None:
        """A database error mid-run: heal a broken file, otherwise warn once and go on."""
        if _is_broken(exc):
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
            self._conn = self._heal(exc)
            return
        self._warn_once(
            doing, "ge2 cache %s: %s failed (%s); treating it as a miss", self.path, doing, exc
        )

    # -- reading and writing ---------------------------------------------------------------

    def get_many(self, keys: Iterable[str], min_dims: int) -> dict[str, np.ndarray]:
        """The stored vectors with at least ``min_dims`` values, by key (misses are absent).

        A damaged entry is deleted and reported as a miss, so it is fetched and stored anew.
        """
        wanted = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        damaged: list[str] = []
        with self._lock:
            if self._conn is None:
                return found
            try:
                for i in range(0, len(wanted), _CHUNK):
                    chunk = wanted[i : i + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        "SELECT key, dims, vector FROM embeddings "
                        f"WHERE key IN ({marks}) AND dims >= ?",
                        (*chunk, min_dims),
                    ).fetchall()
                    for key, dims, blob in rows:
                        vec = valid_vector(blob, dims, min_dims)
                        if vec is None:
                            damaged.append(key)
                        else:
                            found[key] = vec
                if damaged:
                    self._drop(damaged)
            except sqlite3.Error as exc:
                self._failed(exc, "reading")
                return {}
        if damaged:
            logger.warning(
                "ge2 cache %s: %d damaged entr%s dropped; they will be fetched again",
                self.path,
                len(damaged),
                "y" if len(damaged) == 1 else "ies",
            )
        return found

    def _drop(self, keys: list[str]) -> None:
        assert self._conn is not None
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            self._conn.execute(f"DELETE FROM embeddings WHERE key IN ({marks})", chunk)
        self._conn.commit()

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors, keeping whichever of old and new is larger (non-finite ones never)."""
        if not vectors:
            return
        now = time.time()
        rows = []
        for key, vec in vectors.items():
            arr = np.asarray(vec, dtype=np.float32)
            if arr.ndim == 1 and arr.size and np.isfinite(arr).all():
                rows.append((key, int(arr.shape[0]), arr.tobytes(), now))
        with self._lock:
            if self._conn is None or not rows:
                return
            try:
                self._conn.executemany(
                    "INSERT INTO embeddings (key, dims, vector, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET dims=excluded.dims, vector=excluded.vector, "
                    "created=excluded.created WHERE excluded.dims > embeddings.dims",
                    rows,
                )
                self._conn.commit()
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.rollback()
                self._failed(exc, "writing")

    def __bool__(self) -> bool:
        # An empty cache is still a cache: ``cache or default`` must not drop it.
        return True

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return 0
            try:
                return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
            except sqlite3.Error as exc:
                self._failed(exc, "counting")
                return 0

    def clear(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            self._conn.execute("DELETE FROM embeddings")
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"
