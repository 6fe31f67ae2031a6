"""Haystack pipelines on ge2: real components, real stores, SDK -> HTTP -> emulator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from haystack import Document, Pipeline
from haystack.components.converters.image import ImageFileToDocument
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.components.writers import DocumentWriter
from haystack.dataclasses import ByteStream
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.utils import Secret

import ge2
from ge2 import samples
from ge2.integrations.haystack import (
    GE2DocumentEmbedder,
    GE2DocumentImageEmbedder,
    GE2TextEmbedder,
)

pytestmark = pytest.mark.e2e

DIMS = 256
MEDIA = ("red-fox.png", "lighthouse.jpg", "green-leaf.png", "birdsong.wav", "ocean-waves.mp4",
         "solar-report.pdf")  # fmt: skip
QUERIES = {
    "a fox running through snow": "red-fox.png",
    "lighthouse on a rocky coast": "lighthouse.jpg",
    "water drops on a green leaf": "green-leaf.png",
    "birdsong at dawn": "birdsong.wav",
    "waves breaking on a sandy beach": "ocean-waves.mp4",
    "solar panel energy output report": "solar-report.pdf",
}


@pytest.fixture
def emulator_env(ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Components built with their defaults find the key and the emulator in the environment."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    return ge2_emulator


def _text_documents(corpus: dict[str, Path]) -> list[Document]:
    return [
        Document(content=corpus[name].read_text(encoding="utf-8"), meta={"name": name})
        for name in ("bread-recipe.md", "volcano-notes.txt")
    ] + [
        Document(content="Tide tables for the harbour in winter.", meta={"name": "tides"}),
    ]


def _indexing(store: InMemoryDocumentStore, embedder: Any) -> Pipeline:
    pipe = Pipeline()
    pipe.add_component("embedder", embedder)
    pipe.add_component("writer", DocumentWriter(store))
    pipe.connect("embedder.documents", "writer.documents")
    return pipe


def _media_indexing(store: InMemoryDocumentStore, root: Path) -> Pipeline:
    pipe = Pipeline()
    pipe.add_component("converter", ImageFileToDocument())  # keeps the file name in meta
    pipe.add_component("embedder", GE2DocumentImageEmbedder(root_path=str(root), dimensions=DIMS))
    pipe.add_component("writer", DocumentWriter(store))
    pipe.connect("converter.documents", "embedder.documents")
    pipe.connect("embedder.documents", "writer.documents")
    return pipe


def _query(store: InMemoryDocumentStore, top_k: int = 3) -> Pipeline:
    pipe = Pipeline()
    pipe.add_component("text_embedder", GE2TextEmbedder(dimensions=DIMS))
    pipe.add_component("retriever", InMemoryEmbeddingRetriever(store, top_k=top_k))
    pipe.connect("text_embedder.embedding", "retriever.query_embedding")
    return pipe


def _top(result: dict[str, Any], key: str = "file_path") -> str:
    return result["retriever"]["documents"][0].meta[key]


def test_text_indexing_and_query_pipelines(emulator_env: Any, corpus: dict[str, Path]) -> None:
    store = InMemoryDocumentStore()
    docs = _text_documents(corpus)
    out = _indexing(store, GE2DocumentEmbedder(dimensions=DIMS)).run(
        {"embedder": {"documents": docs}}
    )
    assert out["writer"]["documents_written"] == len(docs)
    assert all(len(d.embedding) == DIMS for d in store.filter_documents())
    # one request for all three documents, not one per document
    assert emulator_env.stats["requests"] == 1

    query = _query(store)
    assert _top(query.run({"text_embedder": {"text": "sourdough bread flour"}}), "name") == (
        "bread-recipe.md"
    )
    found = query.run({"text_embedder": {"text": "volcano lava and ash"}})
    assert _top(found, "name") == "volcano-notes.txt"
    assert found["text_embedder"]["meta"]["usage"]["items"] == 1


def test_media_pipeline_text_query_finds_each_medium(
    emulator_env: Any, corpus: dict[str, Path]
) -> None:
    store = InMemoryDocumentStore()
    root = corpus["red-fox.png"].parent
    out = _media_indexing(store, root).run(
        {"converter": {"sources": [corpus[n] for n in MEDIA]}}, include_outputs_from={"embedder"}
    )
    embedded = out["embedder"]["documents"]
    assert [d.meta["file_path"] for d in embedded] == list(MEDIA)
    assert [d.meta["embedding_source"]["type"] for d in embedded] == [
        "image", "image", "image", "audio", "video", "pdf",
    ]  # fmt: skip
    query = _query(store)
    for text, expected in QUERIES.items():
        assert _top(query.run({"text_embedder": {"text": text}})) == expected, text


def test_pdf_page_and_blob_documents(emulator_env: Any, corpus: dict[str, Path]) -> None:
    store = InMemoryDocumentStore()
    pdf = str(corpus["solar-report.pdf"])
    docs = [
        Document(meta={"file_path": pdf, "page_number": 1}),
        Document(meta={"file_path": pdf, "page_number": 2}),
        Document(
            blob=ByteStream(samples.jpeg(description="a yellow taxi in city traffic")),
            meta={"file_path": "taxi.jpg"},  # the blob wins over the path
        ),
    ]
    _indexing(store, GE2DocumentImageEmbedder(dimensions=DIMS)).run(
        {"embedder": {"documents": docs}}
    )
    query = _query(store)
    top = query.run({"text_embedder": {"text": "battery storage evening peak demand"}})
    assert top["retriever"]["documents"][0].meta["page_number"] == 2
    top = query.run({"text_embedder": {"text": "yellow taxi traffic"}})
    assert top["retriever"]["documents"][0].meta["embedding_source"] == {
        "type": "image",
        "blob": True,
    }


def test_long_pdf_becomes_one_document_per_piece(emulator_env: Any) -> None:
    pages = [f"page {i} is about topic{i} and nothing else" for i in range(1, 10)]
    doc = Document(blob=ByteStream(samples.pdf(pages), mime_type="application/pdf"))
    out = GE2DocumentImageEmbedder(dimensions=DIMS).run([doc])["documents"]
    assert len(out) == 2  # 9 pages > 6 per input: pages 1-6 and 7-9
    assert [(d.meta["page_start"], d.meta["page_end"]) for d in out] == [(1, 6), (7, 9)]
    assert [d.meta["split_id"] for d in out] == [0, 1]
    assert {d.meta["source_id"] for d in out} == {doc.id}
    assert [d.meta["page_number"] for d in out] == [1, 7]
    assert len({d.id for d in out}) == 2 and all(len(d.embedding) == DIMS for d in out)

    store = InMemoryDocumentStore()
    store.write_documents(out)
    top = _query(store).run({"text_embedder": {"text": "topic8"}})
    assert top["retriever"]["documents"][0].meta["page_start"] == 7


def test_pipelines_round_trip_through_yaml(emulator_env: Any, corpus: dict[str, Path]) -> None:
    index = f"ge2-{uuid.uuid4()}"  # stores with one index name share their documents
    root = corpus["red-fox.png"].parent
    media_yaml = _media_indexing(InMemoryDocumentStore(index=index), root).dumps()
    query_yaml = _query(InMemoryDocumentStore(index=index)).dumps()
    assert "test-key" not in media_yaml + query_yaml
    assert "GEMINI_API_KEY" in query_yaml  # the key travels as the name of its variable

    # haystack_integrations is on Haystack's default allowlist: no allowed_modules needed.
    assert "haystack_integrations.components.embedders.ge2." in media_yaml
    media = Pipeline.loads(media_yaml)
    media.run({"converter": {"sources": [corpus[n] for n in MEDIA]}})
    query = Pipeline.loads(query_yaml)
    assert query.dumps() == query_yaml
    assert _top(query.run({"text_embedder": {"text": "a fox running through snow"}})) == (
        "red-fox.png"
    )


async def test_run_async(emulator_env: Any, corpus: dict[str, Path]) -> None:
    store = InMemoryDocumentStore()
    docs = _text_documents(corpus)
    media = [Document(meta={"file_path": str(corpus[n])}) for n in MEDIA]
    text_out = await GE2DocumentEmbedder(dimensions=DIMS).run_async(docs)
    media_out = await GE2DocumentImageEmbedder(dimensions=DIMS).run_async(media)
    store.write_documents(text_out["documents"] + media_out["documents"])
    assert text_out["meta"]["usage"]["items"] == len(docs)

    query = _query(store)
    result = await query.run_async({"text_embedder": {"text": "birdsong at dawn"}})
    assert _top(result).endswith("birdsong.wav")
    sync = GE2TextEmbedder(dimensions=DIMS).run("birdsong at dawn")["embedding"]
    assert (await GE2TextEmbedder(dimensions=DIMS).run_async("birdsong at dawn"))[
        "embedding"
    ] == pytest.approx(sync)


def test_qdrant_store(ge2_emulator: Any, corpus: dict[str, Path]) -> None:
    from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    # explicit settings instead of the environment: the key as a token, the URL as a parameter
    settings = {"api_key": Secret.from_token("test-key"), "api_base_url": ge2_emulator.url}
    store = QdrantDocumentStore(":memory:", embedding_dim=DIMS, similarity="cosine")
    texts = GE2DocumentEmbedder(dimensions=DIMS, **settings).run(_text_documents(corpus))
    media = GE2DocumentImageEmbedder(dimensions=DIMS, **settings).run(
        [Document(meta={"file_path": str(corpus[n])}) for n in MEDIA]
    )
    store.write_documents(texts["documents"] + media["documents"])
    assert store.count_documents() == 3 + len(MEDIA)

    pipe = Pipeline()
    pipe.add_component("text_embedder", GE2TextEmbedder(dimensions=DIMS, **settings))
    pipe.add_component("retriever", QdrantEmbeddingRetriever(store, top_k=2))
    pipe.connect("text_embedder.embedding", "retriever.query_embedding")
    found = pipe.run({"text_embedder": {"text": "white lighthouse at sunset"}})
    assert found["retriever"]["documents"][0].meta["file_path"].endswith("lighthouse.jpg")
    found = pipe.run({"text_embedder": {"text": "sourdough bread with starter"}})
    assert found["retriever"]["documents"][0].meta["name"] == "bread-recipe.md"


def test_bad_documents_raise_before_any_request(emulator_env: Any) -> None:
    good = Document(content="a fine document")
    with pytest.raises(ValueError, match=r"Document '.*': no text to embed"):
        GE2DocumentEmbedder(dimensions=DIMS).run([good, Document(content=None)])
    with pytest.raises(ValueError, match="no media to embed"):
        GE2DocumentImageEmbedder(dimensions=DIMS).run([Document(content="text only")])
    with pytest.raises(ValueError, match="unknown file type"):
        GE2DocumentImageEmbedder(dimensions=DIMS).run([Document(blob=ByteStream(b"\x00\x9f" * 50))])
    too_long = Document(content="word " * 40_000)
    with pytest.raises(ge2.InputError, match=r"over the model's limits.*Fix: shorten it"):
        GE2DocumentEmbedder(dimensions=DIMS, overflow="error").run([good, too_long])
    assert emulator_env.stats["requests"] == 0


def test_skipped_documents_are_reported_and_the_rest_kept(emulator_env: Any) -> None:
    docs = [
        Document(content="first good document about foxes"),
        Document(content=None, meta={"note": "empty"}),
        Document(content="word " * 40_000),  # over the limit, with overflow="error"
        Document(content="second good document about bread"),
    ]
    out = GE2DocumentEmbedder(dimensions=DIMS, overflow="error", raise_on_failure=False).run(docs)
    assert [d.id for d in out["documents"]] == [d.id for d in docs]  # order and ids kept
    assert [d.embedding is not None for d in out["documents"]] == [True, False, False, True]
    failed = {f["document_id"]: f["error"] for f in out["meta"]["failures"]}
    assert set(failed) == {docs[1].id, docs[2].id}
    assert "no text to embed" in failed[docs[1].id]
    assert "over the model's limits" in failed[docs[2].id]

    # the default overflow="split" embeds the long one (pieces averaged into one vector)
    split = GE2DocumentEmbedder(dimensions=DIMS).run([docs[2]])["documents"][0]
    assert len(split.embedding) == DIMS


def test_api_failures_keep_what_was_embedded(emulator_env: Any) -> None:
    # The emulator refuses audio over 1 s (as the API does past its limit): a 400 for one item.
    emulator_env.configure(max_audio_seconds=1)
    docs = [
        Document(blob=ByteStream(samples.png(description="a red kite"))),
        Document(blob=ByteStream(samples.audio(3.0), mime_type="audio/wav")),
        Document(blob=ByteStream(b"unsupported \x00\xff" * 20)),
        Document(blob=ByteStream(samples.jpeg(description="a blue boat"))),
    ]
    out = GE2DocumentImageEmbedder(dimensions=DIMS, raise_on_failure=False).run(docs)
    assert [d.embedding is not None for d in out["documents"]] == [True, False, False, True]
    errors = {f["document_id"]: f["error"] for f in out["meta"]["failures"]}
    assert "at most 1 s" in errors[docs[1].id]
    assert "unknown file type" in errors[docs[2].id]

    with pytest.raises(ge2.EmbeddingError) as info:
        GE2DocumentImageEmbedder(dimensions=DIMS).run([docs[0], docs[1], docs[3]])
    assert [v is not None for v in info.value.vectors] == [True, False, True]


async def test_a_partial_failure_keeps_split_pieces_in_run_and_run_async(
    emulator_env: Any,
) -> None:
    # The emulator refuses audio over 1 s; the 9-page PDF is split into two pieces.
    emulator_env.configure(max_audio_seconds=1)
    pages = [f"page {i} is about topic{i}" for i in range(1, 10)]
    docs = [
        Document(blob=ByteStream(samples.pdf(pages), mime_type="application/pdf")),
        Document(blob=ByteStream(samples.audio(3.0), mime_type="audio/wav")),
        Document(blob=ByteStream(samples.png(description="a red kite"))),
    ]
    comp = GE2DocumentImageEmbedder(dimensions=DIMS, raise_on_failure=False)
    outs = [comp.run(docs), await comp.run_async(docs)]
    for out in outs:
        got = [(d.meta.get("split_id"), d.embedding is not None) for d in out["documents"]]
        assert got == [(0, True), (1, True), (None, False), (None, True)]
        assert out["documents"][1].meta["source_id"] == docs[0].id
        assert [f["document_id"] for f in out["meta"]["failures"]] == [docs[1].id]
    assert [d.embedding for d in outs[0]["documents"]] == [
        d.embedding for d in outs[1]["documents"]
    ]


@pytest.mark.parametrize("image_size", [None, (64, 64)])
def test_broken_media_is_an_input_error_naming_the_document(
    emulator_env: Any, tmp_path: Path, image_size: tuple[int, int] | None
) -> None:
    """Bad bytes, a damaged image, a pixel bomb or a missing file: ``ge2.InputError`` naming
    the Document's id, before any request (not a library's exception or ``input #1``)."""
    good = Document(blob=ByteStream(samples.png()))
    cut = samples.pdf(["one page"])
    broken = {
        "bad-bytes": Document(id="bad-bytes", blob=ByteStream(b"\x00\x9f" * 50)),
        "cut-png": Document(id="cut-png", blob=ByteStream(samples.png()[:60])),
        "bomb": Document(id="bomb", blob=ByteStream(samples.huge_png(20000, 20000))),
        "cut-pdf": Document(
            id="cut-pdf", blob=ByteStream(cut[: len(cut) // 2]), meta={"page_number": 1}
        ),
        "missing": Document(id="missing", meta={"file_path": str(tmp_path / "gone.png")}),
    }
    embedder = GE2DocumentImageEmbedder(dimensions=DIMS, image_size=image_size)
    for doc_id, doc in broken.items():
        with pytest.raises(ge2.InputError) as err:
            embedder.run([good, doc])
        assert str(err.value).startswith(f"Document {doc_id!r}"), str(err.value)
        assert err.value.fix, doc_id
    assert emulator_env.stats["requests"] == 0
    # raise_on_failure=False: the same Documents are listed by id, the good one embedded.
    lenient = GE2DocumentImageEmbedder(
        dimensions=DIMS, image_size=image_size, raise_on_failure=False
    )
    out = lenient.run([good, *broken.values()])
    assert out["documents"][0].embedding is not None
    assert [f["document_id"] for f in out["meta"]["failures"]] == list(broken)
