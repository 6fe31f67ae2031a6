"""Bad input and a broken cache through the real SDK and HTTP: refused or healed, never fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2 import samples
from ge2.emulator import Emulator


def _on(emu: Emulator, **options: object) -> ge2.Embedder:
    return ge2.Embedder(base_url=emu.url, api_key="k", dimensions=256, **options)  # type: ignore[arg-type]


def test_a_pixel_bomb_is_refused_before_any_request(ge2_emulator: Emulator, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(samples.huge_png(20000, 20000))
    emb = _on(ge2_emulator)
    with pytest.raises(ge2.InputError, match=r"input #1 image '.*bomb.png': 20000x20000"):
        emb.embed(["a cat", bomb])
    assert ge2_emulator.stats["requests"] == 0
    # check() finds it, so the rest can be embedded in one call.
    items = ["a cat", bomb, ge2.Image(samples.png())]
    keep = [x for x, err in zip(items, emb.check(items), strict=True) if err is None]
    assert len(emb.embed(keep)) == 2 and ge2_emulator.stats["requests"] == 1


def test_a_corrupt_cache_file_is_rebuilt_and_used(ge2_emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"not a database" * 1000)
    first = _on(ge2_emulator, cache=path)
    vectors = first.embed(["one", "two"])
    assert ge2_emulator.stats["requests"] == 1
    first.close()
    assert len(list(tmp_path.glob("embeddings.sqlite.corrupt-*"))) == 1
    second = _on(ge2_emulator, cache=path)
    assert np.allclose(second.embed(["one", "two"]), vectors, atol=1e-6)
    assert ge2_emulator.stats["requests"] == 1 and second.usage.cache_hits == 2


def test_a_damaged_cached_vector_is_fetched_again(ge2_emulator: Emulator, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c.sqlite"
    emb = _on(ge2_emulator, cache=path)
    good = emb.embed(["a damaged entry"])
    emb.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE embeddings SET vector = zeroblob(length(vector))")
    again = _on(ge2_emulator, cache=path)
    assert np.allclose(again.embed(["a damaged entry"]), good, atol=1e-6)  # not the zeros
    assert ge2_emulator.stats["requests"] == 2
    third = _on(ge2_emulator, cache=path)
    third.embed(["a damaged entry"])
    assert ge2_emulator.stats["requests"] == 2  # the re-fetched vector was stored
