"""Chroma end to end: embedded PersistentClient on disk -> GE2EmbeddingFunction -> SDK -> emulator.

The emulator's vectors are content-derived, not semantic: queries here share words with a
record's text or description, or are the same image re-encoded, so the nearest record is
determined by the content and the assertions are exact.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

import ge2
from ge2 import samples

chromadb = pytest.importorskip("chromadb")
from ge2.integrations.chroma import GE2DataLoader, GE2EmbeddingFunction, add_media  # noqa: E402

pytestmark = pytest.mark.e2e

SECRET = "AIza-e2e-secret-must-not-reach-disk"
MEDIA = ["red-fox.png", "lighthouse.jpg", "green-leaf.png", "solar-report.pdf", "birdsong.wav"]
DOCS = {
    "bread": "a recipe for sourdough bread with flour water salt and starter",
    "volcano": "field notes about a volcano eruption with lava and ash clouds",
}


@pytest.fixture
def emu_env(ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the SDK's own environment variables at the emulator, as a user's shell would."""
    env = {"GOOGLE_GEMINI_BASE_URL": ge2_emulator.url, "GEMINI_API_KEY": SECRET}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _client(path: Path) -> Any:
    return chromadb.PersistentClient(path=str(path))


def _collection(client: Any, name: str = "media", **options: Any) -> Any:
    ef = GE2EmbeddingFunction(dimensions=256, max_retries=0, **options)
    return client.create_collection(name, embedding_function=ef, data_loader=GE2DataLoader())


def _reencoded(path: Path, fmt: str) -> bytes:
    buf = io.BytesIO()
    PILImage.open(path).convert("RGB").save(buf, format=fmt, quality=85)
    return buf.getvalue()


REOPEN = textwrap.dedent(
    """
    import io, json, sys
    import numpy as np
    from PIL import Image
    import chromadb
    from ge2.integrations.chroma import GE2DataLoader, GE2EmbeddingFunction

    db, corpus, leaf_jpeg = sys.argv[1:4]
    client = chromadb.PersistentClient(path=db)
    col = client.get_collection("media", data_loader=GE2DataLoader())   # no embedding_function
    ef = col.configuration["embedding_function"]

    def top(**query):
        return col.query(n_results=1, **query)["ids"][0][0]

    def as_array(path, fmt):
        buf = io.BytesIO()
        Image.open(path).convert("RGB").save(buf, format=fmt, quality=85)
        return np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    print(json.dumps({
        "function": type(ef).__name__,
        "config": ef.get_config(),
        "count": col.count(),
        "text_fox": top(query_texts=["red fox running through snow"]),
        "text_solar": top(query_texts=["solar panel energy output"]),
        "text_bread": top(query_texts=["sourdough bread recipe"]),
        "image_fox_as_jpeg": top(query_images=[as_array(corpus + "/red-fox.png", "JPEG")]),
        "image_lighthouse_as_png": top(query_images=[as_array(corpus + "/lighthouse.jpg", "PNG")]),
        "uri_leaf_jpeg": top(query_uris=[leaf_jpeg]),
        "uri_birdsong": top(query_uris=[corpus + "/birdsong.wav"]),
    }))
    """
)


