"""google-genai-haystack's arguments on ge2's components: same names, same meaning, or a
clear error naming the alternative (the ``PARAMETERS`` table), without a network."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from google.genai import types
from haystack import Pipeline

import ge2
from ge2 import transport
from ge2.integrations.haystack import (
    GE2DocumentEmbedder,
    GE2DocumentImageEmbedder,
    GE2TextEmbedder,
)
from haystack_integrations.components.embedders.ge2._component import PARAMETERS

COMPONENTS = (GE2TextEmbedder, GE2DocumentEmbedder, GE2DocumentImageEmbedder)

# google-genai-haystack 7.0.0's __init__ parameters, in its order.
PEER_PARAMS = {
    GE2TextEmbedder: "api_key api vertex_ai_project vertex_ai_location model prefix suffix "
    "config timeout max_retries",
    GE2DocumentEmbedder: "api_key api vertex_ai_project vertex_ai_location model prefix suffix "
    "batch_size progress_bar meta_fields_to_embed embedding_separator config timeout max_retries",
    GE2DocumentImageEmbedder: "api_key api vertex_ai_project vertex_ai_location "
    "file_path_meta_field root_path image_size model batch_size progress_bar config timeout "
    "max_retries",
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "unit-key")


@pytest.mark.parametrize("cls", COMPONENTS)
def test_peer_parameters_come_first_in_the_peers_order(cls: type) -> None:
    peer = PEER_PARAMS[cls].split()
    ours = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert ours[: len(peer)] == peer


def test_every_table_entry_is_a_parameter_of_some_component() -> None:
    names = set().union(*(inspect.signature(c.__init__).parameters for c in COMPONENTS))
    assert set(PARAMETERS) <= names


@pytest.mark.parametrize("cls", COMPONENTS)
def test_config_output_dimensionality_sets_the_size(cls: type) -> None:
    comp = cls(config={"output_dimensionality": 768})
    assert comp.embedder.dimensions == 768
    assert cls(config={"output_dimensionality": 768}, dimensions=768).embedder.dimensions == 768
    with pytest.raises(ge2.ConfigurationError, match="dimensions=256 and config"):
        cls(config={"output_dimensionality": 768}, dimensions=256)


@pytest.mark.parametrize(
    ("cls", "task_type", "task"),
    [
        (GE2TextEmbedder, "RETRIEVAL_QUERY", "query"),
        (GE2TextEmbedder, "QUESTION_ANSWERING", "question_answering"),
        (GE2TextEmbedder, "SEMANTIC_SIMILARITY", "similarity"),
        (GE2DocumentEmbedder, "RETRIEVAL_DOCUMENT", "document"),
        (GE2DocumentEmbedder, "CLUSTERING", "clustering"),
        (GE2DocumentImageEmbedder, "CLASSIFICATION", "classification"),
    ],
)
def test_config_task_type_is_the_task(cls: type, task_type: str, task: str) -> None:
    assert cls(config={"task_type": task_type})._task == task
    assert cls(task=task_type)._task == task  # the API's spelling works for task= too


def test_default_tasks_and_conflicts() -> None:
    assert GE2TextEmbedder()._task == "query"
    assert GE2DocumentEmbedder()._task == "document"
    with pytest.raises(ge2.ConfigurationError, match="task='query' and config"):
        GE2TextEmbedder(task="query", config={"task_type": "CLUSTERING"})
    with pytest.raises(ge2.ConfigurationError, match="unknown task"):
        GE2TextEmbedder(config={"task_type": "SUMMARIZE"})


def test_config_title_is_the_document_title_and_refused_where_it_would_be_dropped() -> None:
    comp = GE2DocumentEmbedder(config={"title": "Harbour guide"}, title_meta_field="name")
    from haystack import Document

    assert comp._input_of(Document(content="tides")) == ge2.Text("tides", title="Harbour guide")
    named = Document(content="tides", meta={"name": "Almanac"})
    assert comp._input_of(named) == ge2.Text("tides", title="Almanac")
    with pytest.raises(ge2.ConfigurationError, match="title"):
        GE2TextEmbedder(config={"title": "x"})  # the query task has no title
    assert GE2TextEmbedder(config={"title": "x", "task_type": "RETRIEVAL_DOCUMENT"})._title == "x"
    with pytest.raises(ge2.ConfigurationError, match="meta_fields_to_embed"):
        GE2DocumentImageEmbedder(config={"title": "x"})
    with pytest.raises(ge2.ConfigurationError, match="title_meta_field"):
        GE2DocumentEmbedder(title_meta_field="name", task="clustering")


@pytest.mark.parametrize(("auto_truncate", "overflow"), [(False, "error"), (True, "split")])
def test_config_auto_truncate_is_the_overflow_policy(auto_truncate: bool, overflow: str) -> None:
    comp = GE2DocumentEmbedder(config={"auto_truncate": auto_truncate})
    assert comp.embedder.overflow == overflow
    assert GE2TextEmbedder(config={"auto_truncate": auto_truncate}).embedder.overflow == overflow
    with pytest.raises(ge2.ConfigurationError, match="overflow"):
        GE2DocumentEmbedder(config={"auto_truncate": False}, overflow="split")
    with pytest.raises(ge2.ConfigurationError, match=r"auto_truncate'\]='yes': must be True"):
        GE2DocumentEmbedder(config={"auto_truncate": "yes"})


@pytest.mark.parametrize("field", ["mime_type", "document_ocr", "audio_track_extraction"])
def test_config_fields_ge2_cannot_honour_raise_with_the_alternative(field: str) -> None:
    value: Any = "image/png" if field == "mime_type" else True
    with pytest.raises(ge2.ConfigurationError, match=rf"config\['{field}'\]") as info:
        GE2DocumentImageEmbedder(config={field: value})
    assert "drop it" in str(info.value)


def test_unknown_config_field_raises() -> None:
    with pytest.raises(ge2.ConfigurationError, match=r"config\['output_dims'\] is not"):
        GE2TextEmbedder(config={"output_dimensionality": 768, "output_dims": 5})


def test_config_http_options_reach_the_client() -> None:
    comp = GE2TextEmbedder(config={"http_options": {"headers": {"x-team": "search"}}})
    opts = comp.embedder.client._api_client._http_options
    assert opts.headers is not None and opts.headers["x-team"] == "search"
    assert comp.to_dict()["init_parameters"]["config"]["http_options"]["headers"] == {
        "x-team": "search"
    }


def test_config_http_options_serialise_as_data_but_never_a_credential_header() -> None:
    comp = GE2TextEmbedder(config={"http_options": types.HttpOptions(api_version="v1beta")})
    assert comp.to_dict()["init_parameters"]["config"] == {
        "http_options": {"api_version": "v1beta"}
    }
    leaky = GE2TextEmbedder(config={"http_options": {"headers": {"Authorization": "Bearer x"}}})
    leaky.warm_up()  # usable: the header reaches the client
    with pytest.raises(ValueError, match="looks like a credential"):
        leaky.to_dict()


def test_batch_size_over_100_is_accepted_and_kept_but_calls_carry_at_most_100() -> None:
    comp = GE2DocumentEmbedder(batch_size=500)
    assert comp.batch_size == 500 and comp.to_dict()["init_parameters"]["batch_size"] == 500
    assert comp.embedder.batch_size == 100
    assert GE2DocumentImageEmbedder(batch_size=6).embedder.batch_size == 6
    with pytest.raises(ValueError, match="batch_size=0"):
        GE2DocumentEmbedder(batch_size=0)


def test_max_retries_counts_attempts_as_the_sdk_does() -> None:
    # google-genai-haystack sends HttpRetryOptions(attempts=max_retries).
    assert GE2TextEmbedder(max_retries=3).embedder.retry.max_retries == 2
    assert GE2TextEmbedder(max_retries=1).embedder.retry.max_retries == 0
    assert GE2TextEmbedder().embedder.retry == transport.RetryPolicy()  # ge2's default
    with pytest.raises(ge2.ConfigurationError, match="max_retries both set"):
        GE2TextEmbedder(max_retries=3, config={"http_options": {"retry_options": {"attempts": 5}}})
    via_config = GE2TextEmbedder(config={"http_options": {"retry_options": {"attempts": 5}}})
    assert via_config.embedder.retry.max_retries == 4
    assert via_config.embedder.client._api_client._http_options.retry_options is None


def test_timeout_is_seconds_per_request() -> None:
    opts = GE2TextEmbedder(timeout=7.5).embedder.client._api_client._http_options
    assert opts.timeout == 7500
    kept = GE2TextEmbedder(config={"http_options": types.HttpOptions(timeout=3000)})
    assert kept.embedder.client._api_client._http_options.timeout == 3000


def test_api_and_vertex_settings() -> None:
    gemini = GE2TextEmbedder(api="gemini").embedder.client
    assert not transport.is_vertex(gemini)
    vertex = GE2TextEmbedder(
        api="vertex", vertex_ai_project="my-project", vertex_ai_location="us-central1"
    )
    # As the peer: with a project and location, Vertex AI uses Application Default
    # Credentials and the key from the environment is not sent.
    vertex.warm_up()
    assert vertex.embedder._client_args["api_key"] is None
    assert vertex.embedder._client_args["project"] == "my-project"
    assert vertex.embedder._client_args["vertexai"] is True
    express = GE2TextEmbedder(api="vertex")
    express.warm_up()
    assert express.embedder._client_args["api_key"] == "unit-key"
    with pytest.raises(ValueError, match="api='openai'"):
        GE2TextEmbedder(api="openai")


def test_an_instruction_prefix_is_not_doubled() -> None:
    """google-genai-haystack documents ``prefix`` for gemini-embedding-2's task instruction."""
    comp = GE2TextEmbedder(prefix="task: question answering | query: ")
    assert comp._task == "raw"
    assert comp._text("why?") == ge2.Text("task: question answering | query: why?")
    assert GE2DocumentEmbedder(prefix="title: none | text: ")._task == "raw"
    assert GE2TextEmbedder(prefix="search_query: ")._task == "query"


