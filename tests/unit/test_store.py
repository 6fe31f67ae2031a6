"""The LanceDB store: ANN past a threshold, hybrid search, bad stores, disk full, pruning.

Real LanceDB tables in temporary folders; vectors are made up (no embedder, no sockets).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ge2
from ge2.embedder import Piece
from ge2.index import FoundFile, IndexedFile, Skipped, detect_changes, walk
from ge2.store import (
    CONFIG_FILE,
    MIN_ANN_ROWS,
    FileEntry,
    Store,
    StoreError,
    file_id,
    printable,
    search,
)

DIM = 32


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _entry(path: str, vectors: np.ndarray, texts: list[str] | None = None) -> FileEntry:
    texts = texts or [f"piece {i}" for i in range(len(vectors))]
    pieces = [
        Piece(ge2.Text(t), list(map(float, v)), i)
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]
    return FileEntry(path, 10, 1, f"sha-{file_id(path)}", "text/plain", pieces)


def test_ann_index_past_the_threshold_keeps_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng.standard_normal((20, DIM)))
    vectors = _unit(centres[rng.integers(0, 20, 600)] + rng.standard_normal((600, DIM)) * 0.15)
    with Store.open(tmp_path / "s", dimensions=DIM) as store:
        store.write([_entry(f"/d/f{i}.txt", vectors[i * 10 : i * 10 + 10]) for i in range(60)])
        assert store.refresh_indexes(threshold=10_000).vector_index == "none"  # below: exact
        assert not store.has_vector_index()
        done = store.refresh_indexes(threshold=100)
        assert done.vector_index == "built" and store.has_vector_index()
        queries = _unit(centres[:10] + rng.standard_normal((10, DIM)) * 0.15)
        recall = []
        for q in queries:
            exact = {h.payload["id"] for h in search(store, q, 10, exact=True)}
            ann = {h.payload["id"] for h in search(store, q, 10)}
            recall.append(len(exact & ann) / 10)
        assert np.mean(recall) >= 0.9
        # New rows after the index: still found (merged by the next refresh, or scanned).
        extra = _unit(rng.standard_normal((10, DIM)))
        store.write([_entry("/d/new.txt", extra)])
        assert search(store, extra[3], 1)[0].path == "/d/new.txt"
        assert store.refresh_indexes(threshold=100).vector_index in {"updated", "kept"}
        assert search(store, extra[3], 1)[0].path == "/d/new.txt"


def test_tiny_tables_never_train_an_index(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s", dimensions=DIM) as store:
        store.write([_entry("/a.txt", _unit(np.ones((3, DIM))))])
        assert store.refresh_indexes(threshold=1).vector_index == "none"
        assert MIN_ANN_ROWS > 3 and not store.has_vector_index()


def test_hybrid_finds_an_exact_word_the_vectors_miss(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    query = _unit(rng.standard_normal(DIM))
    near = _unit(query + rng.standard_normal((20, DIM)) * 0.3)  # close to the query
    far = _unit(-query + rng.standard_normal(DIM) * 0.3)  # far from it
    texts = [f"meeting notes number {i} about the garden" for i in range(20)]
    with Store.open(tmp_path / "s", dimensions=DIM) as store:
        store.write(
            [
                _entry("/notes/near.txt", near, texts),
                _entry("/notes/invoice.txt", far[None, :], ["invoice code ZX4471 for the pump"]),
            ]
        )
        store.refresh_indexes(threshold=10_000)
        plain = search(store, query, 5)
        assert all(h.path != "/notes/invoice.txt" for h in plain)
        hybrid = search(store, query, 5, text="ZX4471")
        assert hybrid[0].path == "/notes/invoice.txt"
        assert "text" in hybrid[0].payload["matched"].split("+")
        assert "ZX4471" in hybrid[0].payload["snippet"]
        # Filters apply to both rankings.
        assert search(store, query, 5, text="ZX4471", modality="image") == []
        only = search(store, query, 50, path_prefix="/notes/inv")
        assert [h.path for h in only] == ["/notes/invoice.txt"]


def test_old_layout_is_named_with_the_fix_and_never_wiped(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    (folder / "qdrant" / "collection").mkdir(parents=True)
    (folder / "qdrant" / "collection" / "data").write_bytes(b"points")
    (folder / CONFIG_FILE).write_text(
        json.dumps(
            {"model": "gemini-embedding-2", "dimensions": DIM, "offline": False, "format": 1}
        )
    )
    for kwargs in ({}, {"create": False, "writable": False}):
        with pytest.raises(StoreError, match="older ge2") as exc:
            Store.open(folder, **kwargs)  # type: ignore[arg-type]
        assert "--rebuild" in str(exc.value) and "no API calls" in str(exc.value)
    assert (folder / "qdrant" / "collection" / "data").exists()
    with Store.open(folder, rebuild=True) as store:
        assert store.config.format == 2 and store.config.dimensions == DIM
        assert store.drop_old_layout()
    assert not (folder / "qdrant").exists()
    assert json.loads((folder / CONFIG_FILE).read_text())["backend"] == "lancedb"


def test_damaged_table_gives_the_store_and_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    with Store.open(folder, dimensions=DIM) as store:
        store.write([_entry("/a.txt", _unit(np.ones((2, DIM))))])
    for data in (folder / "lance" / "pieces.lance" / "data").iterdir():
        data.write_bytes(b"\x00" * 64)  # as if the disk lost the file's content
    with (
        Store.open(folder, create=False, writable=False) as store,
        pytest.raises(StoreError) as exc,
    ):
        store.search(list(_unit(np.ones(DIM))), 3)
    message = str(exc.value)
    assert str(folder) in message and "--rebuild" in message and "damaged" in message
    with Store.open(folder, rebuild=True) as store:  # the fix works
        assert store.count() == 0


def test_a_full_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(tmp_path / "s", dimensions=DIM) as store:
        store.write([_entry("/kept.txt", _unit(np.ones((1, DIM))))])

        def full(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store._pieces, "add", full)
        with pytest.raises(StoreError, match="is full") as exc:
            store.write([_entry("/new.txt", _unit(np.ones((1, DIM))))])
        assert "run the same command again" in str(exc.value)
        monkeypatch.undo()
        assert list(store.files()) == ["/kept.txt"]  # what was indexed is still there


def test_store_of_another_size_or_not_a_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s", dimensions=DIM):
        pass
    with pytest.raises(StoreError, match=f"{DIM}-dimension vectors, you asked for 64"):
        Store.open(tmp_path / "s", dimensions=64)
    with pytest.raises(StoreError, match="built with gemini-embedding-2, you asked for other"):
        Store.open(tmp_path / "s", model="other")
    (tmp_path / "s" / CONFIG_FILE).write_text("{not json")
    with pytest.raises(StoreError, match=r"unreadable ge2-store\.json"):
        Store.open(tmp_path / "s")


def test_non_utf8_paths_are_stored_losslessly(tmp_path: Path) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/bad\xffname.txt"
    path = os.fsdecode(raw)
    with Store.open(tmp_path / "s", dimensions=DIM) as store:
        store.write([_entry(path, _unit(np.ones((1, DIM))))])
        assert list(store.files()) == [path]  # same string the walk produces
        hit = store.search(list(_unit(np.ones(DIM))), 1)[0]
        assert hit.path == printable(path) and hit.path.endswith("bad\\xffname.txt")
        hit.path.encode("utf-8")  # printable
        store.remove(path)
        assert store.files() == {}
    assert file_id(path) != file_id(printable(path))


# -- containment and pruning (pure parts) --------------------------------------------------


def test_unreadable_folder_is_counted_and_its_files_are_not_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "open").mkdir(parents=True)
    (root / "locked").mkdir()
    (root / "open" / "a.txt").write_text("a")
    (root / "locked" / "b.txt").write_text("b")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root ignores chmod, so fake the refusal
    problems: list[Skipped] = []
    found = walk([root], problems=problems)
    assert [Path(f.path).name for f in found] == ["a.txt"]
    assert [(Path(p.path).name, p.kind) for p in problems] == [("locked", "folder")]
    assert "Permission denied" in problems[0].reason
    stored = str(root / "locked" / "b.txt")
    indexed = {stored: IndexedFile(stored, "s", 1, 1, 1, 1)}
    changes = detect_changes(found, indexed, [root], unreadable=[problems[0].path])
    assert changes.deleted == []  # it may well still be there


def test_a_renamed_folder_is_pruned_and_prune_finds_every_gone_path(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    new = photos / "2024-trip"
    new.mkdir(parents=True)
    (new / "a.jpg").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    old_path = str(photos / "2024" / "a.jpg")  # the folder's old name
    far_gone = str(tmp_path / "gone-drive" / "b.txt")  # not beside this root
    kept = str(tmp_path / "elsewhere" / "c.txt")  # folder still there, file gone
    indexed = {p: IndexedFile(p, "s", 1, 1, 1, 1) for p in (old_path, far_gone, kept)}
    found = [FoundFile(str(new / "a.jpg"), 1, 1)]
    changes = detect_changes(found, indexed, [new])
    assert changes.pruned == [old_path] and changes.deleted == []
    changes = detect_changes(found, indexed, [new], prune=True)
    assert changes.pruned == sorted([old_path, far_gone, kept])