def test_persisted_collection_reopens_in_a_new_process_without_the_function(
    emu_env: dict[str, str], ge2_emulator: Any, corpus: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "db"
    col = _collection(_client(db))
    col.add(ids=list(DOCS), documents=list(DOCS.values()))
    col.add(ids=MEDIA, uris=[str(corpus[name]) for name in MEDIA])
    assert col.count() == len(DOCS) + len(MEDIA)
    assert col.metadata is None or "api_key" not in json.dumps(col.metadata)
    for f in db.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"API key written to {f}"

    leaf_jpeg = tmp_path / "leaf-copy.jpg"
    leaf_jpeg.write_bytes(_reencoded(corpus["green-leaf.png"], "JPEG"))
    before = ge2_emulator.stats["requests"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env.update(emu_env)
    run = subprocess.run(
        [sys.executable, "-c", REOPEN, str(db), str(corpus["red-fox.png"].parent), str(leaf_jpeg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["function"] == "GE2EmbeddingFunction"
    assert got["config"] == {
        "model": "gemini-embedding-2",
        "dimensions": 256,
        "api_key_env_var": "GEMINI_API_KEY",
        "overflow": "error",
    }
    assert got["count"] == len(DOCS) + len(MEDIA)
    assert got["text_fox"] == "red-fox.png"
    assert got["text_solar"] == "solar-report.pdf"
    assert got["text_bread"] == "bread"
    assert got["image_fox_as_jpeg"] == "red-fox.png"
    assert got["image_lighthouse_as_png"] == "lighthouse.jpg"
    assert got["uri_leaf_jpeg"] == "green-leaf.png"
    assert got["uri_birdsong"] == "birdsong.wav"
    assert ge2_emulator.stats["requests"] > before  # the new process really asked the emulator


def test_n_documents_give_n_distinct_vectors(
    emu_env: dict[str, str], ge2_emulator: Any, tmp_path: Path
) -> None:
    texts = [f"note number {i} about topic {word}" for i, word in enumerate("abcdefghij")]
    col = _collection(_client(tmp_path / "db"))
    before = ge2_emulator.stats["items"]
    col.add(ids=[str(i) for i in range(len(texts))], documents=texts)
    assert ge2_emulator.stats["items"] - before == len(texts)
    got = col.get(include=["embeddings"])
    vectors = np.asarray(got["embeddings"])
    assert vectors.shape == (len(texts), 256)
    sims = vectors @ vectors.T
    off_diagonal = sims[~np.eye(len(texts), dtype=bool)]
    assert off_diagonal.max() < 0.999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_query_side_uses_the_query_task(emu_env: dict[str, str], ge2_emulator: Any) -> None:
    ef = GE2EmbeddingFunction(dimensions=256)
    (doc,) = ef(["red fox"])
    (query,) = ef.embed_query(["red fox"])
    texts = [
        text
        for entry in ge2_emulator.stats["request_log"]
        for content in entry.get("texts", [])
        for text in content
    ]
    assert any(t.startswith("title: none | text: red fox") for t in texts)
    assert any(t.startswith("task: search result | query: red fox") for t in texts)
    assert doc.dtype == np.float32 and query.dtype == np.float32


def test_bad_input_is_named_and_nothing_already_embedded_is_lost(
    emu_env: dict[str, str], ge2_emulator: Any, corpus: dict[str, Path], tmp_path: Path
) -> None:
    col = _collection(_client(tmp_path / "db"))
    col.add(ids=list(DOCS), documents=list(DOCS.values()))
    col.add(ids=["red-fox.png"], uris=[str(corpus["red-fox.png"])])
    requests = ge2_emulator.stats["requests"]

    missing = tmp_path / "nowhere" / "missing.png"
    with pytest.raises(ge2.InputError, match=r"input #1.*missing\.png.*no such file"):
        col.add(ids=["leaf", "ghost"], uris=[str(corpus["green-leaf.png"]), str(missing)])
    junk = tmp_path / "data.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ge2.InputError, match=r"data\.bin.*unknown file type"):
        col.add(ids=["junk"], uris=[str(junk)])
    long_pdf = tmp_path / "long-report.pdf"
    samples.pdf([f"page {i} of the long report" for i in range(1, 11)], path=long_pdf)
    with pytest.raises(
        ge2.InputError, match=r"long-report\.pdf.*over the model's limits.*add_media"
    ):
        col.add(ids=["long"], uris=[str(long_pdf)])
    with pytest.raises(ge2.InputError, match=r"input #0.*over the model's limits.*add_media"):
        col.add(ids=["essay"], documents=["word " * 40_000])
    assert ge2_emulator.stats["requests"] == requests  # all rejected before sending

    ge2_emulator.configure(fail_every=1, fail_status=503)
    with pytest.raises(ge2.EmbeddingError) as info:
        col.add(ids=["late"], documents=["arrives while the service is down"])
    assert info.value.failures[0].index == 0
    ge2_emulator.configure(fail_every=None)

    assert col.count() == len(DOCS) + 1
    assert sorted(col.get()["ids"]) == sorted([*DOCS, "red-fox.png"])
    hits = col.query(query_texts=["red fox running through snow"], n_results=1)
    assert hits["ids"][0][0] == "red-fox.png"
    data = col.get(ids=["bread", "red-fox.png"], include=["data", "uris"])
    loaded = dict(zip(data["ids"], data["data"], strict=True))
    assert loaded["bread"] is None and isinstance(loaded["red-fox.png"], ge2.Image)


def test_add_media_stores_one_record_per_piece(
    emu_env: dict[str, str], corpus: dict[str, Path], tmp_path: Path
) -> None:
    col = _collection(_client(tmp_path / "db"))
    long_txt = tmp_path / "atlas.txt"
    first = "glacier ice melt over the northern mountains. " * 700
    second = "desert sand dunes under a burning sun. " * 700
    long_txt.write_text(first + second, encoding="utf-8")
    ids = add_media(
        col,
        [long_txt, corpus["red-fox.png"]],
        ids=["atlas", "fox"],
        metadatas=[{"shelf": "geo"}, {"source": "camera roll"}],
    )
    assert ids[-1] == "fox"
    atlas = [i for i in ids if i.startswith("atlas#")]
    assert len(atlas) >= 2 and ids[: len(atlas)] == [f"atlas#{k}" for k in range(len(atlas))]
    got = col.get(ids=atlas, include=["metadatas", "documents", "uris"])
    metas = {i: m for i, m in zip(got["ids"], got["metadatas"], strict=True)}
    assert metas["atlas#0"]["char_start"] == 0
    assert metas["atlas#0"]["pieces"] == len(atlas)
    assert all(m["source"] == str(long_txt) and m["shelf"] == "geo" for m in metas.values())
    assert all(u == str(long_txt) for u in got["uris"])
    assert all(doc and doc in (first + second) for doc in got["documents"])

    hit = col.query(query_texts=["desert sand dunes"], n_results=1, include=["metadatas"])
    assert hit["metadatas"][0][0]["char_start"] > len(first) // 2
    fox = col.get(ids=["fox"], include=["metadatas", "uris"])
    assert fox["metadatas"][0] == {"source": "camera roll", "piece": 0, "pieces": 1}
    assert fox["uris"][0] == str(corpus["red-fox.png"])


def test_add_media_splits_a_long_pdf_by_pages(emu_env: dict[str, str], tmp_path: Path) -> None:
    col = _collection(_client(tmp_path / "db"))
    pdf = tmp_path / "handbook.pdf"
    samples.pdf([f"chapter {i} text" for i in range(1, 11)], path=pdf)
    ids = add_media(col, [pdf])
    assert len(ids) == 2
    metas = col.get(ids=ids, include=["metadatas"])["metadatas"]
    assert [(m["page_start"], m["page_end"]) for m in metas] == [(1, 6), (7, 10)]
    assert all(m["source"] == str(pdf) for m in metas)
    hit = col.query(query_texts=["chapter 9 text"], n_results=1)
    assert hit["ids"][0][0] == f"{pdf}#1"


def test_add_media_splits_long_audio_by_time(emu_env: dict[str, str], tmp_path: Path) -> None:
    col = _collection(_client(tmp_path / "db"))
    wav = tmp_path / "long-talk.wav"
    samples.audio(200.0, rate=8000, title="a long talk", path=wav)
    ids = add_media(col, [wav], ids=["talk"])
    assert len(ids) >= 2
    metas = col.get(ids=ids, include=["metadatas"])["metadatas"]
    spans = sorted((m["start_s"], m["end_s"]) for m in metas)
    assert spans[0][0] == 0
    assert spans[-1][1] == pytest.approx(200.0, abs=1.0)
    assert all(end - start <= ge2.limits.MAX_AUDIO_SECONDS for start, end in spans)


def test_overflow_split_mean_pools_into_one_record(emu_env: dict[str, str], tmp_path: Path) -> None:
    col = _collection(_client(tmp_path / "db"), overflow="split")
    col.add(ids=["essay"], documents=["word " * 40_000])
    assert col.count() == 1
    assert col.configuration["embedding_function"].get_config()["overflow"] == "split"


def test_a_file_name_that_is_not_utf8_is_refused_before_any_request(
    emu_env: dict[str, str], ge2_emulator: Any, tmp_path: Path
) -> None:
    """Chroma stores URIs as UTF-8 text: such a name used to be embedded (a request) and
    then fail with a UnicodeEncodeError from inside Chroma; now it is named up front."""
    folder = tmp_path / "photos"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.png")
    with open(raw, "wb") as fh:
        fh.write(samples.png())
    name = os.fsdecode(raw)
    col = _collection(_client(tmp_path / "db"))
    requests = ge2_emulator.stats["requests"]
    for call in (
        lambda: col.add(ids=["a"], uris=[name]),
        lambda: add_media(col, [name]),
        lambda: add_media(col, [name], ids=["a"]),
    ):
        with pytest.raises(
            ge2.InputError, match=r"input #0 uri .*caf\\\\xe9\.png.*0xE9.*not UTF-8"
        ):
            call()
    with pytest.raises(ge2.InputError, match=r"id .*lone surrogate.*Fix: pass ids that are UTF-8"):
        add_media(col, [str(folder)], ids=["bad\ud800"])
    assert ge2_emulator.stats["requests"] == requests and col.count() == 0
    # Searching by such a file stores nothing, so it works.
    col.add(ids=["x"], documents=["a cafe"])
    assert col.query(query_uris=[name], n_results=1)["ids"] == [["x"]]
