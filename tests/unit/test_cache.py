"""The SQLite cache keeps the largest vector, serves smaller sizes and is shared safely."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from ge2.cache import EmbeddingCache, default_path


def unit(n: int, seed: float = 1.0) -> np.ndarray:
    """A unit vector as the embedder stores them (the cache checks the norm)."""
    vec = np.arange(1, n + 1, dtype=np.float32) * seed
    return vec / np.linalg.norm(vec)


def test_largest_size_is_kept(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    small = unit(256)
    big = unit(3072)
    cache.put_many({"k": small})
    assert cache.get_many(["k"], 128)["k"].shape == (256,)
    assert cache.get_many(["k"], 768) == {}  # a larger size is a miss
    cache.put_many({"k": big})
    cache.put_many({"k": small})  # never shrinks
    assert cache.get_many(["k"], 3072)["k"].shape == (3072,)
    assert len(cache) == 1


def test_many_keys_in_chunks(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    vecs = {f"k{i}": unit(8, i + 1) for i in range(1200)}
    cache.put_many(vecs)
    got = cache.get_many([*vecs, "missing"], 8)
    assert len(got) == 1200 and np.allclose(got["k1199"], vecs["k1199"])


def test_default_path_follows_env(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GE2_CACHE_DIR", str(tmp_path / "x"))
    assert default_path() == tmp_path / "x" / "embeddings.sqlite"


def _writer(path: str, start: int) -> None:
    cache = EmbeddingCache(path)
    for i in range(start, start + 50):
        cache.put_many({f"k{i}": unit(16, i + 1)})
    cache.close()


def test_shared_by_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    EmbeddingCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s)) for s in (0, 50, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(EmbeddingCache(path)) == 150
