"""The durable record of Batch API jobs: one SQLite file (WAL) in the state folder.

Every job is written here, with the key of every item it carries, BEFORE it is submitted,
and each step after (file uploaded, job created, state seen, results collected) is one
transaction. A process killed at any point leaves a record the next run can finish from:
a ``submitting`` job is looked up by its display name before anything is re-sent, and the
items of a live job are never sent again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .usage import BATCH_PRICE_FACTOR

#: Local states. ``submitting``: recorded, maybe not created; the API's states follow.
SUBMITTING = "submitting"
PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"  # the API says so; results not yet collected
COLLECTED = "collected"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
ABANDONED = "abandoned"  # recorded but never created (killed before the create call)
LIVE = frozenset({SUBMITTING, PENDING, RUNNING, SUCCEEDED})
ENDED_BADLY = frozenset({FAILED, CANCELLED, EXPIRED})

#: Item states within a job.
SENT = "sent"
DONE = "done"
ITEM_FAILED = "failed"
RELEASED = "released"  # its job failed, expired or was cancelled: pending for the next submit

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        name TEXT,
        state TEXT NOT NULL,
        mode TEXT NOT NULL,
        model TEXT NOT NULL,
        dims INTEGER NOT NULL,
        file_name TEXT,
        items INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        error TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        owner TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS items (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        modality TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (job_id, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS items_key ON items (key)",
)


@dataclass(frozen=True)
class JobRecord:
    """One job as the state file knows it (what ``ge2 batch list`` shows)."""

    id: str
    name: str | None
    state: str
    mode: str
    model: str
    dims: int
    file_name: str | None
    items: int
    tokens: int
    cost_usd: float
    error: str | None
    created: float
    updated: float
    done: int = 0
    failed: int = 0

    @property
    def live(self) -> bool:
        return self.state in LIVE

    @property
    def online_cost_usd(self) -> float:
        """What the same items would have cost through the online path (twice the batch)."""
        return self.cost_usd / BATCH_PRICE_FACTOR


@dataclass(frozen=True)
class ItemRecord:
    """One request of a job: its position (the inline answer's index) and cache key."""

    seq: int
    key: str
    modality: str
    tokens: int
    status: str
    error: str | None = None


def process_id() -> str:
    """``host:pid`` of this process, recorded as the owner of a job it is submitting."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _job_record(row: tuple[Any, ...]) -> JobRecord:
    (job_id, name, state, mode, model, dims, file_name, items, tokens, cost, error, c, u) = row[:13]
    return JobRecord(
        job_id,
        name,
        state,
        mode,
        model,
        int(dims),
        file_name,
        int(items),
        int(tokens),
        float(cost),
        error,
        float(c),
        float(u),
        done=int(row[13] or 0),
        failed=int(row[14] or 0),
    )


class BatchState:
    """The jobs and items of one state folder. Thread-safe; processes share it via WAL."""

    FILENAME = "batch-jobs.sqlite"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / self.FILENAME
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        try:
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")  # a job record must survive
                self._conn.execute("PRAGMA busy_timeout=30000")
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                self._conn.commit()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ConfigurationError(
                f"{self.path} is not a readable ge2 batch state file ({exc}). Fix: restore it "
                "from a backup, or move it aside to start afresh (the jobs it recorded are "
                "then not resumed, and their items may be submitted and billed again)"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writes (each one transaction) --------------------------------------------------

    def record(
        self,
        job_id: str,
        *,
        mode: str,
        model: str,
        dims: int,
        items: Sequence[tuple[str, str, int]],
        cost_usd: float,
    ) -> None:
        """A new job in state ``submitting``, with its items (key, modality, tokens)."""
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO jobs (id, name, state, mode, model, dims, file_name, items, tokens, "
                "cost_usd, error, created, updated, owner) VALUES (?, NULL, ?, ?, ?, ?, NULL, ?, "
                "?, ?, NULL, ?, ?, ?)",
                (
                    job_id,
                    SUBMITTING,
                    mode,
                    model,
                    dims,
                    len(items),
                    sum(t for _k, _m, t in items),
                    cost_usd,
                    now,
                    now,
                    process_id(),
                ),
            )
            self._conn.executemany(
                "INSERT INTO items (job_id, seq, key, modality, tokens, status) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, seq, k, m, t, SENT) for seq, (k, m, t) in enumerate(items)],
            )

    def update(
        self,
        job_id: str,
        *,
        state: str | None = None,
        name: str | None = None,
        file_name: str | None = None,
        error: str | None = None,
    ) -> None:
        """Change a job's fields; a job that ended badly releases its unfinished items."""
        sets = ["updated = ?"]
        args: list[object] = [time.time()]
        for column, value in (
            ("state", state),
            ("name", name),
            ("file_name", file_name),
            ("error", error),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._lock, self._conn:
            self._conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))
            if state in ENDED_BADLY or state == ABANDONED:
                self._conn.execute(
                    "UPDATE items SET status = ? WHERE job_id = ? AND status = ?",
                    (RELEASED, job_id, SENT),
                )

    def finish(
        self, job_id: str, done: Iterable[int], failed: dict[int, str], missing_error: str
    ) -> None:
        """Results collected: items ``done``, ``failed`` (seq -> why), the rest missing."""
        with self._lock, self._conn:
            self._conn.executemany(
                "UPDATE items SET status = ?, error = NULL WHERE job_id = ? AND seq = ?",
                [(DONE, job_id, s) for s in done],
            )
            self._conn.executemany(
                "UPDATE items SET status = ?, error = ? WHERE job_id = ? AND seq = ?",
                [(ITEM_FAILED, why, job_id, s) for s, why in failed.items()],
            )
            self._conn.execute(
                "UPDATE items SET status = ?, error = ? WHERE job_id = ? AND status = ?",
                (ITEM_FAILED, missing_error, job_id, SENT),
            )
            self._conn.execute(
                "UPDATE jobs SET state = ?, updated = ? WHERE id = ?",
                (COLLECTED, time.time(), job_id),
            )

    # -- reads --------------------------------------------------------------------------

    def submitting_elsewhere(self, job_id: str) -> bool:
        """Whether a job still being submitted belongs to another running process here.

        Such a record is not stale: its process may be creating the job right now.
        """
        with self._lock:
            row = self._conn.execute("SELECT owner FROM jobs WHERE id = ?", (job_id,)).fetchone()
        owner = str(row[0]) if row and row[0] else ""
        host, _, pid = owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def jobs(self, ids: Iterable[str] | None = None) -> list[JobRecord]:
        """Every job (oldest first), or those with the given local ids or API names."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT j.id, j.name, j.state, j.mode, j.model, j.dims, j.file_name, j.items, "
                "j.tokens, j.cost_usd, j.error, j.created, j.updated, "
                "SUM(i.status = 'done'), SUM(i.status = 'failed') "
                "FROM jobs j LEFT JOIN items i ON i.job_id = j.id "
                "GROUP BY j.id ORDER BY j.created, j.id"
            ).fetchall()
        out = [_job_record(row) for row in rows]
        if ids is None:
            return out
        wanted = set(ids)
        return [j for j in out if j.id in wanted or j.name in wanted]

    def job(self, id_or_name: str) -> JobRecord | None:
        found = self.jobs([id_or_name])
        return found[0] if found else None

    def items(self, job_id: str) -> list[ItemRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, key, modality, tokens, status, error FROM items "
                "WHERE job_id = ? ORDER BY seq",
                (job_id,),
            ).fetchall()
        return [ItemRecord(*row) for row in rows]

    def live_jobs_for(self, keys: Iterable[str], min_dims: int) -> dict[str, str]:
        """key -> live job id, for keys a live job of at least ``min_dims`` already carries."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        marks_live = ",".join("?" * len(LIVE))
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = self._conn.execute(
                    "SELECT i.key, j.id FROM items i JOIN jobs j ON j.id = i.job_id "
                    f"WHERE i.key IN ({','.join('?' * len(chunk))}) AND i.status = 'sent' "
                    f"AND j.state IN ({marks_live}) AND j.dims >= ?",
                    (*chunk, *sorted(LIVE), min_dims),
                ).fetchall()
                for key, job_id in rows:
                    found.setdefault(key, job_id)
        return found

    def failures_for(self, keys: Iterable[str]) -> dict[str, tuple[bool, str]]:
        """key -> (its whole job ended badly, why), for keys whose latest attempt failed."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[bool, str]] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = self._conn.execute(
                    "SELECT i.key, i.status, i.error, j.name, j.id, j.state FROM items i "
                    "JOIN jobs j ON j.id = i.job_id "
                    f"WHERE i.key IN ({','.join('?' * len(chunk))}) ORDER BY j.created",
                    chunk,
                ).fetchall()
                for key, status, error, name, job_id, state in rows:
                    if status == ITEM_FAILED:
                        found[key] = (False, f"{error} (batch job {name or job_id})")
                    elif status == RELEASED:
                        found[key] = (True, f"batch job {name or job_id} ended {state}")
                    else:
                        found.pop(key, None)
        return found
