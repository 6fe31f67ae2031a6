"""A persistent, content-addressed embedding cache in SQLite (WAL), safe across processes.

Keys hash the model, the task as sent and the input's bytes (see ``ge2.contents``). Each
entry keeps the largest vector ever fetched for it: a smaller size is served from it (the
re-normalised prefix, which is what the API returns), a larger one is fetched again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

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


def default_path() -> Path:
    """``$GE2_CACHE_DIR`` or the XDG cache folder, ``~/.cache/ge2/embeddings.sqlite``."""
    base = os.environ.get("GE2_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ge2"
    )
    return Path(base) / "embeddings.sqlite"


class EmbeddingCache:
    """Vectors by key. Thread-safe; several processes may share one file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute(_SCHEMA)
            self._conn.commit()

    def get_many(self, keys: Iterable[str], min_dims: int) -> dict[str, np.ndarray]:
        """The stored vectors with at least ``min_dims`` values, by key (misses are absent)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT key, dims, vector FROM embeddings "
                    f"WHERE key IN ({marks}) AND dims >= ?",
                    (*chunk, min_dims),
                ).fetchall()
                for key, _dims, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Store vectors, keeping whichever of old and new is larger."""
        if not vectors:
            return
        now = time.time()
        rows = [
            (key, int(vec.shape[0]), np.asarray(vec, dtype=np.float32).tobytes(), now)
            for key, vec in vectors.items()
        ]
        with self._lock:
            self._conn.executemany(
                "INSERT INTO embeddings (key, dims, vector, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET dims=excluded.dims, vector=excluded.vector, "
                "created=excluded.created WHERE excluded.dims > embeddings.dims",
                rows,
            )
            self._conn.commit()

    def __bool__(self) -> bool:
        # An empty cache is still a cache: ``cache or default`` must not drop it.
        return True

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM embeddings")
            self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"
