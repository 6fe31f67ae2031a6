"""GE2EmbeddingFunction as a drop-in for Chroma's GoogleGeminiEmbeddingFunction.

Chroma's documented example (docs.trychroma.com, Google Gemini page) runs with only the
class changed; the emulator's request log shows the model, sizes, task and headers that
reached the wire. Real chromadb -> ge2 -> google-genai -> HTTP -> emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ge2.emulator import Emulator

chromadb = pytest.importorskip("chromadb")
from ge2.integrations.chroma import (  # noqa: E402
    GE2EmbeddingFunction as GoogleGeminiEmbeddingFunction,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu(ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Chroma's class reads GEMINI_API_KEY; the base URL points google-genai at the emulator."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    return ge2_emulator


def _log(emu: Emulator) -> list[dict[str, Any]]:
    return list(emu.stats["request_log"])


def _texts(emu: Emulator) -> list[str]:
    return [t for entry in _log(emu) for texts in entry["texts"] for t in texts]


def test_the_official_example_runs_with_only_the_class_changed(
    emu: Emulator, tmp_path: Path
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    # docs.trychroma.com/integrations/embedding-models/google-gemini, but for the import.
    google_ef = GoogleGeminiEmbeddingFunction(
        model_name="gemini-embedding-001",
        task_type="RETRIEVAL_DOCUMENT",
    )
    vectors = google_ef(["document1", "document2"])
    collection = client.create_collection(name="name", embedding_function=google_ef)
    collection = client.get_collection(name="name", embedding_function=google_ef)
    google_ef = GoogleGeminiEmbeddingFunction(
        model_name="gemini-embedding-001",
        task_type="RETRIEVAL_DOCUMENT",
        dimension=768,
    )
    assert len(vectors) == 2 and len(vectors[0]) == 3072
    assert [len(v) for v in google_ef(["document1"])] == [768]
    # gemini-embedding-001 reads the task_type parameter, so ge2 sends it there.
    assert {t for e in _log(emu) for t in e["task_types"]} == {"RETRIEVAL_DOCUMENT"}
    assert collection.name == "name"


def test_gemini_embedding_2_preview_positional_as_in_chroma(emu: Emulator, tmp_path: Path) -> None:
    ef = GoogleGeminiEmbeddingFunction("gemini-embedding-2-preview", None, 768)
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    col = client.create_collection("docs", embedding_function=ef)
    col.add(ids=["fox", "tea"], documents=["a red fox in the snow", "brewing green tea"])
    hit = col.query(query_texts=["red fox"], n_results=1)
    assert hit["ids"] == [["fox"]]
    assert len(col.get(ids=["fox"], include=["embeddings"])["embeddings"][0]) == 768
    assert all(e["model"] == "gemini-embedding-2-preview" and e["status"] == 200 for e in _log(emu))
    texts = _texts(emu)
    assert "title: none | text: a red fox in the snow" in texts
    assert "task: search result | query: red fox" in texts


def test_task_type_is_used_for_add_and_query_as_in_chroma(emu: Emulator) -> None:
    ef = GoogleGeminiEmbeddingFunction(model_name="gemini-embedding-2", task_type="CLASSIFICATION")
    ef(["spam offer"])
    ef.embed_query(["is this spam"])
    assert _texts(emu) == [
        "task: classification | query: spam offer",
        "task: classification | query: is this spam",
    ]


def test_n_documents_give_n_vectors_and_batches_over_100_are_split(emu: Emulator) -> None:
    ef = GoogleGeminiEmbeddingFunction(model_name="gemini-embedding-2", dimension=128)
    docs = [f"document {i} about subject {i % 5}" for i in range(230)]
    vectors = ef(docs)
    assert len(vectors) == 230 and len({tuple(v[:8]) for v in vectors}) > 200
    contents = [e["contents"] for e in _log(emu)]
    assert sum(contents) == 230 and max(contents) <= 100


def test_client_options_reach_the_emulator(emu: Emulator) -> None:
    ef = GoogleGeminiEmbeddingFunction(
        model_name="gemini-embedding-2",
        dimension=256,
        http_options={"headers": {"x-team": "search"}, "api_version": "v1"},
    )
    ef(["a"])
    [entry] = _log(emu)
    assert entry["headers"]["x-team"] == "search"
    assert entry["path"] == "/v1/models/gemini-embedding-2:batchEmbedContents"


def test_persisted_config_round_trips_the_google_arguments(emu: Emulator, tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    ef = GoogleGeminiEmbeddingFunction("gemini-embedding-2", "RETRIEVAL_QUERY", 256)
    chromadb.PersistentClient(path=path).create_collection("queries", embedding_function=ef)
    reopened = chromadb.PersistentClient(path=path).get_collection("queries")
    again = reopened.configuration["embedding_function"]
    assert isinstance(again, GoogleGeminiEmbeddingFunction)
    assert (again.model_name, again.dimension) == ("gemini-embedding-2", 256)
    assert (again.document_task, again.query_task) == ("query", "query")
    reopened.add(ids=["a"], documents=["hello"])
    assert _texts(emu) == ["task: search result | query: hello"]
