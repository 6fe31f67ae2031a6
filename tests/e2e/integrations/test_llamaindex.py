"""GE2Embedding inside real LlamaIndex pipelines: SDK -> HTTP -> emulator, real vector stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings, StorageContext, VectorStoreIndex
from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import (
    BaseNode,
    Document,
    ImageDocument,
    ImageNode,
    MediaResource,
    Node,
    TextNode,
)
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient
from qdrant_client.http import models as qdrant

import ge2
from ge2.emulator import Emulator
from ge2.integrations.llamaindex import GE2Embedding

pytestmark = pytest.mark.e2e

DIMS = 256
TEXTS = {
    "volcano": "field notes about a volcano eruption lava and ash clouds",
    "bread": "a recipe for sourdough bread with flour water salt and starter",
    "tax": "how to file an annual tax return before the deadline",
}


@pytest.fixture
def embed_model(ge2_emulator: Emulator) -> GE2Embedding:
    return GE2Embedding(dimensions=DIMS, base_url=ge2_emulator.url, api_key="test-key")


@pytest.fixture
def settings_embed_model(embed_model: GE2Embedding) -> Iterator[GE2Embedding]:
    """Install the model as ``Settings.embed_model`` for one test, then put the old one back."""
    previous = Settings._embed_model
    Settings.embed_model = embed_model
    yield embed_model
    Settings._embed_model = previous


def nid(name: str) -> str:
    """A stable UUID node id (Qdrant takes only UUIDs and integers as point ids)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ge2-test/{name}"))


NAMES = {nid(n): n for n in ["birdsong", "waves", "report", *TEXTS]}


def media_nodes(corpus: dict[str, Path]) -> list[Node]:
    """Audio, video and PDF nodes with no text at all: only their media can place them."""
    return [
        Node(id_=nid("birdsong"), audio_resource=MediaResource(path=corpus["birdsong.wav"])),
        Node(id_=nid("waves"), video_resource=MediaResource(path=corpus["ocean-waves.mp4"])),
        Node(
            id_=nid("report"),
            text_resource=MediaResource(
                data=corpus["solar-report.pdf"].read_bytes(), mimetype="application/pdf"
            ),
        ),
    ]


def text_nodes() -> list[TextNode]:
    return [TextNode(id_=nid(name), text=text) for name, text in TEXTS.items()]


def top(index: VectorStoreIndex, query: str, k: int = 1) -> list[str]:
    """The names of the ``k`` best nodes for ``query``."""
    hits = index.as_retriever(similarity_top_k=k).retrieve(query)
    return [NAMES.get(hit.node.node_id, hit.node.node_id) for hit in hits]


# -- text -----------------------------------------------------------------------------------------


def test_settings_embed_model_index_and_retrieve(
    settings_embed_model: GE2Embedding, ge2_emulator: Emulator
) -> None:
    docs = [Document(text=text, id_=name) for name, text in TEXTS.items()]
    index = VectorStoreIndex.from_documents(docs)
    assert index._embed_model is settings_embed_model
    hit = index.as_retriever(similarity_top_k=1).retrieve("lava from the volcano")[0]
    assert hit.node.ref_doc_id == "volcano"
    assert len(index.vector_store.get(hit.node.node_id)) == DIMS
    assert ge2_emulator.stats["items"] == len(TEXTS) + 1  # documents + one query


async def test_async_index_and_retrieve(embed_model: GE2Embedding) -> None:
    index = VectorStoreIndex(text_nodes(), embed_model=embed_model, use_async=True)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("sourdough flour")
    assert NAMES[hits[0].node.node_id] == "bread"


def test_ingestion_pipeline_transformation(
    embed_model: GE2Embedding, corpus: dict[str, Path]
) -> None:
    docs = [Document(text=text, id_=name) for name, text in TEXTS.items()]
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=8), embed_model]
    )
    nodes = pipeline.run(documents=docs)
    assert len(nodes) == len(TEXTS)
    assert all(len(n.embedding or []) == DIMS for n in nodes)
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    assert (
        index.as_retriever(similarity_top_k=1).retrieve("tax deadline")[0].node.ref_doc_id == "tax"
    )


# -- media nodes ---------------------------------------------------------------------------------


def test_media_nodes_are_embedded_from_their_media(
    embed_model: GE2Embedding, corpus: dict[str, Path]
) -> None:
    nodes = media_nodes(corpus)
    embed_model(nodes)
    core = embed_model.embedder
    expected = core.embed(
        [
            ge2.Audio(corpus["birdsong.wav"]),
            ge2.Video(corpus["ocean-waves.mp4"]),
            ge2.Pdf(corpus["solar-report.pdf"]),
        ],
        dimensions=DIMS,
    )
    for node, vector in zip(nodes, expected, strict=True):
        assert node.embedding == pytest.approx(vector, abs=1e-6)


