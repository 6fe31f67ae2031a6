"""The translation table from GoogleGenerativeAIEmbeddings' arguments to GE2Embeddings' fields.

No sockets here: constructing and even building the google-genai client never calls out.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ge2.integrations import langchain as lc
from ge2.integrations.langchain import PEER_ARGUMENTS, GE2Embeddings, translate_peer_arguments

#: GoogleGenerativeAIEmbeddings' fields in langchain-google-genai 4.4.2 (read from its wheel),
#: plus 2.x/3.x's client_options / transport / request_options.
PEER_FIELDS = (
    "client",
    "model",
    "task_type",
    "google_api_key",
    "credentials",
    "vertexai",
    "project",
    "location",
    "base_url",
    "additional_headers",
    "client_args",
    "api_version",
    "request_options",
    "output_dimensionality",
    "client_options",
    "transport",
)


def _http(emb: GE2Embeddings) -> Any:
    return emb.embedder.client._api_client._http_options  # type: ignore[union-attr]


def test_every_peer_argument_is_a_field_or_in_the_table() -> None:
    fields = set(GE2Embeddings.model_fields)
    missing = [f for f in PEER_FIELDS if f not in fields and f not in PEER_ARGUMENTS]
    assert missing == []
    assert GE2Embeddings.model_fields["google_api_key"].alias == "api_key"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"output_dimensionality": 768}, {"dimensions": 768}),
        ({"task_type": "RETRIEVAL_QUERY"}, {"query_task": "query", "document_task": "query"}),
        ({"task_type": "task_type_unspecified"}, {"query_task": "raw", "document_task": "raw"}),
        ({"task_type": "CODE_RETRIEVAL_QUERY"}, {"query_task": "code_retrieval"}),
        ({"api_version": "v1"}, {"http_options": {"api_version": "v1"}}),
        ({"request_options": {"timeout": 10}}, {"timeout": 10.0}),
        ({"transport": "rest"}, {}),
        ({"output_dimensionality": None, "task_type": None}, {}),
        (
            {"client_options": {"api_endpoint": "proxy.example:8443"}},
            {"base_url": "https://proxy.example:8443"},
        ),
        (
            {"client_args": {"proxy": "http://p:1"}},
            {
                "http_options": {
                    "client_args": {"proxy": "http://p:1"},
                    "async_client_args": {"proxy": "http://p:1"},
                }
            },
        ),
    ],
)
def test_translation(given: dict[str, Any], expected: dict[str, Any]) -> None:
    out = translate_peer_arguments(given)
    assert {k: out[k] for k in expected} == expected
    assert not set(out) & set(PEER_ARGUMENTS)


def test_headers_from_several_arguments_add_up() -> None:
    out = translate_peer_arguments(
        {
            "additional_headers": {"x-team": "search"},
            "client_options": {"quota_project_id": "billing"},
            "request_options": {"metadata": [("x-request-tag", "t1")]},
            "http_options": {"headers": {"x-mine": "1"}, "api_version": "v1beta"},
        }
    )
    assert out["http_options"] == {
        "headers": {
            "x-mine": "1",
            "x-team": "search",
            "x-goog-user-project": "billing",
            "x-request-tag": "t1",
        },
        "api_version": "v1beta",
    }


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"transport": "grpc"}, "transport='grpc'"),
        ({"transport": "grpc_asyncio"}, "transport='grpc_asyncio'"),
        ({"request_options": {"retry": object()}}, "request_options ['retry']"),
        ({"client_options": {"scopes": ["x"]}}, "client_options ['scopes']"),
        ({"client_options": {"universe_domain": "x"}}, "client_options ['universe_domain']"),
        ({"output_dimensionality": 768, "dimensions": 256}, "output_dimensionality= sets"),
        ({"task_type": "CLUSTERING", "query_task": "query"}, "task_type= sets query_task"),
        (
            {"api_version": "v1", "http_options": {"api_version": "v1beta"}},
            "http_options.api_version",
        ),
        (
            {"base_url": "http://a", "client_options": {"api_endpoint": "http://b"}},
            "client_options= sets base_url",
        ),
        ({"task_type": "RETRIEVAL_SOMETHING"}, "unknown task"),
        ({"output_dimensionality": 50}, "output_dimensionality=50 is outside 128..3072"),
    ],
)
def test_what_cannot_be_honoured_raises_naming_it(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named.replace("[", r"\[").replace("]", r"\]")):
        GE2Embeddings(api_key="k", **given)


def test_api_spellings_for_our_task_fields() -> None:
    emb = GE2Embeddings(
        api_key="k", query_task="RETRIEVAL_QUERY", document_task="RETRIEVAL_DOCUMENT"
    )
    assert (emb.query_task, emb.document_task) == ("query", "document")


def test_client_options_reach_the_client_without_a_network() -> None:
    emb = GE2Embeddings(
        api_key="k",
        base_url="http://127.0.0.1:9",
        additional_headers={"x-team": "search"},
        api_version="v1",
        request_options={"timeout": 7},
    )
    http = _http(emb)
    assert http.headers["x-team"] == "search"
    assert http.api_version == "v1"
    assert http.timeout == 7000


def test_models_prefix_is_the_same_model() -> None:
    assert GE2Embeddings(api_key="k", model="models/gemini-embedding-2").model == (
        "gemini-embedding-2"
    )


@pytest.mark.parametrize(
    ("env", "given", "expected"),
    [
        (None, {"project": "p"}, True),
        (None, {"credentials": object()}, True),
        (None, {}, None),
        ("false", {"project": "p"}, None),
        (None, {"project": "p", "vertexai": False}, False),
    ],
)
def test_credentials_or_project_mean_vertex_as_in_the_google_class(
    monkeypatch: pytest.MonkeyPatch, env: str | None, given: dict[str, Any], expected: bool | None
) -> None:
    if env is not None:
        monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", env)
    assert lc._backend(given.get("vertexai"), given.get("credentials"), given.get("project")) is (
        expected
    )


def test_per_call_keywords_that_cannot_be_honoured_raise_before_sending() -> None:
    emb = GE2Embeddings(api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match=r"batch_size=10.*GE2Embeddings\(batch_size=10\)"):
        emb.embed_documents(["a"], batch_size=10)
    with pytest.raises(ValueError, match="titles apply to the document task"):
        emb.embed_documents(["a"], titles=["T"], task_type="RETRIEVAL_QUERY")
    with pytest.raises(ValueError, match="2 titles for 1 texts"):
        emb.embed_documents(["a"], titles=["T", "U"])
    with pytest.raises(ValueError, match="unknown task"):
        emb.embed_query("a", task_type="BOGUS")


def test_peer_client_options_are_not_serialised() -> None:
    emb = GE2Embeddings(
        api_key="AIza-secret",
        credentials=object(),
        additional_headers={"authorization": "Bearer tok-secret"},
    )
    dumped = emb.model_dump()
    assert "credentials" not in dumped and "http_options" not in dumped
    assert "secret" not in emb.model_dump_json() and "secret" not in repr(emb)


def test_a_refusal_does_not_echo_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        GE2Embeddings(api_key="AIza-secret-in-kwargs", transport="grpc")
    assert "AIza-secret-in-kwargs" not in str(info.value)
