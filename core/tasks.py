"""The one place that decides how a task ("document", "query", ...) reaches the model.

``gemini-embedding-001`` takes the ``task_type`` parameter. ``gemini-embedding-2`` accepts
``task_type`` but ignores it; Google's docs put the task into the text instead:
queries ``task: search result | query: {text}``, documents ``title: {title} | text: {text}``,
symmetric tasks ``task: classification | query: {text}`` on both sides. Instructions go on
text-only inputs; a media or mixed input is sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from . import limits

Task = Literal[
    "document",
    "query",
    "question_answering",
    "fact_checking",
    "code_retrieval",
    "classification",
    "clustering",
    "similarity",
    "raw",
]

TASKS: tuple[str, ...] = get_args(Task)

_ALIASES = {
    "retrieval_document": "document",
    "search_document": "document",
    "doc": "document",
    "retrieval_query": "query",
    "search_query": "query",
    "search_result": "query",
    "fact_verification": "fact_checking",
    "code_retrieval_query": "code_retrieval",
    "semantic_similarity": "similarity",
    "sentence_similarity": "similarity",
    "none": "raw",
    "task_type_unspecified": "raw",
}

#: gemini-embedding-2 instruction names (Google's wording).
_INSTRUCTION = {
    "query": "search result",
    "question_answering": "question answering",
    "fact_checking": "fact checking",
    "code_retrieval": "code retrieval",
    "classification": "classification",
    "clustering": "clustering",
    "similarity": "sentence similarity",
}

#: gemini-embedding-001 (and older text models) task_type values.
_TASK_TYPE = {
    "document": "RETRIEVAL_DOCUMENT",
    "query": "RETRIEVAL_QUERY",
    "question_answering": "QUESTION_ANSWERING",
    "fact_checking": "FACT_VERIFICATION",
    "code_retrieval": "CODE_RETRIEVAL_QUERY",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
    "similarity": "SEMANTIC_SIMILARITY",
}


def normalize_task(task: str | None) -> str:
    """Canonical task name; accepts the API's TASK_TYPE spellings too."""
    if task is None:
        return "raw"
    key = task.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return key


def uses_instructions(model: str) -> bool:
    """True for models that take the task as a text instruction (gemini-embedding-2 family).

    Every id of gemini-embedding-2 (``limits.MODEL_ALIASES``, e.g. ``-preview``) does; so
    does a later ``gemini-embedding-*`` id; ``-001`` and the ``-exp`` ids read ``task_type``.
    """
    canonical = limits.canonical_model(model)
    if limits.is_gemini_embedding_2(canonical):
        return True
    return canonical.startswith("gemini-embedding-") and not canonical.startswith(
        ("gemini-embedding-001", "gemini-embedding-exp")
    )


@dataclass(frozen=True)
class TaskForm:
    """How one text input is sent: its (possibly instructed) text, task_type and title."""

    text: str
    task_type: str | None = None
    title: str | None = None


def express(model: str, task: str | None, text: str, title: str | None = None) -> TaskForm:
    """The text, ``task_type`` and ``title`` to send for a text-only input."""
    task = normalize_task(task)
    if task == "raw":
        return TaskForm(text)
    if uses_instructions(model):
        if task == "document":
            return TaskForm(f"title: {title or 'none'} | text: {text}")
        return TaskForm(f"task: {_INSTRUCTION[task]} | query: {text}")
    return TaskForm(text, _TASK_TYPE[task], title if task == "document" else None)


def task_type_for_media(model: str, task: str | None) -> str | None:
    """``task_type`` for a media/mixed input: only models that read the parameter get one."""
    task = normalize_task(task)
    if task == "raw" or uses_instructions(model):
        return None
    return _TASK_TYPE[task]