def test_text_query_retrieves_audio_video_and_pdf_nodes(
    embed_model: GE2Embedding, corpus: dict[str, Path], ge2_emulator: Emulator
) -> None:
    nodes = [*media_nodes(corpus), *text_nodes()]
    embed_model(nodes)
    sent = ge2_emulator.stats["items"]
    # A plain VectorStoreIndex skips nodes with no text in its constructor, so media-only
    # nodes go in with insert_nodes; their embeddings are already set and are used as is.
    index = VectorStoreIndex([], embed_model=embed_model)
    index.insert_nodes(nodes)
    assert ge2_emulator.stats["items"] == sent
    assert isinstance(index.vector_store, SimpleVectorStore)
    assert top(index, "birdsong in the garden at dawn") == ["birdsong"]
    assert top(index, "waves breaking on a sandy beach") == ["waves"]
    assert top(index, "solar panel battery storage") == ["report"]
    assert top(index, "volcano lava") == ["volcano"]


async def test_async_media_nodes_with_captions(
    embed_model: GE2Embedding, corpus: dict[str, Path]
) -> None:
    """Nodes with a neutral caption pass the index constructor; the media still decide."""
    nodes = [
        Node(
            id_="clip-a",
            text_resource=MediaResource(text="clip A"),
            audio_resource=MediaResource(path=corpus["birdsong.wav"]),
        ),
        Node(
            id_="clip-b",
            text_resource=MediaResource(text="clip B"),
            video_resource=MediaResource(path=corpus["ocean-waves.mp4"]),
        ),
    ]
    await embed_model.acall(nodes)
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    assert top(index, "ocean waves on the beach") == ["clip-b"]
    assert top(index, "birdsong at dawn") == ["clip-a"]


def test_pipeline_with_media_nodes(embed_model: GE2Embedding, corpus: dict[str, Path]) -> None:
    # LlamaIndex's ingestion cache keys nodes by their text; media-only nodes all have "",
    # so a cached pipeline would hand one node's result to another: turn the cache off.
    pipeline = IngestionPipeline(transformations=[embed_model], disable_cache=True)
    first = pipeline.run(nodes=media_nodes(corpus)[:1])
    second = pipeline.run(nodes=media_nodes(corpus)[1:2])
    assert [NAMES[n.node_id] for n in first + second] == ["birdsong", "waves"]
    assert first[0].embedding != second[0].embedding


# -- multimodal index ------------------------------------------------------------------------


def test_multimodal_vector_store_index(embed_model: GE2Embedding, corpus: dict[str, Path]) -> None:
    images = ["red-fox.png", "lighthouse.jpg", "green-leaf.png"]
    # As SimpleDirectoryReader makes them: the file name in metadata (an image document
    # with no text at all is skipped by LlamaIndex's index constructor).
    docs: list[Any] = [
        ImageDocument(image_path=str(corpus[n]), id_=n, metadata={"file_name": n}) for n in images
    ]
    docs += [Document(text=text, id_=name) for name, text in TEXTS.items()]
    index = MultiModalVectorStoreIndex.from_documents(
        docs, embed_model=embed_model, image_embed_model=embed_model
    )
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    by_text = retriever.text_to_image_retrieve("a lighthouse on the coast at sunset")
    assert isinstance(by_text[0].node, ImageNode)
    assert by_text[0].node.image_path == str(corpus["lighthouse.jpg"])
    by_image = retriever.image_to_image_retrieve(str(corpus["red-fox.png"]))
    assert by_image[0].node.image_path == str(corpus["red-fox.png"])
    assert by_image[0].score == pytest.approx(1.0, abs=1e-4)
    assert retriever.text_retrieve("sourdough bread")[0].node.ref_doc_id == "bread"


async def test_image_methods_sync_and_async(
    embed_model: GE2Embedding, corpus: dict[str, Path]
) -> None:
    path = str(corpus["green-leaf.png"])
    one = embed_model.get_image_embedding(path)
    assert await embed_model.aget_image_embedding(path) == pytest.approx(one)
    batch = embed_model.get_image_embedding_batch([path, str(corpus["red-fox.png"])])
    abatch = await embed_model.aget_image_embedding_batch([path, str(corpus["red-fox.png"])])
    assert batch[0] == pytest.approx(one) and abatch[1] == pytest.approx(batch[1])
    assert len(one) == DIMS


# -- batching and concurrency belong to the core ---------------------------------------------


