"""GE2Embedding as a drop-in for llama-index-embeddings-google-genai's GoogleGenAIEmbedding:
the peer's documented examples and arguments, with only the class name changed, against the
emulator (real SDK -> HTTP). Checked at the emulator: sizes, task text, client options."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.genai.types import EmbedContentConfig, HttpOptions
from google.oauth2.credentials import Credentials

import ge2
from ge2.emulator import Emulator
from ge2.integrations.llamaindex import GE2Embedding

pytestmark = pytest.mark.e2e

# The peer's docs use the preview id, which ge2 and the emulator know as an alias.
MODELS = ["gemini-embedding-2", "gemini-embedding-2-preview"]


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


@pytest.mark.parametrize("model", MODELS)
def test_the_peers_official_example_with_the_class_name_changed(env: Emulator, model: str) -> None:
    # developers.llamaindex.ai, "Google GenAI Embeddings": only the class name differs.
    embed_model = GE2Embedding(model_name=model, embed_batch_size=100)

    embeddings = embed_model.get_text_embedding("Google Gemini Embeddings.")
    assert len(embeddings) == 3072
    embeddings = embed_model.get_query_embedding("Query Google Gemini Embeddings.")
    assert len(embeddings) == 3072
    batch = embed_model.get_text_embedding_batch(
        ["Google Gemini Embeddings.", "Google is awesome."] * 3
    )
    assert len(batch) == 6 and all(len(v) == 3072 for v in batch)

    async def run_async() -> list[float]:
        return await embed_model.aget_text_embedding("Google Gemini Embeddings.")

    assert len(asyncio.run(run_async())) == 3072
    texts = _texts(env)
    # The task reaches gemini-embedding-2 the way Google documents it: in the text.
    assert texts[0] == "title: none | text: Google Gemini Embeddings."
    assert texts[1] == "task: search result | query: Query Google Gemini Embeddings."
    assert all(e["status"] == 200 and e["model"] == model for e in _sent(env))


def test_the_peers_arguments_keep_their_meaning(
    ge2_emulator: Emulator, headers: list[dict[str, str]]
) -> None:
    embed_model = GE2Embedding(
        "gemini-embedding-2",
        "test-key",
        EmbedContentConfig(output_dimensionality=768, title="Harbour guide"),
        None,
        HttpOptions(base_url=ge2_emulator.url, headers={"x-team": "search"}),
        retries=3,
        timeout=30,
        retry_min_seconds=0.01,
        retry_max_seconds=0.05,
        retry_exponential_base=2,
    )
    doc = embed_model.get_text_embedding("Tide tables for the harbour in winter.")
    query = embed_model.get_query_embedding("when is high tide?")
    assert len(doc) == len(query) == 768
    sent = _sent(ge2_emulator)
    assert [e["output_dimensionality"] for e in sent] == [[768], [768]]
    assert _texts(ge2_emulator) == [
        "title: Harbour guide | text: Tide tables for the harbour in winter.",
        "task: search result | query: when is high tide?",
    ]
    assert [h.get("x-team") for h in headers] == ["search", "search"]
    assert all(e["task_types"] == [None] for e in sent)  # no task_type: GE2 ignores it


def test_a_symmetric_task_type_applies_to_both_sides(ge2_emulator: Emulator) -> None:
    embed_model = GE2Embedding(
        api_key="test-key",
        embedding_config={"task_type": "SEMANTIC_SIMILARITY", "output_dimensionality": 256},
        http_options={"base_url": ge2_emulator.url},
    )
    embed_model.get_text_embedding("a red fox")
    embed_model.get_query_embedding("a fox that is red")
    assert _texts(ge2_emulator) == [
        "task: sentence similarity | query: a red fox",
        "task: sentence similarity | query: a fox that is red",
    ]


def test_retries_as_the_peer_counts_them(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(fail_every=2, fail_status=503)  # every 2nd call fails once
    fast = {"retry_min_seconds": 0.01, "retry_max_seconds": 0.02}
    patient = GE2Embedding(
        api_key="test-key", base_url=ge2_emulator.url, dimensions=128, retries=3, **fast
    )
    for text in ("one", "two", "three"):
        assert len(patient.get_text_embedding(text)) == 128
    assert patient.embedder.usage.retries >= 1
    ge2_emulator.reset_stats()  # the every-2nd count starts again
    once = GE2Embedding(
        api_key="test-key", base_url=ge2_emulator.url, dimensions=128, retries=1, **fast
    )
    once.get_text_embedding("four")  # call 1 succeeds; call 2 fails and is not retried
    with pytest.raises(ge2.EmbeddingError) as info:
        once.get_text_embedding("five")
    assert isinstance(info.value.failures[0].error, ge2.ServiceUnavailable)


def test_vertexai_config_takes_the_vertex_route(ge2_emulator: Emulator) -> None:
    embed_model = GE2Embedding(
        model_name="gemini-embedding-2",
        vertexai_config={
            "credentials": Credentials(token="test-token"),  # type: ignore[no-untyped-call]
            "project": "my-project",
            "location": "us-central1",
        },
        http_options=HttpOptions(base_url=ge2_emulator.url),
        embedding_config={"output_dimensionality": 256},
    )
    assert len(embed_model.get_text_embedding("vertex text")) == 256
    (entry,) = _sent(ge2_emulator)
    assert entry["api"] == "vertex"
    assert "/projects/my-project/locations/us-central1/" in entry["path"]


def test_the_llama_index_namespace_import(env: Emulator) -> None:
    from llama_index.embeddings.ge2 import GE2Embedding as FromNamespace

    assert FromNamespace is GE2Embedding
    assert (
        len(
            FromNamespace(embedding_config={"output_dimensionality": 128}).get_text_embedding(
                "namespace"
            )
        )
        == 128
    )
