"""GE2Embeddings end to end: LangChain's standard suite, three vector stores, media, errors.

Everything goes adapter -> ge2.Embedder -> google-genai -> HTTP -> the emulator, whose
vectors pull media toward the descriptions ``ge2.samples`` writes into their metadata; so
"a text query finds the fox picture" is a deterministic check of the whole path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google import genai
from google.genai import types
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from langchain_qdrant import QdrantVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

import ge2
from ge2 import samples
from ge2.emulator import Emulator
from ge2.integrations.langchain import GE2Embeddings

pytestmark = pytest.mark.e2e

DIMS = 256
TEXTS = [
    "a recipe for sourdough bread with flour water and salt",
    "field notes about a volcano eruption with lava and ash",
]


# -- LangChain's own integration suite, unmodified, against a module-wide emulator -------


@pytest.fixture(scope="module", autouse=True)
def _suite_emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        TestGE2EmbeddingsStandard.url = emu.url
        yield emu


class TestGE2EmbeddingsStandard(EmbeddingsIntegrationTests):
    url = ""

    @property
    def embeddings_class(self) -> type[GE2Embeddings]:
        return GE2Embeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"base_url": self.url, "api_key": "test", "dimensions": DIMS}


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def lc(ge2_emulator: Emulator) -> GE2Embeddings:
    return GE2Embeddings(base_url=ge2_emulator.url, api_key="test", dimensions=DIMS)


def _media(corpus: dict[str, Path]) -> list[Path]:
    return [corpus["red-fox.png"], corpus["solar-report.pdf"], corpus["birdsong.wav"]]


def _top(store: VectorStore, query: str) -> Document:
    return store.similarity_search(query, k=1)[0]


def _assert_finds_media(store: VectorStore) -> None:
    """Text queries land on an image, a PDF, an audio clip and a text, in one store."""
    fox = _top(store, "a red fox running through snow")
    assert fox.metadata["modality"] == "image"
    assert fox.metadata["source"].endswith("red-fox.png")
    report = _top(store, "solar panel energy output and battery storage")
    assert report.metadata["modality"] == "pdf"
    assert report.metadata["source"].endswith("solar-report.pdf")
    bird = _top(store, "birdsong in a spring garden")
    assert bird.metadata["source"].endswith("birdsong.wav")
    assert _top(store, "sourdough bread flour").page_content == TEXTS[0]


# -- the Embeddings contract ---------------------------------------------------------------


def test_documents_and_queries_use_their_tasks(lc: GE2Embeddings, ge2_emulator: Emulator) -> None:
    lc.embed_documents(["red fox"])
    lc.embed_query("red fox")
    texts = [str(entry.get("texts")) for entry in ge2_emulator.stats["request_log"]]
    assert "title: none | text: red fox" in texts[0]
    assert "task: search result | query: red fox" in texts[1]


def test_n_texts_give_n_distinct_unit_vectors(lc: GE2Embeddings) -> None:
    vecs = lc.embed_documents(["red fox", "blue whale", "green leaf"])
    assert len(vecs) == 3 and all(len(v) == DIMS for v in vecs)
    assert len({tuple(v) for v in vecs}) == 3
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


async def test_async_twins_match_sync(lc: GE2Embeddings) -> None:
    assert np.allclose(await lc.aembed_documents(TEXTS), lc.embed_documents(TEXTS), atol=1e-6)
    assert np.allclose(await lc.aembed_query("lava"), lc.embed_query("lava"), atol=1e-6)


def test_sdk_environment_is_honoured(
    ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ge2_emulator.configure(api_keys={"env-key"})
    monkeypatch.setenv("GEMINI_API_KEY", "env-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    emb = GE2Embeddings(dimensions=DIMS)
    assert len(emb.embed_query("hello")) == DIMS
    assert emb.google_api_key is None  # the key stayed with the SDK, not on the model


def test_existing_client_and_embedder_are_reused(
    ge2_emulator: Emulator, embedder: ge2.Embedder
) -> None:
    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=ge2_emulator.url))
    assert len(GE2Embeddings(client=client, dimensions=DIMS).embed_query("hi")) == DIMS
    shared = GE2Embeddings(embedder=embedder, dimensions=128)
    assert len(shared.embed_documents(["hi"])[0]) == 128
    assert embedder.usage.items >= 1  # the caller's embedder did the work


# -- media in the same space ---------------------------------------------------------------


def test_media_methods_embed_each_kind(lc: GE2Embeddings, corpus: dict[str, Path]) -> None:
    image = lc.embed_image([str(corpus["red-fox.png"]), corpus["lighthouse.jpg"].read_bytes()])
    audio = lc.embed_audio([str(corpus["birdsong.wav"])])
    video = lc.embed_video([str(corpus["ocean-waves.mp4"])])
    pdf = lc.embed_pdf([str(corpus["solar-report.pdf"])])
    mixed = lc.embed_media([ge2.Mixed(["a fox", ge2.Image(corpus["red-fox.png"])])])
    for vecs in (image, audio, video, pdf, mixed):
        assert all(len(v) == DIMS for v in vecs)
    assert len(image) == 2 and image[0] != image[1]
    query = lc.embed_query("ocean waves breaking on a sandy beach")
    scores = {
        name: float(np.dot(query, v[0]))
        for name, v in {"audio": audio, "video": video, "pdf": pdf}.items()
    }
    assert max(scores, key=scores.__getitem__) == "video"


async def test_async_media_methods(lc: GE2Embeddings, corpus: dict[str, Path]) -> None:
    fox = str(corpus["red-fox.png"])
    assert await lc.aembed_image([fox]) == lc.embed_image([fox])
    assert len((await lc.aembed_audio([str(corpus["birdsong.wav"])]))[0]) == DIMS
    assert len((await lc.aembed_video([str(corpus["ocean-waves.mp4"])]))[0]) == DIMS
    assert len((await lc.aembed_pdf([str(corpus["solar-report.pdf"])]))[0]) == DIMS
    assert len(await lc.aembed_media(["text", corpus["lighthouse.jpg"]])) == 2


# -- three vector stores -------------------------------------------------------------------


def test_in_memory_store_text_and_media(lc: GE2Embeddings, corpus: dict[str, Path]) -> None:
    store = InMemoryVectorStore(lc)
    store.add_texts(TEXTS)
    ids = lc.add_media(store, _media(corpus))
    assert len(ids) == 3 and len(store.store) == 5
    _assert_finds_media(store)
    # an image query: the fox picture is nearest to itself
    hit = store.similarity_search_by_vector(lc.embed_image([str(corpus["red-fox.png"])])[0], k=1)
    assert hit[0].metadata["source"].endswith("red-fox.png")


async def test_in_memory_store_async(lc: GE2Embeddings, corpus: dict[str, Path]) -> None:
    store = InMemoryVectorStore(lc)
    await store.aadd_texts(TEXTS)
    await lc.aadd_media(store, _media(corpus))
    hits = await store.asimilarity_search("a red fox running through snow", k=1)
    assert hits[0].metadata["source"].endswith("red-fox.png")


@pytest.mark.parametrize("persist", [False, True], ids=["ephemeral", "persistent"])
def test_chroma_text_media_and_image_query(
    lc: GE2Embeddings, corpus: dict[str, Path], tmp_path: Path, persist: bool
) -> None:
    store = Chroma(
        collection_name=f"ge2-{uuid.uuid4().hex[:8]}",
        embedding_function=lc,
        persist_directory=str(tmp_path / "chroma") if persist else None,
    )
    store.add_texts(TEXTS)
    lc.add_media(store, _media(corpus))
    _assert_finds_media(store)
    # langchain-chroma's own image path calls embed_image(uris=...)
    lighthouse = str(corpus["lighthouse.jpg"])
    store.add_images([lighthouse], metadatas=[{"source": lighthouse}])
    assert _top(store, "a white lighthouse on a rocky coast").metadata["source"] == lighthouse
    by_image = store.similarity_search_by_image(uri=str(corpus["red-fox.png"]), k=1)
    assert by_image[0].metadata["source"].endswith("red-fox.png")
    assert store.similarity_search_by_image(uri=lighthouse, k=1)[0].metadata["source"] == lighthouse


@pytest.mark.parametrize("where", ["memory", "path"])
def test_qdrant_local_text_and_media(
    lc: GE2Embeddings, corpus: dict[str, Path], tmp_path: Path, where: str
) -> None:
    location = {"location": ":memory:"} if where == "memory" else {"path": str(tmp_path / "q")}
    store = QdrantVectorStore.from_texts(TEXTS, lc, collection_name="ge2", **location)
    try:
        lc.add_media(store, _media(corpus))
        _assert_finds_media(store)
        video = lc.add_media(store, [corpus["ocean-waves.mp4"]])
        hit = store.similarity_search_with_score("ocean waves breaking on a sandy beach", k=1)
        assert uuid.UUID(str(hit[0][0].metadata["_id"])) == uuid.UUID(video[0])
    finally:
        store.client.close()


# -- documents, provenance, pieces ---------------------------------------------------------


def test_documents_pointing_at_files_keep_their_content(
    lc: GE2Embeddings, corpus: dict[str, Path]
) -> None:
    store = InMemoryVectorStore(lc)
    doc = Document(
        page_content="Figure 1: the fox", metadata={"source": str(corpus["red-fox.png"]), "p": 3}
    )
    lc.add_media(store, [doc], ids=["fig-1"])
    got = store.get_by_ids(["fig-1"])[0]
    assert got.page_content == "Figure 1: the fox"
    assert got.metadata == {"source": str(corpus["red-fox.png"]), "p": 3, "modality": "image"}
    # the vector is the image's, not the caption's
    assert np.allclose(store.store["fig-1"]["vector"], lc.embed_image([doc.metadata["source"]])[0])


def test_long_input_becomes_one_document_per_piece(lc: GE2Embeddings, tmp_path: Path) -> None:
    long_text = tmp_path / "long.txt"
    long_text.write_text(
        "lorem ipsum " * 12_000 + "the zebra crossed the savanna", encoding="utf-8"
    )
    store = InMemoryVectorStore(lc)
    ids = lc.add_media(store, [long_text])
    assert len(ids) >= 2
    docs = store.get_by_ids(ids)
    assert [d.metadata["piece"] for d in docs] == list(range(len(ids)))
    assert all(d.metadata["pieces"] == len(ids) for d in docs)
    assert docs[0].metadata["char_start"] == 0
    assert docs[-1].metadata["char_end"] == len(long_text.read_text(encoding="utf-8"))
    top = _top(store, "zebra savanna")
    assert top.metadata["piece"] == len(ids) - 1 and "zebra" in top.page_content


def test_long_pdf_becomes_one_document_per_page_window(lc: GE2Embeddings, tmp_path: Path) -> None:
    pdf = tmp_path / "handbook.pdf"
    samples.pdf(
        [f"chapter {i}: notes on topic number {i}" for i in range(1, 10)]
        + ["chapter 10: the glacier melts into a turquoise lake"],
        path=pdf,
    )
    store = InMemoryVectorStore(lc)
    ids = lc.add_media(store, [pdf])
    docs = store.get_by_ids(ids)
    assert [(d.metadata["page_start"], d.metadata["page_end"]) for d in docs] == [(1, 6), (7, 10)]
    assert [d.page_content for d in docs] == [
        "handbook.pdf [pages 1-6]",
        "handbook.pdf [pages 7-10]",
    ]
    assert all(d.metadata["source"] == str(pdf) for d in docs)
    top = _top(store, "glacier turquoise lake")
    assert top.metadata["page_start"] == 7


# -- bad input and API errors --------------------------------------------------------------


def test_bad_file_fails_before_any_request(
    lc: GE2Embeddings, ge2_emulator: Emulator, corpus: dict[str, Path], tmp_path: Path
) -> None:
    blob = tmp_path / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 8)
    store = InMemoryVectorStore(lc)
    with pytest.raises(ge2.InputError, match=r"input #1 .*weights\.bin.*unknown file type"):
        lc.add_media(store, [corpus["red-fox.png"], blob])
    with pytest.raises(ge2.InputError, match=r"input #0 image .*birdsong\.wav.*not image"):
        lc.embed_image([str(corpus["birdsong.wav"])])
    assert ge2_emulator.stats["requests"] == 0 and store.store == {}


def test_over_limit_input_is_refused_or_split(ge2_emulator: Emulator) -> None:
    strict = GE2Embeddings(
        base_url=ge2_emulator.url, api_key="t", dimensions=DIMS, overflow="error"
    )
    long = "lava " * 40_000
    with pytest.raises(ge2.InputError, match=r"input #1 text 'lava lava.*over the model's limits"):
        strict.embed_documents(["short", long])
    assert ge2_emulator.stats["requests"] == 0
    lenient = GE2Embeddings(base_url=ge2_emulator.url, api_key="t", dimensions=DIMS)
    assert len(lenient.embed_documents(["short", long])) == 2  # split and pooled by the core


def test_api_error_names_the_item_and_keeps_the_rest(
    ge2_emulator: Emulator, corpus: dict[str, Path], tmp_path: Path
) -> None:
    ge2_emulator.configure(max_audio_seconds=2)  # the 3 s clip is now rejected by the API
    emb = GE2Embeddings(
        base_url=ge2_emulator.url, api_key="t", dimensions=DIMS, cache=tmp_path / "cache.sqlite"
    )
    store = InMemoryVectorStore(emb)
    items = [corpus["red-fox.png"], corpus["birdsong.wav"], corpus["lighthouse.jpg"]]
    with pytest.raises(ge2.EmbeddingError, match=r"input #1 \(audio .*birdsong\.wav") as info:
        emb.add_media(store, items)
    err = info.value
    assert [f.index for f in err.failures] == [1]
    assert isinstance(err.failures[0].error, ge2.RequestRejected)
    assert err.vectors[1] is None and len(err.vectors[0]) == len(err.vectors[2]) == DIMS
    assert store.store == {}  # nothing half-indexed
    # fixed and re-run: the two images come from the cache, only the clip is sent
    ge2_emulator.configure(max_audio_seconds=180)
    before = ge2_emulator.stats["items"]
    assert len(emb.add_media(store, items)) == 3
    assert ge2_emulator.stats["items"] - before == 1
    assert emb.embedder is not None and emb.embedder.usage.cache_hits >= 2
    emb.embedder.close()


def test_rejected_key_is_a_clear_error(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(api_keys={"right"})
    emb = GE2Embeddings(base_url=ge2_emulator.url, api_key="wrong", dimensions=DIMS)
    with pytest.raises(ge2.GE2Error, match="API key"):
        emb.embed_query("hello")
