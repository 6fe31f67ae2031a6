"""Chroma's GoogleGeminiEmbeddingFunction arguments on GE2EmbeddingFunction (no network)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

pytest.importorskip("chromadb")
from chromadb.utils.embedding_functions import (
    GoogleGeminiEmbeddingFunction,
    GoogleGenaiEmbeddingFunction,
)

from ge2.integrations.chroma import (
    PEER_ARGUMENTS,
    GE2EmbeddingFunction,
    translate_peer_arguments,
)


@pytest.mark.parametrize("peer", [GoogleGeminiEmbeddingFunction, GoogleGenaiEmbeddingFunction])
def test_the_peers_parameters_in_the_peers_positions(peer: type) -> None:
    theirs = list(inspect.signature(peer.__init__).parameters)[1:]
    ours = list(inspect.signature(GE2EmbeddingFunction.__init__).parameters)[1:]
    assert ours[: len(theirs)] == theirs


def test_positional_use_as_in_chroma() -> None:
    ef = GE2EmbeddingFunction("gemini-embedding-2-preview", "RETRIEVAL_DOCUMENT", 768, "MY_KEY")
    assert (ef.model, ef.dimensions, ef.api_key_env_var) == (
        "gemini-embedding-2-preview",
        768,
        "MY_KEY",
    )
    assert (ef.document_task, ef.query_task) == ("document", "document")
    assert (ef.model_name, ef.dimension) == ("gemini-embedding-2-preview", 768)


@pytest.mark.parametrize(
    ("peer", "ours", "expected"),
    [
        ({}, {}, ("gemini-embedding-2", 3072, "document", "query")),
        ({"model_name": "m"}, {}, ("m", 3072, "document", "query")),
        ({}, {"model": "m", "dimensions": 256}, ("m", 256, "document", "query")),
        ({"dimension": 768}, {"dimensions": 768}, ("gemini-embedding-2", 768, "document", "query")),
        ({"task_type": "SEMANTIC_SIMILARITY"}, {}, (None, None, "similarity", "similarity")),
        ({}, {"query_task": "RETRIEVAL_QUERY"}, (None, None, "document", "query")),
    ],
)
def test_translation(peer: dict[str, Any], ours: dict[str, Any], expected: tuple[Any, ...]) -> None:
    out = translate_peer_arguments(peer, ours)
    got = (out["model"], out["dimensions"], out["document_task"], out["query_task"])
    assert all(e is None or g == e for g, e in zip(got, expected, strict=True))
    assert set(PEER_ARGUMENTS) == {"model_name", "dimension", "task_type"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_name": "a", "model": "b"}, "model_name='a' and model='b' disagree"),
        ({"dimension": 768, "dimensions": 256}, "dimension=768 and dimensions=256 disagree"),
        ({"task_type": "CLUSTERING", "query_task": "query"}, "disagree"),
        ({"task_type": "NOT_A_TASK"}, "unknown task"),
    ],
)
def test_conflicts_and_unknown_tasks_raise(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GE2EmbeddingFunction(api_key="k", **kwargs)


def test_old_positional_dimensions_raise_naming_task_type() -> None:
    with pytest.raises(TypeError, match=r"task_type=768 is not a task.*dimension="):
        GE2EmbeddingFunction("gemini-embedding-2", 768, api_key="k")  # type: ignore[arg-type]


def test_config_round_trips_the_google_arguments() -> None:
    ef = GE2EmbeddingFunction("gemini-embedding-2", "CLUSTERING", 512, api_key_env_var=None)
    config = json.loads(json.dumps(ef.get_config()))
    assert config["document_task"] == config["query_task"] == "clustering"
    again = GE2EmbeddingFunction.build_from_config(config)
    assert again.get_config() == config
    assert (again.dimension, again.query_task) == (512, "clustering")


def test_a_config_written_with_chromas_names_loads() -> None:
    config = {
        "model_name": "gemini-embedding-2",
        "task_type": "RETRIEVAL_QUERY",
        "dimension": 768,
        "api_key_env_var": None,
    }
    ef = GE2EmbeddingFunction.build_from_config(config)
    assert (ef.model, ef.dimensions, ef.document_task) == ("gemini-embedding-2", 768, "query")


def test_default_tasks_are_not_written_so_older_configs_stay_equal() -> None:
    assert "document_task" not in GE2EmbeddingFunction(api_key_env_var=None).get_config()


def test_the_task_cannot_change_on_an_existing_collection() -> None:
    ef = GE2EmbeddingFunction(api_key_env_var=None)
    with pytest.raises(ValueError, match="document_task cannot change"):
        ef.validate_config_update(ef.get_config(), {"document_task": "clustering"})
    ef.validate_config_update(ef.get_config(), {"document_task": "document"})  # unchanged