async def test_embed_batch_size_reaches_the_core(ge2_emulator: Emulator) -> None:
    model = GE2Embedding(
        dimensions=DIMS, base_url=ge2_emulator.url, api_key="k", embed_batch_size=3
    )
    texts = [f"text number {i}" for i in range(7)]
    assert len(model.get_text_embedding_batch(texts)) == 7
    log = ge2_emulator.stats["request_log"]
    assert sorted(entry["contents"] for entry in log) == [1, 3, 3]
    ge2_emulator.reset_stats()
    assert len(await model.aget_text_embedding_batch([f"other {i}" for i in range(7)])) == 7
    assert sorted(e["contents"] for e in ge2_emulator.stats["request_log"]) == [1, 3, 3]


@pytest.mark.parametrize("workers", [1, 3])
def test_num_workers_is_the_core_concurrency(ge2_emulator: Emulator, workers: int) -> None:
    latency = 0.3
    ge2_emulator.configure(latency_ms=latency * 1000)
    model = GE2Embedding(
        dimensions=DIMS,
        base_url=ge2_emulator.url,
        api_key="k",
        embed_batch_size=1,
        num_workers=workers,
    )
    assert model.embedder.max_concurrency == workers
    model.get_text_embedding_batch(["alpha", "beta", "gamma"])
    stats = ge2_emulator.stats
    assert stats["requests"] == 3
    # the emulator counts calls it is answering at once: the client's real concurrency
    if workers == 1:
        assert stats["max_in_flight"] == 1  # one call at a time
    else:
        assert stats["max_in_flight"] >= 2  # calls overlap (all three unless the box stalls)


# -- a real embedded store --------------------------------------------------------------------


def test_qdrant_local_mode(embed_model: GE2Embedding, corpus: dict[str, Path]) -> None:
    client = QdrantClient(location=":memory:")
    store = QdrantVectorStore(
        collection_name="ge2",
        client=client,
        dense_config=qdrant.VectorParams(
            size=embed_model.dimensions, distance=qdrant.Distance.COSINE
        ),
    )
    nodes: list[BaseNode] = [*media_nodes(corpus), *text_nodes()]
    embed_model(nodes)
    index = VectorStoreIndex(
        [],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    index.insert_nodes(nodes)
    info = client.get_collection("ge2")
    assert info.config.params.vectors.size == DIMS  # type: ignore[union-attr]
    assert client.count("ge2").count == len(nodes)
    assert top(index, "ocean waves breaking on a beach") == ["waves"]
    assert top(index, "birdsong garden") == ["birdsong"]
    hit = index.as_retriever(similarity_top_k=1).retrieve("solar battery storage")[0]
    assert NAMES[hit.node.node_id] == "report"
    assert top(index, "sourdough bread recipe") == ["bread"]
    # The store keeps the node and its path resource, so the caller can open the file.
    clip = index.as_retriever(similarity_top_k=1).retrieve("birdsong garden")[0].node
    assert isinstance(clip, Node) and clip.audio_resource is not None
    assert clip.audio_resource.path == corpus["birdsong.wav"]


# -- errors ----------------------------------------------------------------------------------------


def test_bad_input_names_the_node(
    embed_model: GE2Embedding, ge2_emulator: Emulator, tmp_path: Path
) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"this is not a video at all")
    nodes = [*text_nodes(), Node(id_="holiday-clip", video_resource=MediaResource(path=fake))]
    with pytest.raises(ge2.InputError) as info:
        embed_model(nodes)
    message = str(info.value)
    assert "node 'holiday-clip'" in message and "holiday.mp4" in message
    assert ge2_emulator.stats["requests"] == 0  # rejected before anything was sent


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_one_failing_node_keeps_the_others(
    embed_model: GE2Embedding, ge2_emulator: Emulator, corpus: dict[str, Path], mode: str
) -> None:
    # The emulator refuses audio over 1 s with a 400, as the API does past its limit; ge2's
    # own limit (180 s) lets the 3 s clip through, so only the API can reject it.
    ge2_emulator.configure(max_audio_seconds=1.0)
    nodes = [*text_nodes(), *media_nodes(corpus)]
    with pytest.raises(ge2.EmbeddingError) as info:
        if mode == "sync":
            embed_model(nodes)
        else:
            await embed_model.acall(nodes)
    err = info.value
    assert [f.index for f in err.failures] == [3]
    assert f"node {nid('birdsong')!r}" in str(err)
    assert nodes[3].embedding is None
    ok = [n for i, n in enumerate(nodes) if i != 3]
    assert all(len(n.embedding or []) == DIMS for n in ok)
    assert err.vectors[0] == nodes[0].embedding
    assert err.pieces[3] is None and err.pieces[0] is not None  # kept per input
    # The kept nodes index and retrieve as usual.
    index = VectorStoreIndex([], embed_model=embed_model)
    index.insert_nodes(ok)
    assert top(index, "waves on a sandy beach") == ["waves"]
