"""llama-index-embeddings-google-genai's arguments on GE2Embedding: same meaning, or a clear
error naming the alternative (the ``PEER_ARGUMENTS`` table), without a network."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from google.genai import types
from llama_index.core.callbacks import CallbackManager

import ge2
from ge2 import transport
from ge2.integrations.llamaindex import PEER_ARGUMENTS, GE2Embedding

KEY = "AIza-unit-dropin-secret"

# GoogleGenAIEmbedding.__init__ (llama-index-embeddings-google-genai 0.6.0), in its order.
PEER_SIGNATURE = [
    "model_name",
    "api_key",
    "embedding_config",
    "vertexai_config",
    "http_options",
    "debug_config",
    "embed_batch_size",
    "callback_manager",
    "retries",
    "timeout",
    "retry_min_seconds",
    "retry_max_seconds",
    "retry_exponential_base",
]


def test_positional_parameters_are_the_peers_in_its_order() -> None:
    params = inspect.signature(GE2Embedding.__init__).parameters
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD and n != "self"]
    assert positional == PEER_SIGNATURE


def test_every_peer_only_argument_has_a_table_entry() -> None:
    same_name = set(GE2Embedding.model_fields)
    assert set(PEER_SIGNATURE) - same_name == set(PEER_ARGUMENTS)


def test_positional_use_as_in_the_peer() -> None:
    emb = GE2Embedding("gemini-embedding-2", KEY, {"output_dimensionality": 768})
    assert (emb.model_name, emb.dimensions) == ("gemini-embedding-2", 768)
    assert emb.api_key is not None and emb.api_key.get_secret_value() == KEY
    assert emb.embedder.dimensions == 768


@pytest.mark.parametrize(
    "config",
    [types.EmbedContentConfig(output_dimensionality=512), {"output_dimensionality": 512}],
)
def test_embedding_config_output_dimensionality(config: Any) -> None:
    emb = GE2Embedding(embedding_config=config)
    assert emb.dimensions == 512 and emb.embedder.dimensions == 512
    with pytest.raises(ge2.ConfigurationError, match="dimensions=256 and embedding_config"):
        GE2Embedding(dimensions=256, embedding_config=config)


@pytest.mark.parametrize(
    ("task_type", "query_task", "document_task"),
    [
        ("RETRIEVAL_QUERY", "query", "document"),
        ("RETRIEVAL_DOCUMENT", "query", "document"),
        ("QUESTION_ANSWERING", "question_answering", "document"),
        ("FACT_VERIFICATION", "fact_checking", "document"),
        ("CODE_RETRIEVAL_QUERY", "code_retrieval", "document"),
        ("SEMANTIC_SIMILARITY", "similarity", "similarity"),
        ("CLASSIFICATION", "classification", "classification"),
        ("CLUSTERING", "clustering", "clustering"),
    ],
)
def test_embedding_config_task_type_sets_the_side_it_names(
    task_type: str, query_task: str, document_task: str
) -> None:
    emb = GE2Embedding(embedding_config=types.EmbedContentConfig(task_type=task_type))
    assert (emb.query_task, emb.document_task) == (query_task, document_task)


def test_task_fields_take_the_api_spellings_and_conflicts_raise() -> None:
    assert GE2Embedding(query_task="RETRIEVAL_QUERY").query_task == "query"
    with pytest.raises(ge2.ConfigurationError, match="query_task='query' and embedding_config"):
        GE2Embedding(query_task="query", embedding_config={"task_type": "CLUSTERING"})
    with pytest.raises(ge2.ConfigurationError, match="unknown task"):
        GE2Embedding(embedding_config={"task_type": "SUMMARIZE"})


def test_embedding_config_title_and_auto_truncate() -> None:
    emb = GE2Embedding(embedding_config={"title": "Harbour guide", "auto_truncate": False})
    assert emb.title == "Harbour guide"
    assert emb.overflow == "error" and emb.embedder.overflow == "error"
    assert GE2Embedding(embedding_config={"auto_truncate": True}).embedder.overflow == "split"
    with pytest.raises(ValueError, match="title='x' goes into the document instruction"):
        GE2Embedding(embedding_config={"title": "x", "task_type": "CLUSTERING"})


@pytest.mark.parametrize("field", ["mime_type", "document_ocr", "audio_track_extraction"])
def test_embedding_config_fields_ge2_cannot_honour_raise(field: str) -> None:
    value: Any = "image/png" if field == "mime_type" else True
    with pytest.raises(ge2.ConfigurationError, match=rf"embedding_config\['{field}'\]") as info:
        GE2Embedding(embedding_config={field: value})
    assert "drop it" in str(info.value)
    with pytest.raises(ge2.ConfigurationError, match="is not an EmbedContentConfig field"):
        GE2Embedding(embedding_config={"output_dims": 5})
    with pytest.raises(ge2.ConfigurationError, match="EmbedContentConfig or a dict"):
        GE2Embedding(embedding_config=768)


def test_vertexai_config() -> None:
    emb = GE2Embedding(vertexai_config={"project": "my-project", "location": "us-central1"})
    assert (emb.vertexai, emb.project, emb.location) == (True, "my-project", "us-central1")
    assert emb.embedder._client_args["vertexai"] is True
    assert GE2Embedding(vertexai_config={}).vertexai is True  # project from the environment
    creds = object()
    with_creds = GE2Embedding(vertexai_config={"credentials": creds, "project": "p"})
    assert with_creds.embedder._client_args["credentials"] is creds
    assert "credentials" not in with_creds.to_dict()
    with pytest.raises(ge2.ConfigurationError, match=r"vertexai_config keys \['region'\]"):
        GE2Embedding(vertexai_config={"region": "eu"})
    with pytest.raises(ge2.ConfigurationError, match="vertexai=False and vertexai_config"):
        GE2Embedding(vertexai=False, vertexai_config={"project": "p"})


def test_retry_arguments_become_ge2s_retry_policy() -> None:
    emb = GE2Embedding(
        retries=4, retry_min_seconds=0.5, retry_max_seconds=9, retry_exponential_base=3
    )
    # tenacity's stop_after_attempt(4) in the peer: four attempts, so three retries.
    assert emb.embedder.retry == transport.RetryPolicy(
        max_retries=3, base_delay=0.5, max_delay=9.0, exp_base=3.0
    )
    assert emb.to_dict()["max_retries"] == 3
    assert GE2Embedding().embedder.retry == transport.RetryPolicy()  # ge2's default
    assert GE2Embedding(max_retries=2).embedder.retry.max_retries == 2
    with pytest.raises(ge2.ConfigurationError, match=r"both set the retries"):
        GE2Embedding(retries=2, http_options={"retry_options": {"attempts": 5}})
    with pytest.raises(ge2.ConfigurationError, match="max_retries=1 and retries"):
        GE2Embedding(max_retries=1, retries=4)


def test_http_options_reach_the_client_and_are_not_serialised() -> None:
    emb = GE2Embedding(
        api_key=KEY,
        http_options=types.HttpOptions(
            headers={"x-team": "search"}, api_version="v1beta", timeout=4000
        ),
    )
    opts = emb.embedder.client._api_client._http_options
    assert opts.headers is not None and opts.headers["x-team"] == "search"
    assert opts.api_version == "v1beta"
    assert opts.timeout == 4000  # kept: no timeout= given
    assert "x-team" not in emb.to_json() and "x-team" not in repr(emb)
    timed = GE2Embedding(api_key=KEY, timeout=2.5, http_options={"timeout": 4000})
    assert timed.embedder.client._api_client._http_options.timeout == 2500
    sdk_retries = GE2Embedding(http_options={"retry_options": {"attempts": 2}})
    assert sdk_retries.embedder.retry.max_retries == 1
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['header'\]"):
        GE2Embedding(http_options={"header": {}})


def test_embedding_config_http_options_join_the_clients() -> None:
    emb = GE2Embedding(embedding_config={"http_options": {"headers": {"x-a": "1"}}})
    assert emb.http_options == {"headers": {"x-a": "1"}}
    with pytest.raises(ge2.ConfigurationError, match="embedding_config"):
        GE2Embedding(
            http_options={"headers": {"x-b": "2"}},
            embedding_config={"http_options": {"headers": {"x-a": "1"}}},
        )


def test_debug_config_raises_naming_the_alternative() -> None:
    with pytest.raises(ge2.ConfigurationError, match=r"debug_config .* GE2Embedding\(client="):
        GE2Embedding(debug_config={"client_mode": "replay"})


def test_callback_manager_and_batch_size_as_in_the_peer() -> None:
    manager = CallbackManager([])
    emb = GE2Embedding("gemini-embedding-2", None, None, None, None, None, 100, manager)
    assert emb.callback_manager is manager and emb.embedder.batch_size == 100


def test_client_options_beside_a_client_or_an_embedder_raise() -> None:
    with pytest.raises(ge2.ConfigurationError, match="api_key, http_options cannot be applied"):
        GE2Embedding(client=object(), api_key=KEY, http_options={"headers": {"a": "b"}})
    shared = ge2.Embedder(api_key="unused")
    with pytest.raises(ge2.ConfigurationError, match="max_retries cannot be applied"):
        GE2Embedding(embedder=shared, retries=5)
    with pytest.raises(ge2.ConfigurationError, match="overflow cannot be applied"):
        GE2Embedding(embedder=shared, embedding_config={"auto_truncate": False})


def test_settings_round_trip_without_secrets() -> None:
    emb = GE2Embedding(
        "gemini-embedding-2",
        KEY,
        types.EmbedContentConfig(output_dimensionality=768, task_type="CLUSTERING"),
        retries=3,
        timeout=30,
    )
    data = emb.to_dict()
    again = GE2Embedding.from_dict(data)
    assert again.to_dict() == data
    assert (again.dimensions, again.query_task, again.document_task) == (
        768,
        "clustering",
        "clustering",
    )
    assert again.embedder.retry.max_retries == 2 and KEY not in str(data)
