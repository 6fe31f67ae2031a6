"""LanceDB end to end: real tables on disk -> GE2EmbeddingFunction -> SDK -> HTTP -> emulator.

The emulator's vectors are content-derived, not semantic: queries share words with a row's
text or with a file's own description (PNG/JPEG/WAV metadata, a PDF's text layer), so the
nearest row is determined by the content and the assertions are exact.
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

lancedb = pytest.importorskip("lancedb")
from lancedb.embeddings import get_registry  # noqa: E402
from lancedb.pydantic import LanceModel, Vector  # noqa: E402

from ge2.integrations.lancedb import GE2EmbeddingFunction, add_pieces  # noqa: E402

pytestmark = pytest.mark.e2e

SECRET = "AIza-e2e-secret-must-not-reach-disk"
MEDIA = ["red-fox.png", "lighthouse.jpg", "green-leaf.png", "solar-report.pdf", "birdsong.wav"]
DOCS = [
    "a recipe for sourdough bread with flour water salt and starter",
    "field notes about a volcano eruption with lava and ash clouds",
]


@pytest.fixture
def emu_env(ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the SDK's own environment variables at the emulator, as a user's shell would."""
    env = {"GOOGLE_GEMINI_BASE_URL": ge2_emulator.url, "GEMINI_API_KEY": SECRET}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _table(path: Path, name: str = "items", **settings: Any) -> Any:
    fn = get_registry().get("gemini-embedding-2").create(dimensions=256, **settings)

    class Item(LanceModel):
        source: str = fn.SourceField()
        vector: Vector(fn.ndims()) = fn.VectorField()  # type: ignore[valid-type]

    return lancedb.connect(path).create_table(name, schema=Item)


def _top(table: Any, query: Any, k: int = 1) -> list[str]:
    return [row["source"] for row in table.search(query).limit(k).to_list()]


def _sent_texts(emulator: Any) -> list[str]:
    return [
        text
        for entry in emulator.stats["request_log"]
        for content in entry.get("texts", [])
        for text in content
    ]


def test_text_rows_are_documents_and_search_is_a_query(
    emu_env: dict[str, str], ge2_emulator: Any, tmp_path: Path
) -> None:
    table = _table(tmp_path / "db")
    table.add([{"source": text} for text in DOCS])
    assert _top(table, "sourdough bread recipe") == [DOCS[0]]
    assert _top(table, "volcano lava") == [DOCS[1]]
    texts = _sent_texts(ge2_emulator)
    assert any(t.startswith("title: none | text: a recipe for sourdough") for t in texts)
    assert "task: search result | query: sourdough bread recipe" in texts


def test_media_sources_share_the_space_with_text(
    emu_env: dict[str, str], corpus: dict[str, Path], tmp_path: Path
) -> None:
    table = _table(tmp_path / "db")
    table.add([{"source": text} for text in DOCS])
    table.add([{"source": str(corpus[name])} for name in MEDIA[:3]])
    table.add([{"source": f"file://{corpus[name]}"} for name in MEDIA[3:]])
    assert table.count_rows() == len(DOCS) + len(MEDIA)
    assert _top(table, "red fox running through snow") == [str(corpus["red-fox.png"])]
    assert _top(table, "solar panel energy output") == [f"file://{corpus['solar-report.pdf']}"]
    # Query by media: a Path, bytes, a PIL image (re-encoded, so not byte-identical).
    assert _top(table, corpus["birdsong.wav"]) == [f"file://{corpus['birdsong.wav']}"]
    buf = io.BytesIO()
    PILImage.open(corpus["lighthouse.jpg"]).convert("RGB").save(buf, format="PNG")
    assert _top(table, buf.getvalue()) == [str(corpus["lighthouse.jpg"])]
    assert _top(table, PILImage.open(corpus["green-leaf.png"])) == [str(corpus["green-leaf.png"])]


def test_bytes_sources_in_a_binary_column(
    emu_env: dict[str, str], corpus: dict[str, Path], tmp_path: Path
) -> None:
    fn = GE2EmbeddingFunction.create(dimensions=256)

    class Photo(LanceModel):
        name: str
        image: bytes = fn.SourceField()
        vector: Vector(fn.ndims()) = fn.VectorField()  # type: ignore[valid-type]

    table = lancedb.connect(tmp_path / "db").create_table("photos", schema=Photo)
    names = ["red-fox.png", "lighthouse.jpg", "green-leaf.png"]
    table.add([{"name": n, "image": corpus[n].read_bytes()} for n in names])
    hits = table.search("red fox running through snow").limit(1).select(["name"]).to_list()
    assert hits[0]["name"] == "red-fox.png"