@pytest.mark.parametrize("cls", COMPONENTS)
def test_every_setting_round_trips_through_yaml(cls: type) -> None:
    settings: dict[str, Any] = {
        "api": "gemini",
        "model": "gemini-embedding-2",
        "config": {
            "output_dimensionality": 768,
            "task_type": "CLUSTERING",
            "auto_truncate": False,
            "http_options": {"headers": {"x-team": "search"}, "api_version": "v1beta"},
        },
        "timeout": 12.0,
        "max_retries": 4,
        "quota": {"requests_per_minute": 100},
    }
    if cls is not GE2TextEmbedder:
        settings.update(batch_size=250, progress_bar=False)
    pipe = Pipeline()
    pipe.add_component("emb", cls(**settings))
    text = pipe.dumps()
    loaded = Pipeline.loads(text).get_component("emb")
    assert loaded.to_dict() == pipe.get_component("emb").to_dict()
    assert loaded._task == "clustering" and loaded.embedder.dimensions == 768
    assert loaded.embedder.overflow == "error" and loaded.embedder.retry.max_retries == 3


async def test_async_twins_of_warm_up_and_close() -> None:
    comp = GE2TextEmbedder()
    await comp.warm_up_async()
    assert comp._embedder is not None
    await comp.close_async()
    assert comp._embedder is None
