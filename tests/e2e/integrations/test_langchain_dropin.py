"""GE2Embeddings as a drop-in for langchain-google-genai's GoogleGenerativeAIEmbeddings.

The peer's documented examples (LangChain's integration page and the class docstring of
langchain-google-genai 4.4.2) run with only the class name changed; the emulator's request
log shows what reached the wire: the model id, the task instruction in the text, the size,
the headers and the API version. Real SDK -> real HTTP -> emulator throughout.
"""

from __future__ import annotations

from typing import Any

import google.oauth2.credentials
import numpy as np
import pytest
from langchain_core.vectorstores import InMemoryVectorStore

from ge2.emulator import Emulator
from ge2.integrations.langchain import GE2Embeddings as GoogleGenerativeAIEmbeddings

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu(ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The peer's docs set GOOGLE_API_KEY; the base URL points google-genai at the emulator."""
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    return ge2_emulator


def _log(emu: Emulator) -> list[dict[str, Any]]:
    return list(emu.stats["request_log"])


def _texts(emu: Emulator) -> list[str]:
    return [t for entry in _log(emu) for texts in entry["texts"] for t in texts]


def _cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_official_example_runs_with_only_the_class_name_changed(emu: Emulator) -> None:
    # LangChain's integration page, verbatim but for the import.
    embeddings = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2-preview")
    vector = embeddings.embed_query("hello, world!")
    vectors = embeddings.embed_documents(
        ["Today is Monday", "Today is Tuesday", "Today is April Fools day"]
    )
    assert len(vector) == 3072
    assert len(vectors) == 3 and len({tuple(v[:8]) for v in vectors}) == 3

    text = "LangChain is the framework for building context-aware reasoning applications"
    vectorstore = InMemoryVectorStore.from_texts([text], embedding=embeddings)
    retriever = vectorstore.as_retriever()
    retrieved_documents = retriever.invoke("What is LangChain?")
    assert retrieved_documents[0].page_content == text

    log = _log(emu)
    assert all(e["status"] == 200 and e["model"] == "gemini-embedding-2-preview" for e in log)
    assert "task: search result | query: hello, world!" in _texts(emu)
    assert "title: none | text: Today is Monday" in _texts(emu)


def test_the_task_type_example_writes_the_instruction(emu: Emulator) -> None:
    query_embeddings = GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2-preview", task_type="RETRIEVAL_QUERY"
    )
    doc_embeddings = GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2-preview", task_type="RETRIEVAL_DOCUMENT"
    )
    q_embed = query_embeddings.embed_query("What is the capital of France?")
    d_embed = doc_embeddings.embed_documents(
        ["The capital of France is Paris.", "Philipp is likes to eat pizza."]
    )
    scores = [_cosine(q_embed, d) for d in d_embed]
    assert scores[0] > scores[1]
    texts = _texts(emu)
    assert "task: search result | query: What is the capital of France?" in texts
    assert "title: none | text: The capital of France is Paris." in texts
    # GE2 ignores task_type, so ge2 does not send it: the instruction carries the task.
    assert all(t is None for e in _log(emu) for t in e["task_types"])


def test_task_type_applies_to_both_sides_as_in_the_google_class(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2", task_type="CLUSTERING")
    emb.embed_documents(["red fox"])
    emb.embed_query("grey wolf")
    assert _texts(emu) == [
        "task: clustering | query: red fox",
        "task: clustering | query: grey wolf",
    ]


def test_output_dimensionality_headers_and_api_version_reach_the_wire(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2",
        output_dimensionality=768,
        additional_headers={"x-team": "search"},
        api_version="v1",
        client_args={"timeout": 30},
        request_options={"timeout": 10},
    )
    assert len(emb.embed_query("a fox")) == 768
    [entry] = _log(emu)
    assert entry["output_dimensionality"] == [768]
    assert entry["headers"]["x-team"] == "search"
    assert entry["path"].startswith("/v1/models/gemini-embedding-2:")


def test_client_options_endpoint_and_quota_project(ge2_emulator: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(
        model="models/gemini-embedding-2",
        google_api_key="test-key",
        client_options={"api_endpoint": ge2_emulator.url, "quota_project_id": "billing-1"},
        transport="rest",
    )
    assert len(emb.embed_documents(["a", "b"])) == 2
    [entry] = _log(ge2_emulator)
    assert entry["headers"]["x-goog-user-project"] == "billing-1"


def test_per_call_keywords_of_the_google_class(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2", output_dimensionality=768)
    docs = emb.embed_documents(
        ["Paris is in France.", "Rome is in Italy."],
        titles=["France", "Italy"],
        output_dimensionality=256,
    )
    query = emb.embed_query("Who wrote Hamlet?", task_type="QUESTION_ANSWERING")
    assert [len(v) for v in docs] == [256, 256] and len(query) == 768
    assert _texts(emu) == [
        "title: France | text: Paris is in France.",
        "title: Italy | text: Rome is in Italy.",
        "task: question answering | query: Who wrote Hamlet?",
    ]


async def test_async_per_call_keywords(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2")
    [doc] = await emb.aembed_documents(["tea"], task_type="FACT_VERIFICATION")
    query = await emb.aembed_query("green tea", output_dimensionality=128)
    assert len(doc) == 3072 and len(query) == 128
    assert _texts(emu) == [
        "task: fact checking | query: tea",
        "task: search result | query: green tea",
    ]


def test_a_batch_over_the_api_limit_is_accepted_and_split(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(model="gemini-embedding-2", output_dimensionality=128)
    texts = [f"note number {i} about topic {i % 7}" for i in range(250)]
    vectors = emb.embed_documents(texts, batch_size=250)
    assert len(vectors) == 250
    contents = sorted(e["contents"] for e in _log(emu))
    assert sum(contents) == 250 and max(contents) <= 100


def test_serialisation_holds_no_secret(emu: Emulator) -> None:
    emb = GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2",
        google_api_key="AIza-secret-in-kwargs",
        additional_headers={"authorization": "Bearer secret-token"},
        client_args={"proxy": "socks5://user:secret-pass@host:1080"},
    )
    shown = f"{emb.model_dump()} {emb.model_dump_json()} {emb!r}"
    for secret in ("AIza-secret-in-kwargs", "secret-token", "secret-pass"):
        assert secret not in shown


def test_credentials_mean_vertex_ai_as_in_the_google_class(ge2_emulator: Emulator) -> None:
    creds = google.oauth2.credentials.Credentials(token="emulator-token")  # type: ignore[no-untyped-call]
    emb = GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2-preview",
        credentials=creds,
        project="my-project",
        location="us-central1",
        base_url=ge2_emulator.url,
        output_dimensionality=256,
    )
    assert len(emb.embed_query("a fox")) == 256
    [entry] = _log(ge2_emulator)
    assert entry["api"] == "vertex" and "/projects/my-project/" in entry["path"]
    assert entry["texts"] == [["task: search result | query: a fox"]]
