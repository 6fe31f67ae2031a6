"""The index's pure parts: folder walk, change detection, the store's bookkeeping, the job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import ge2
from ge2.embedder import Piece
from ge2.index import (
    CONFIG_FILE,
    FoundFile,
    IndexedFile,
    Store,
    StoreError,
    describe_location,
    detect_changes,
    index_files,
    sha256_file,
    walk,
)
from ge2.store import FileEntry


def _write(path: Path, text: str = "hello world") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- walk ----------------------------------------------------------------------------------


def test_walk_skips_hidden_excluded_and_the_store(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    a = _write(root / "a.txt")
    b = _write(root / "sub" / "b.md")
    _write(root / ".hidden.txt")
    _write(root / ".git" / "config")
    _write(root / "store" / "embeddings.sqlite")
    _write(root / "notes.tmp")
    found = walk([root], exclude_dirs=[root / "store"], exclude=["*.tmp"])
    assert [f.path for f in found] == [str(a), str(b)]
    assert found[0].size == len("hello world") and found[0].mtime_ns > 0


def test_walk_takes_named_files_even_hidden_and_dedupes(tmp_path: Path) -> None:
    hidden = _write(tmp_path / ".secret-notes.txt")
    other = _write(tmp_path / "x" / "y.txt")
    found = walk([hidden, tmp_path / "x", other])
    assert [f.path for f in found] == sorted([str(hidden), str(other)])


def test_walk_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        walk([tmp_path / "nope"])


def test_walk_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    root = tmp_path / "r"
    _write(root / "a.txt")
    os.symlink(root, root / "loop")
    assert [Path(f.path).name for f in walk([root])] == ["a.txt"]


# -- change detection ----------------------------------------------------------------------


def _rec(f: FoundFile, sha: str, pieces: int = 1, present: int = 1) -> IndexedFile:
    return IndexedFile(f.path, sha, f.size, f.mtime_ns, pieces, present)


def test_detect_changes_sorts_every_case(tmp_path: Path) -> None:
    root = tmp_path / "root"
    new = FoundFile(str(root / "new.txt"), 5, 1)
    same = FoundFile(str(root / "same.txt"), 5, 1)
    touched = FoundFile(str(root / "touched.txt"), 5, 2)
    edited = FoundFile(str(root / "edited.txt"), 6, 2)
    partial = FoundFile(str(root / "partial.txt"), 5, 1)
    indexed = {
        same.path: _rec(same, "s1"),
        touched.path: IndexedFile(touched.path, "t1", 5, 1, 1, 1),
        edited.path: IndexedFile(edited.path, "e1", 5, 1, 1, 1),
        partial.path: _rec(partial, "p1", pieces=3, present=2),
        str(root / "gone.txt"): IndexedFile(str(root / "gone.txt"), "g", 1, 1, 1, 1),
        str(tmp_path / "elsewhere" / "kept.txt"): IndexedFile("k", "k", 1, 1, 1, 1),
    }
    hashes = {touched.path: "t1", edited.path: "e2"}
    hashed: list[str] = []

    def hasher(path: str) -> str:
        hashed.append(path)
        return hashes[path]

    ch = detect_changes([new, same, touched, edited, partial], indexed, [root], hasher=hasher)
    assert ch.new == [new]
    assert ch.unchanged == [same]
    assert ch.touched == [touched]
    assert ch.changed == [edited, partial]
    assert ch.deleted == [str(root / "gone.txt")]  # the other root's file is left alone
    assert hashed == [touched.path]  # the size differs for edited: no hash needed
    assert [f.path for f in ch.to_embed] == sorted([new.path, edited.path, partial.path])


def test_detect_changes_root_prefix_is_not_a_parent(tmp_path: Path) -> None:
    """/data/a must not claim /data/ab/x as its own."""
    indexed = {str(tmp_path / "ab" / "x.txt"): IndexedFile("x", "x", 1, 1, 1, 1)}
    ch = detect_changes([], indexed, [tmp_path / "a"])
    assert ch.deleted == []


def test_sha256_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "a.txt", "abc")
    assert sha256_file(str(p)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_describe_location() -> None:
    assert describe_location({"pieces": 1}) == ""
    assert describe_location({"pieces": 3, "page_start": 7, "page_end": 12}) == "pages 7-12"
    assert describe_location({"pieces": 2, "page_start": 3, "page_end": 3}) == "page 3"
    assert describe_location({"pieces": 2, "start_s": 120.0, "end_s": 240.0}) == "2:00-4:00"
    assert describe_location({"pieces": 2, "start_s": 3600, "end_s": 3725}) == "1:00:00-1:02:05"
    assert describe_location({"pieces": 2, "char_start": 0, "char_end": 900}) == "chars 0-900"
    assert describe_location({"pieces": 2, "piece": 1}) == "piece 2/2"


# -- the store -----------------------------------------------------------------------------


def _piece(text: str, vector: list[float], **prov: Any) -> Piece:
    return Piece(ge2.Text(text, provenance=prov), vector, 0)


def _entry(f: FoundFile, sha: str, pieces: list[Piece]) -> FileEntry:
    return FileEntry(f.path, f.size, f.mtime_ns, sha, "text/plain", pieces)


def test_store_records_files_and_refuses_mismatches(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    f = FoundFile(str(tmp_path / "a.txt"), 11, 5)
    with Store.open(folder, dimensions=4) as store:
        assert store.config.dimensions == 4 and not store.config.offline
        store.write(
            [
                _entry(
                    f,
                    "sha-a",
                    [
                        _piece("one", [1, 0, 0, 0], char_start=0, char_end=3),
                        _piece("two", [0, 1, 0, 0], char_start=3, char_end=6),
                    ],
                )
            ]
        )
        rec = store.files()[f.path]
        assert (rec.sha256, rec.pieces, rec.present, rec.complete) == ("sha-a", 2, 2, True)
        hits = store.search([0, 1, 0, 0], k=1)
        assert hits[0].path == f.path and hits[0].where == "chars 3-6"
        assert hits[0].payload["snippet"] == "two" and hits[0].payload["mime"] == "text/plain"
        # Replacing drops the old pieces; touching keeps the content and updates the mtime.
        store.write([_entry(f, "sha-b", [_piece("three", [0, 0, 1, 0])])])
        store.touch(f.path, 11, 9)
        rec = store.files()[f.path]
        assert (rec.sha256, rec.present, rec.mtime_ns) == ("sha-b", 1, 9)
        assert store.search([0, 0, 1, 0], k=1)[0].payload["mtime_ns"] == 9
        store.remove(f.path, rec)
        assert store.files() == {} and store.count() == 0
    assert (folder / CONFIG_FILE).is_file()
    with pytest.raises(StoreError, match="4-dimension vectors, you asked for 8"):
        Store.open(folder, dimensions=8)
    with pytest.raises(StoreError, match="offline emulator"):
        Store.open(folder, offline=True)
    Store.open(folder).close()  # no options: the store's own settings


def test_store_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    _write(tmp_path / "important.txt")
    with pytest.raises(StoreError, match="not a ge2 store"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match="not a ge2 store"):
        Store.open(tmp_path / "missing", create=False)


def test_one_writer_at_a_time_while_searches_go_on(tmp_path: Path) -> None:
    f = FoundFile(str(tmp_path / "a.txt"), 1, 1)
    with Store.open(tmp_path / "s", dimensions=4) as writer:
        writer.write([_entry(f, "v1", [_piece("x", [1, 0, 0, 0])])])
        with pytest.raises(StoreError, match="in use"):
            Store.open(tmp_path / "s")
        with Store.open(tmp_path / "s", create=False, writable=False) as reader:
            assert reader.search([1, 0, 0, 0], k=1)[0].path == f.path


def test_a_partly_written_file_is_incomplete(tmp_path: Path) -> None:
    f = FoundFile(str(tmp_path / "a.txt"), 1, 1)
    with Store.open(tmp_path / "s", dimensions=4) as store:
        store.write([_entry(f, "v1", [_piece("x", [1, 0, 0, 0]), _piece("y", [0, 1, 0, 0])])])
        ids = store._pieces.search().select(["id"]).limit(1).to_arrow()["id"].to_pylist()
        store._pieces.delete(f"id = '{ids[0]}'")  # as if cut off mid-write
        assert not store.files()[f.path].complete


# -- the job with a stand-in embedder -----------------------------------------------------


class _FakeEmbedder:
    """Embeds text to a fixed vector; rejects inputs whose text says 'reject'."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed_pieces(self, inputs: list[Any], *, task: str) -> list[list[Piece]]:
        self.calls.append(len(inputs))
        for i, item in enumerate(inputs):
            if isinstance(item, ge2.Text) and "reject" in item.text:
                raise ge2.InputError("rejected for the test", index=i, item=item.label)
        return [[Piece(item, [1.0, 0.0, 0.0, 0.0], i)] for i, item in enumerate(inputs)]


