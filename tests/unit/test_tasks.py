"""How a task reaches the model is decided in one function, per model."""

from __future__ import annotations

import pytest

from ge2 import tasks


def test_gemini_embedding_2_puts_the_task_in_the_text() -> None:
    q = tasks.express("gemini-embedding-2", "query", "red fox")
    assert q == tasks.TaskForm("task: search result | query: red fox")
    d = tasks.express("gemini-embedding-2", "document", "the fox", title="Foxes")
    assert d == tasks.TaskForm("title: Foxes | text: the fox")
    assert tasks.express("gemini-embedding-2", "document", "x").text == "title: none | text: x"
    assert tasks.express("models/gemini-embedding-2", "clustering", "x").text == (
        "task: clustering | query: x"
    )
    assert tasks.express("gemini-embedding-2", "similarity", "x").text.startswith(
        "task: sentence similarity |"
    )
    assert tasks.express("gemini-embedding-2", "raw", "x") == tasks.TaskForm("x")


def test_gemini_embedding_001_uses_the_task_type_parameter() -> None:
    q = tasks.express("gemini-embedding-001", "query", "red fox")
    assert q == tasks.TaskForm("red fox", "RETRIEVAL_QUERY", None)
    d = tasks.express("gemini-embedding-001", "document", "fox", title="T")
    assert d == tasks.TaskForm("fox", "RETRIEVAL_DOCUMENT", "T")


def test_media_never_gets_an_instruction_or_a_useless_task_type() -> None:
    assert tasks.task_type_for_media("gemini-embedding-2", "query") is None
    assert tasks.task_type_for_media("gemini-embedding-001", "query") == "RETRIEVAL_QUERY"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("RETRIEVAL_DOCUMENT", "document"),
        ("retrieval-query", "query"),
        ("FACT_VERIFICATION", "fact_checking"),
        (None, "raw"),
        ("Semantic Similarity", "similarity"),
    ],
)
def test_task_aliases(given: str | None, expected: str) -> None:
    assert tasks.normalize_task(given) == expected


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown task 'search'"):
        tasks.normalize_task("search")


def test_task_type_unspecified_sends_the_text_unchanged() -> None:
    assert tasks.normalize_task("TASK_TYPE_UNSPECIFIED") == "raw"
    assert tasks.express("gemini-embedding-2", "TASK_TYPE_UNSPECIFIED", "x") == tasks.TaskForm("x")
