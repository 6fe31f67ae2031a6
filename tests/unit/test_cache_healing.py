"""A broken cache never stops a run: moved aside and rebuilt, damaged entries re-fetched."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2.cache import EmbeddingCache


def unit(n: int, seed: float = 1.0) -> np.ndarray:
    vec = np.arange(1, n + 1, dtype=np.float32) * seed
    return vec / np.linalg.norm(vec)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_file_that_is_not_a_database_is_moved_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"this is not SQLite at all" * 100)
    with caplog.at_level(logging.WARNING, logger="ge2"):
        cache = EmbeddingCache(path)
    aside = list(tmp_path.glob("embeddings.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not SQLite")
    [warning] = _warnings(caplog)
    assert "moved it to embeddings.sqlite.corrupt-" in warning and "not a database" in warning
    cache.put_many({"k": unit(8)})
    assert set(cache.get_many(["k"], 8)) == {"k"}
    cache.close()
    assert set(EmbeddingCache(path).get_many(["k"], 8)) == {"k"}  # the fresh file persists


def test_an_unopenable_path_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.mkdir()  # a folder where the file should be: SQLite cannot open it
    cache = EmbeddingCache(path)
    cache.put_many({"k": unit(8)})
    assert set(cache.get_many(["k"], 8)) == {"k"}
    assert len(list(tmp_path.glob("embeddings.sqlite.corrupt-*"))) == 1


def test_a_foreign_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE embeddings (other TEXT)")
    cache = EmbeddingCache(path)
    cache.put_many({"k": unit(8)})
    assert set(cache.get_many(["k"], 8)) == {"k"}


def test_a_cache_that_cannot_be_created_runs_without_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="ge2"):
        cache = EmbeddingCache(blocker / "sub" / "embeddings.sqlite")  # parent is a file
    cache.put_many({"k": unit(8)})
    assert cache.get_many(["k"], 8) == {} and len(cache) == 0
    assert any("running without it" in w for w in _warnings(caplog))


def test_errors_mid_run_become_misses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many({"k": unit(8)})
    assert cache._conn is not None
    cache._conn.execute("DROP TABLE embeddings")  # as if another tool broke it mid-run
    with caplog.at_level(logging.WARNING, logger="ge2"):
        assert cache.get_many(["k"], 8) == {}
        cache.put_many({"k": unit(8)})
    assert set(cache.get_many(["k"], 8)) == {"k"}  # healed: a fresh table


def test_a_file_corrupted_mid_run_is_healed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path)
    cache.put_many({f"k{i}": unit(64, i + 1) for i in range(200)})
    cache.close()
    other = EmbeddingCache(path)
    path.write_bytes(b"\0" * 100 + b"garbage" * 20000)  # overwritten under the open handle
    for name in ("c.sqlite-wal", "c.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    got = other.get_many([f"k{i}" for i in range(200)], 64)
    other.put_many({"new": unit(64)})
    assert isinstance(got, dict)  # no exception, whatever SQLite made of it
    fresh = EmbeddingCache(path)
    fresh.put_many({"x": unit(8)})
    assert set(fresh.get_many(["x"], 8)) == {"x"}


@pytest.mark.parametrize(
    "damage",
    ["nan", "inf", "norm", "short_blob", "dims_lie"],
)
def test_damaged_vectors_are_misses_and_get_replaced(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path)
    good = unit(256)
    cache.put_many({"bad": unit(3072), "good": good})
    bad = unit(3072).copy()
    dims = 3072
    if damage == "nan":
        bad[7] = np.nan
    elif damage == "inf":
        bad[0] = np.inf
    elif damage == "norm":
        bad *= 3.0
    blob = bad.tobytes()
    if damage == "short_blob":
        blob = blob[:-6]
    if damage == "dims_lie":
        dims = 4000
    assert cache._conn is not None
    cache._conn.execute("UPDATE embeddings SET vector=?, dims=? WHERE key='bad'", (blob, dims))
    cache._conn.commit()
    with caplog.at_level(logging.WARNING, logger="ge2"):
        got = cache.get_many(["bad", "good"], 256)
    assert set(got) == {"good"} and np.allclose(got["good"], good)
    assert any("1 damaged entry dropped" in w for w in _warnings(caplog))
    # The damaged row is gone, so a smaller re-fetch is stored (the upsert keeps the larger).
    cache.put_many({"bad": unit(256)})
    assert cache.get_many(["bad"], 256)["bad"].shape == (256,)


def test_non_finite_vectors_are_never_stored(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many({"nan": np.full(8, np.nan, dtype=np.float32), "ok": unit(8)})
    assert len(cache) == 1


def test_embedder_keeps_working_on_a_corrupt_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"SQLite format 3\0" + b"\xff" * 4000)  # a header, then garbage
    emb = ge2.Embedder(api_key="unit-test", dimensions=256, cache=path)
    plan = emb._plan(["a cat"], "document")
    found, todo = emb._lookup(plan, 256)
    assert found == {} and len(todo) == 1
    emb.close()