def test_index_files_commits_in_chunks_and_skips_bad_files(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for i in range(5):
        _write(root / f"f{i}.txt", f"file {i}")
    _write(root / "bad.txt", "please reject me")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02\xff" * 10)
    found = walk([root])
    emb = _FakeEmbedder()
    with Store.open(tmp_path / "s", dimensions=4) as store:
        changes = detect_changes(found, store.files(), [root])
        progress: list[int] = []
        report = index_files(
            store,
            emb,
            changes,
            files_per_commit=2,  # type: ignore[arg-type]
            on_progress=lambda n, r: progress.append(n),
        )
        assert report.embedded_files == 5 and report.pieces == 5
        assert sorted(Path(s.path).name for s in report.skipped) == ["bad.txt", "blob.bin"]
        assert progress == [2, 2, 2, 1]
        assert len(store.files()) == 5
        # A file that changes into something unusable loses its stale pieces.
        _write(root / "f0.txt", "now reject this one")
        changes = detect_changes(walk([root]), store.files(), [root])
        assert [Path(f.path).name for f in changes.changed] == ["f0.txt"]
        index_files(store, emb, changes)  # type: ignore[arg-type]
        assert str(root / "f0.txt") not in store.files()


def test_index_files_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for i in range(6):
        _write(root / f"f{i}.txt", f"file {i}")

    class _Interrupting(_FakeEmbedder):
        def embed_pieces(self, inputs: list[Any], *, task: str) -> list[list[Piece]]:
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().embed_pieces(inputs, task=task)

    with Store.open(tmp_path / "s", dimensions=4) as store:
        changes = detect_changes(walk([root]), store.files(), [root])
        report = index_files(store, _Interrupting(), changes, files_per_commit=2)  # type: ignore[arg-type]
        assert report.interrupted and report.embedded_files == 4
        assert sorted(Path(p).name for p in store.files()) == [f"f{i}.txt" for i in range(4)]
