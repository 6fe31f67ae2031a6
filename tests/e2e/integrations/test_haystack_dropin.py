"""ge2's Haystack components as drop-ins for google-genai-haystack's GoogleGenAI*Embedder:
the peer's documented examples and arguments with only the class names changed, against the
emulator (real SDK -> HTTP). Checked at the emulator: sizes, task text, client options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from haystack import Document, Pipeline
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

import ge2
from ge2.emulator import Emulator
from haystack_integrations.components.embedders.ge2 import (
    GE2DocumentEmbedder,
    GE2MultimodalDocumentEmbedder,
    GE2TextEmbedder,
)

pytestmark = pytest.mark.e2e

PREVIEW = "gemini-embedding-2-preview"  # the peer docs' id: an alias ge2 and the emulator know


@pytest.fixture
def env(ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """As the peer's docs: the key in GOOGLE_API_KEY; the SDK pointed at the emulator."""
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    return ge2_emulator


@pytest.fixture
def headers(ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The HTTP headers of every embedding request, as the emulator received them."""
    seen: list[dict[str, str]] = []
    handle = ge2_emulator._handle_embed

    def recording(handler: Any, path: str) -> None:
        seen.append({k.lower(): v for k, v in handler.headers.items()})
        handle(handler, path)

    monkeypatch.setattr(ge2_emulator, "_handle_embed", recording)
    return seen


def _sent(emu: Emulator) -> list[dict[str, Any]]:
    return [e for e in emu.stats["request_log"] if e["method"] == "POST"]


def _texts(emu: Emulator) -> list[str]:
    return [t for e in _sent(emu) for content in e["texts"] for t in content]


def test_the_peers_usage_examples_with_the_class_names_changed(env: Emulator) -> None:
    # The "Usage example" of each GoogleGenAI*Embedder docstring (google-genai-haystack 7.0.0).
    text_embedder = GE2TextEmbedder()
    result = text_embedder.run("I love pizza!")
    assert len(result["embedding"]) == 3072 and result["meta"]["model"] == "gemini-embedding-2"

    doc = Document(content="I love pizza!")
    document_embedder = GE2DocumentEmbedder()
    result = document_embedder.run([doc])
    assert len(result["documents"][0].embedding) == 3072

    assert _texts(env) == [
        "task: search result | query: I love pizza!",
        "title: none | text: I love pizza!",
    ]


def test_the_peers_authentication_example_with_gemini_embedding_001(env: Emulator) -> None:
    text_embedder = GE2TextEmbedder(model="gemini-embedding-001")
    text_embedder.run("I love pizza!")
    (entry,) = _sent(env)
    # gemini-embedding-001 reads the task from the task_type parameter, not the text.
    assert entry["model"] == "gemini-embedding-001"
    assert entry["task_types"] == ["RETRIEVAL_QUERY"] and entry["texts"] == [["I love pizza!"]]


def test_the_peers_pipeline_example_with_the_class_names_changed(env: Emulator) -> None:
    # Haystack's GoogleGenAIDocumentEmbedder page, "In a pipeline"; class names changed.
    document_store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    documents = [
        Document(content="My name is Wolfgang and I live in Berlin"),
        Document(content="I saw a black horse running"),
        Document(content="Germany has many big cities"),
    ]
    document_embedder = GE2DocumentEmbedder()
    documents_with_embeddings = document_embedder.run(documents)["documents"]
    document_store.write_documents(documents_with_embeddings)

    query_pipeline = Pipeline()
    query_pipeline.add_component("text_embedder", GE2TextEmbedder())
    query_pipeline.add_component("retriever", InMemoryEmbeddingRetriever(document_store))
    query_pipeline.connect("text_embedder.embedding", "retriever.query_embedding")

    query = "Who lives in Berlin?"
    result = query_pipeline.run({"text_embedder": {"text": query}})
    assert result["retriever"]["documents"][0].content.endswith("I live in Berlin")


@pytest.mark.parametrize("model", ["gemini-embedding-2", PREVIEW])
def test_the_peers_multimodal_example_with_the_class_name_changed(
    env: Emulator, corpus: dict[str, Path], model: str
) -> None:
    # GoogleGenAIMultimodalDocumentEmbedder's usage example, with the docs' size option.
    doc = Document(content=None, meta={"file_path": str(corpus["red-fox.png"])})
    document_embedder = GE2MultimodalDocumentEmbedder(
        model=model, config={"output_dimensionality": 768}
    )
    result = document_embedder.run([doc])
    assert len(result["documents"][0].embedding) == 768
    (entry,) = _sent(env)
    assert entry["model"] == model and entry["output_dimensionality"] == [768]
    assert entry["parts"] == [["image/png"]]


def test_config_and_client_options_keep_their_meaning(
    ge2_emulator: Emulator, headers: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    options = {"base_url": ge2_emulator.url, "headers": {"x-team": "search"}}
    text = GE2TextEmbedder(
        config={"output_dimensionality": 768, "task_type": "QUESTION_ANSWERING",
                "http_options": options},
        timeout=30,
    )  # fmt: skip
    docs = GE2DocumentEmbedder(
        config={"output_dimensionality": 768, "title": "Harbour guide", "http_options": options},
        meta_fields_to_embed=["season"],
    )
    assert len(text.run("when is high tide?")["embedding"]) == 768
    out = docs.run([Document(content="Tide tables.", meta={"season": "winter"})])
    assert len(out["documents"][0].embedding) == 768
    assert _texts(ge2_emulator) == [
        "task: question answering | query: when is high tide?",
        "title: Harbour guide | text: winter\nTide tables.",
    ]
    assert [e["output_dimensionality"] for e in _sent(ge2_emulator)] == [[768], [768]]
    assert [h.get("x-team") for h in headers] == ["search", "search"]


def test_an_instruction_prefix_as_the_peer_documents_it_is_sent_once(env: Emulator) -> None:
    text_embedder = GE2TextEmbedder(prefix="task: question answering | query: ")
    text_embedder.run("why is the sky blue?")
    assert _texts(env) == ["task: question answering | query: why is the sky blue?"]


def test_batch_size_over_100_goes_out_in_calls_of_at_most_100(env: Emulator) -> None:
    docs = [Document(content=f"note number {i}") for i in range(250)]
    out = GE2DocumentEmbedder(batch_size=250, dimensions=128).run(docs)
    assert all(len(d.embedding) == 128 for d in out["documents"])
    counts = sorted(e["contents"] for e in _sent(env))
    assert sum(counts) == 250 and max(counts) <= 100


def test_max_retries_counts_attempts_as_the_peer_does(env: Emulator) -> None:
    env.configure(fail_every=1, fail_status=503)
    comp = GE2TextEmbedder(max_retries=1, dimensions=128)  # one attempt: no retry
    with pytest.raises(ge2.EmbeddingError):
        comp.run("never")
    assert len(_sent(env)) == 1
    env.configure(fail_every=2)
    env.reset_stats()
    retrying = GE2TextEmbedder(
        dimensions=128,
        config={"http_options": {"retry_options": {"attempts": 3, "initial_delay": 0.01}}},
    )
    assert len(retrying.run("first")["embedding"]) == 128  # call 1
    assert len(retrying.run("second")["embedding"]) == 128  # call 2 fails, 3 succeeds
    assert retrying.embedder.usage.retries == 1


def test_a_yaml_pipeline_of_peer_arguments_loads_with_plain_loads(env: Emulator) -> None:
    pipe = Pipeline()
    pipe.add_component(
        "embedder",
        GE2DocumentEmbedder(
            api="gemini",
            batch_size=250,
            config={"output_dimensionality": 256, "task_type": "CLUSTERING"},
            max_retries=3,
            timeout=20,
        ),
    )
    text = pipe.dumps()
    assert "haystack_integrations.components.embedders.ge2" in text
    loaded = Pipeline.loads(text)  # no allowed_modules: Haystack trusts its namespace
    docs = [Document(content="volcano ash"), Document(content="lava flow")]
    first = pipe.run({"embedder": {"documents": docs}})["embedder"]["documents"]
    again = loaded.run({"embedder": {"documents": docs}})["embedder"]["documents"]
    assert [d.embedding for d in first] == [d.embedding for d in again]
    assert len(first[0].embedding) == 256
    assert set(_texts(env)) == {
        "task: clustering | query: volcano ash",
        "task: clustering | query: lava flow",
    }