REOPEN = textwrap.dedent(
    """
    import json, sys
    import lancedb
    import ge2.integrations.lancedb  # registers "gemini-embedding-2" with LanceDB

    table = lancedb.connect(sys.argv[1]).open_table("items")   # no embedding function passed
    conf = table.embedding_functions["vector"]

    def top(query):
        return table.search(query).limit(1).to_list()[0]["source"]

    print(json.dumps({
        "function": type(conf.function).__name__,
        "config": conf.function.safe_model_dump(),
        "count": table.count_rows(),
        "fox": top("red fox running through snow"),
        "bread": top("sourdough bread recipe"),
    }))
    """
)


def test_reopened_in_a_new_process_searches_without_the_function(
    emu_env: dict[str, str], ge2_emulator: Any, corpus: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "db"
    table = _table(db, quota={"requests_per_minute": 6000}, cache=str(tmp_path / "cache.sqlite"))
    table.add([{"source": t} for t in DOCS] + [{"source": str(corpus[n])} for n in MEDIA])
    metadata = json.dumps({k.decode(): v.decode() for k, v in table.schema.metadata.items()})
    assert "api_key" not in metadata and SECRET not in metadata
    for f in db.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"API key written to {f}"

    before = ge2_emulator.stats["requests"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env.update(emu_env)
    run = subprocess.run(
        [sys.executable, "-c", REOPEN, str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["function"] == "GE2EmbeddingFunction"
    assert got["config"] == {
        "dimensions": 256,
        "quota": {"requests_per_minute": 6000},
        "cache": str(tmp_path / "cache.sqlite"),
    }
    assert got["count"] == len(DOCS) + len(MEDIA)
    assert got["fox"] == str(corpus["red-fox.png"])
    assert got["bread"] == DOCS[0]
    assert ge2_emulator.stats["requests"] > before  # the new process really asked the emulator


def test_n_rows_give_n_distinct_vectors_at_the_chosen_size(
    emu_env: dict[str, str], ge2_emulator: Any, tmp_path: Path
) -> None:
    texts = [f"note number {i} about topic {word}" for i, word in enumerate("abcdefghij")]
    table = _table(tmp_path / "db")
    before = ge2_emulator.stats["items"]
    table.add([{"source": t} for t in texts])
    assert ge2_emulator.stats["items"] - before == len(texts)
    assert table.schema.field("vector").type.list_size == 256
    vectors = np.asarray([row["vector"] for row in table.to_arrow().to_pylist()])
    assert vectors.shape == (len(texts), 256)
    sims = vectors @ vectors.T
    assert sims[~np.eye(len(texts), dtype=bool)].max() < 0.999
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sizes = {d for e in ge2_emulator.stats["request_log"] for d in e["output_dimensionality"]}
    assert sizes == {256}  # asked for the size it needs, not 3072


def test_bad_input_is_named_and_the_table_is_unchanged(
    emu_env: dict[str, str], ge2_emulator: Any, corpus: dict[str, Path], tmp_path: Path
) -> None:
    # LanceDB runs the function inside its Arrow reader, so table.add re-raises as a
    # RuntimeError carrying ge2's message; add_pieces embeds first and raises ge2's own.
    table = _table(tmp_path / "db", max_retries=0)
    table.add([{"source": t} for t in DOCS])
    requests = ge2_emulator.stats["requests"]
    bad = [{"source": str(corpus["red-fox.png"])}, {"source": "photos/missing.png"}]
    with pytest.raises(RuntimeError, match=r"input #1 photos/missing\.png: no such file"):
        table.add(bad)
    with pytest.raises(ge2.InputError, match=r"input #1 photos/missing\.png: no such file"):
        add_pieces(table, [corpus["red-fox.png"], "photos/missing.png"])
    assert ge2_emulator.stats["requests"] == requests  # refused before sending

    ge2_emulator.configure(fail_every=1, fail_status=503)
    try:
        with pytest.raises(RuntimeError, match=r"1 of 1 inputs failed.*input #0.*503"):
            table.add([{"source": "arrives while the service is down"}])
        with pytest.raises(ge2.EmbeddingError) as info:
            add_pieces(table, ["arrives while the service is down"])
        assert info.value.failures[0].index == 0
    finally:
        ge2_emulator.configure(fail_every=None)
    assert table.count_rows() == len(DOCS)
    assert _top(table, "volcano lava") == [DOCS[1]]


def test_long_sources_pool_into_one_row_or_split_with_add_pieces(
    emu_env: dict[str, str], tmp_path: Path
) -> None:
    fn = GE2EmbeddingFunction.create(dimensions=256)

    class Piece(LanceModel):
        source: str = fn.SourceField()
        vector: Vector(fn.ndims()) = fn.VectorField()  # type: ignore[valid-type]
        shelf: str | None = None
        piece: int | None = None
        pieces: int | None = None
        page_start: int | None = None
        page_end: int | None = None
        char_start: int | None = None

    db = lancedb.connect(tmp_path / "db")
    pdf = tmp_path / "handbook.pdf"
    samples.pdf([f"chapter {i} text" for i in range(1, 11)], path=pdf)
    pooled = db.create_table("pooled", schema=Piece)
    pooled.add([{"source": str(pdf)}])  # 10 pages > 6: split, mean of the pieces, one row
    assert pooled.count_rows() == 1

    table = db.create_table("pieces", schema=Piece)
    first = "glacier ice melt over the northern mountains. " * 700
    second = "desert sand dunes under a burning sun. " * 700
    added = add_pieces(table, [pdf, first + second], rows=[{"shelf": "a"}, {"shelf": "b"}])
    rows = table.to_arrow().to_pylist()
    assert added == len(rows) >= 4
    pages = sorted((r["page_start"], r["page_end"]) for r in rows if r["shelf"] == "a")
    assert pages == [(1, 6), (7, 10)]
    assert all(r["source"] == str(pdf) for r in rows if r["shelf"] == "a")
    texts = [r for r in rows if r["shelf"] == "b"]
    assert texts[0]["char_start"] == 0 and all(r["pieces"] == len(texts) for r in texts)
    assert all(r["source"] in first + second for r in texts)  # each row holds its piece's text
    hit = table.search("desert sand dunes").limit(1).to_list()[0]
    assert hit["shelf"] == "b" and hit["char_start"] > len(first) // 2
    assert table.search("chapter 9 text").limit(1).to_list()[0]["page_start"] == 7


async def test_async_connection_embeds_on_add_and_search(
    emu_env: dict[str, str], corpus: dict[str, Path], tmp_path: Path
) -> None:
    _table(tmp_path / "db")  # created with the function; re-opened below through the async API
    db = await lancedb.connect_async(str(tmp_path / "db"))
    table = await db.open_table("items")
    await table.add([{"source": DOCS[0]}, {"source": str(corpus["red-fox.png"])}])
    assert await table.count_rows() == 2
    hits = await (await table.search("red fox running through snow")).limit(1).to_list()
    assert hits[0]["source"] == str(corpus["red-fox.png"])


def test_hybrid_search_combines_full_text_and_ge2_vectors(
    emu_env: dict[str, str], corpus: dict[str, Path], tmp_path: Path
) -> None:
    from lancedb.index import FTS

    table = _table(tmp_path / "db")
    order = "order XJ-9921 shipped to Lisbon"
    table.add([{"source": order}, {"source": "order shipped late to Porto"}])
    table.add([{"source": str(corpus["red-fox.png"])}])
    table.create_index("source", config=FTS())
    hybrid = table.search("XJ-9921", query_type="hybrid").limit(3).to_list()
    assert hybrid[0]["source"] == order
    assert "_relevance_score" in hybrid[0]  # LanceDB's reranker fused both lists


def test_base_url_and_a_var_key_without_any_environment(ge2_emulator: Any, tmp_path: Path) -> None:
    get_registry().set_var("ge2_e2e_key", SECRET)
    table = _table(tmp_path / "db", base_url=ge2_emulator.url, api_key="$var:ge2_e2e_key")
    table.add([{"source": text} for text in DOCS])
    assert _top(table, "volcano lava") == [DOCS[1]]
    stored = table.schema.metadata[b"embedding_functions"].decode()
    assert '"api_key": "$var:ge2_e2e_key"' in stored and SECRET not in stored
    assert ge2_emulator.stats["items"] == len(DOCS) + 1


def test_add_pieces_refuses_a_name_that_is_not_utf8_before_any_request(
    emu_env: dict[str, str], ge2_emulator: Any, tmp_path: Path
) -> None:
    """The source column is UTF-8 text in Arrow: the name is named, nothing is sent."""
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(raw, "wb") as fh:
        fh.write(samples.png())
    table = _table(tmp_path / "db")
    with pytest.raises(ge2.InputError, match=r"input #0 source .*caf\\\\xe9\.png.*not UTF-8"):
        add_pieces(table, [os.fsdecode(raw)])
    with pytest.raises(ge2.InputError, match=r"input #1 source .*lone surrogate"):
        add_pieces(table, ["fine text", "half a pair \ud83d"])
    assert ge2_emulator.stats["requests"] == 0 and table.count_rows() == 0
