"""Other ids of gemini-embedding-2 (``limits.MODEL_ALIASES``) mean the same model everywhere."""

from __future__ import annotations

import pytest

from ge2 import limits, tasks
from ge2.emulator import protocol


@pytest.mark.parametrize(
    "name",
    [
        "gemini-embedding-2-preview",
        "models/gemini-embedding-2-preview",
        "publishers/google/models/gemini-embedding-2-preview",
    ],
)
def test_an_alias_is_the_model(name: str) -> None:
    assert limits.canonical_model(name) == limits.DEFAULT_MODEL
    assert limits.is_gemini_embedding_2(name)
    assert tasks.uses_instructions(name)
    assert tasks.express(name, "RETRIEVAL_QUERY", "fox").text == "task: search result | query: fox"
    assert protocol.resolve_model(name) == limits.DEFAULT_MODEL


def test_other_models_are_not_aliased() -> None:
    assert limits.canonical_model("models/gemini-embedding-001") == "gemini-embedding-001"
    assert not limits.is_gemini_embedding_2("gemini-embedding-001")
    assert not tasks.uses_instructions("gemini-embedding-001")
    assert protocol.resolve_model("gemini-embedding-3-preview") is None


def test_every_alias_is_served_by_the_emulator() -> None:
    assert set(limits.MODEL_IDS) <= set(protocol.served_ids())
    assert all(model in protocol.MODELS for model in limits.MODEL_ALIASES.values())


def test_the_emulator_answers_an_alias_with_the_models_vectors() -> None:
    same = protocol.embed_content_vector("a red fox", "gemini-embedding-2", 256)
    assert protocol.embed_content_vector("a red fox", "gemini-embedding-2-preview", 256) == same
