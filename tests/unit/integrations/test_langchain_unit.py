"""GE2Embeddings without a network: configuration, secrets, validation, the missing extra.

Sockets are disabled here (tests/unit/conftest.py), so every test also proves that
building the adapter, and rejecting bad input, never touches the network.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest
from google import genai
from langchain_core.embeddings import Embeddings
from langchain_core.load import dumpd, dumps
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import SecretStr, ValidationError

import ge2
from ge2 import samples
from ge2.integrations.langchain import GE2Embeddings

SECRET = "sk-very-secret-0123456789"


class TestGE2EmbeddingsStandardUnit(EmbeddingsUnitTests):
    """LangChain's own unit suite, unmodified (init must not need a key or a network)."""

    @property
    def embeddings_class(self) -> type[GE2Embeddings]:
        return GE2Embeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "gemini-embedding-2", "dimensions": 768}


def test_defaults_build_one_embedder_lazily() -> None:
    emb = GE2Embeddings()
    assert isinstance(emb, Embeddings)
    assert emb.model == "gemini-embedding-2"
    assert emb.dimensions == 3072
    assert emb.google_api_key is None  # left to the SDK, which reads GEMINI_API_KEY itself
    assert isinstance(emb.embedder, ge2.Embedder)
    assert (emb.embedder.model, emb.embedder.dimensions) == ("gemini-embedding-2", 3072)
    assert emb.embedder._client is None  # no client (and no key lookup) until the first call


def test_settings_reach_the_core() -> None:
    quota = ge2.Quota(requests_per_minute=100)
    emb = GE2Embeddings(
        dimensions=768,
        batch_size=10,
        max_concurrency=2,
        quota=quota,
        max_retries=1,
        overflow="error",
        query_task="question_answering",
    )
    core = emb.embedder
    assert core is not None
    assert (core.dimensions, core.batch_size, core.max_concurrency) == (768, 10, 2)
    assert core.overflow == "error"
    assert core.retry.max_retries == 1
    assert emb.query_task == "question_answering"


def test_quota_round_trips_and_reaches_the_pacer() -> None:
    for given in (
        {"requests_per_minute": 100, "tokens_per_minute": 5000},
        ge2.Quota(100, tokens_per_minute=5000),
    ):
        emb = GE2Embeddings(quota=given, dimensions=256)
        assert emb.quota == ge2.Quota(100, tokens_per_minute=5000)
        assert emb.embedder is not None and emb.embedder.pacer.quota == emb.quota
        data = emb.model_dump(mode="json")
        assert (
            data["quota"]["requests_per_minute"] == 100
            and data["quota"]["tokens_per_minute"] == 5000
        )
        again = GE2Embeddings.model_validate(data)
        assert again.embedder is not None and again.embedder.pacer.quota == emb.quota
        assert again.model_dump(mode="json") == data
    assert GE2Embeddings().embedder.pacer.quota is None  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match="unknown Quota field"):
        GE2Embeddings(quota={"requests_per_minute": 100, "rpm": 5})


def test_cache_path_is_passed_to_the_core(tmp_path: Path) -> None:
    emb = GE2Embeddings(cache=tmp_path / "lc.sqlite")
    assert emb.embedder is not None and emb.embedder.cache is not None
    assert Path(emb.embedder.cache.path) == tmp_path / "lc.sqlite"
    emb.embedder.close()


@pytest.mark.parametrize("name", ["api_key", "google_api_key"])
def test_api_key_by_alias_or_name_is_a_secret(name: str) -> None:
    emb = GE2Embeddings(**{name: SECRET})
    assert isinstance(emb.google_api_key, SecretStr)
    assert emb.google_api_key.get_secret_value() == SECRET


def test_secret_never_shown_or_serialised() -> None:
    emb = GE2Embeddings(api_key=SECRET, dimensions=256)
    shown = [
        repr(emb),
        str(emb),
        f"{emb}",
        repr(emb.embedder),
        str(emb.model_dump()),
        str(emb.model_dump(mode="json")),
        emb.model_dump_json(),
        dumps(emb),
        str(dumpd(emb)),
    ]
    for text in shown:
        assert SECRET not in text
    assert "**********" in emb.model_dump_json()
    # the live objects are never dumped (they are not data, and the client holds the key)
    assert "client" not in emb.model_dump() and "embedder" not in emb.model_dump()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dimensions", 100),
        ("dimensions", 4096),
        ("batch_size", 0),
        ("batch_size", 101),
        ("max_concurrency", 0),
        ("document_task", "retrieval"),
        ("query_task", "QUERY!"),
        ("overflow", "truncate"),
        ("modle", "typo"),
    ],
)
def test_bad_settings_are_rejected_by_name(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        GE2Embeddings(**{field: value})


def test_prebuilt_embedder_is_shared_and_sets_defaults() -> None:
    core = ge2.Embedder(dimensions=1536, api_key="x")
    emb = GE2Embeddings(embedder=core)
    assert emb.embedder is core
    assert emb.dimensions == 1536
    # a smaller per-call size is allowed: the core hands out re-normalised prefixes
    assert GE2Embeddings(embedder=core, dimensions=256).dimensions == 256


@pytest.mark.parametrize(
    "extra", [{"api_key": "x"}, {"base_url": "http://x"}, {"cache": True}, {"batch_size": 5}]
)
def test_prebuilt_embedder_refuses_conflicting_settings(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="embedder= already carries"):
        GE2Embeddings(embedder=ge2.Embedder(api_key="x"), **extra)


def test_prebuilt_embedder_model_must_match() -> None:
    with pytest.raises(ValidationError, match="differs from the embedder"):
        GE2Embeddings(embedder=ge2.Embedder(api_key="x"), model="gemini-embedding-001")


def test_existing_genai_client_is_used() -> None:
    client = genai.Client(api_key="x")
    emb = GE2Embeddings(client=client)
    assert emb.embedder is not None and emb.embedder.client is client
    with pytest.raises(ValidationError, match="client= is already configured"):
        GE2Embeddings(client=client, api_key="y")


def test_media_methods_follow_langchains_names() -> None:
    # langchain-chroma calls embed_image(uris=...) after hasattr(emb, "embed_image")
    for name in ("embed_image", "embed_audio", "embed_video", "embed_pdf"):
        params = list(inspect.signature(getattr(GE2Embeddings, name)).parameters)
        assert params == ["self", "uris"], name
        assert inspect.iscoroutinefunction(getattr(GE2Embeddings, "a" + name))
    assert inspect.iscoroutinefunction(GE2Embeddings.aembed_media)


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ge2.integrations.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core.embeddings", None)  # import -> ImportError
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.langchain")
    assert 'pip install "ge2[langchain]"' in str(info.value)
    assert info.value.package == "langchain-core"
    assert isinstance(info.value, ImportError)


# -- bad input is refused before any request (sockets are off: a request would fail) ------


@pytest.fixture
def offline() -> GE2Embeddings:
    return GE2Embeddings(api_key="test", dimensions=256)


def test_wrong_media_type_names_the_item(offline: GE2Embeddings, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture", encoding="utf-8")
    fox = tmp_path / "fox.png"
    fox.write_bytes(samples.png())
    with pytest.raises(ge2.InputError, match=r"input #1 image '.*notes\.txt'.*not image"):
        offline.embed_image([str(fox), str(notes)])


def test_unsupported_file_names_the_item(offline: GE2Embeddings, tmp_path: Path) -> None:
    blob = tmp_path / "data.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    store = InMemoryVectorStore(offline)
    with pytest.raises(ge2.InputError, match=r"input #0 .*data\.bin.*unknown file type"):
        offline.add_media(store, [blob])
    assert store.store == {}


def test_over_limit_text_names_the_item() -> None:
    emb = GE2Embeddings(api_key="test", overflow="error")
    with pytest.raises(ge2.InputError, match=r"input #1 text .*over the model's limits"):
        emb.embed_documents(["short", "word " * 20_000])


async def test_async_bad_input_names_the_item(offline: GE2Embeddings, tmp_path: Path) -> None:
    missing = tmp_path / "gone.wav"
    with pytest.raises(ge2.InputError, match=r"input #0 audio '.*gone\.wav'"):
        await offline.aembed_audio([str(missing)])


def test_document_without_source_is_refused(offline: GE2Embeddings) -> None:
    from langchain_core.documents import Document

    store = InMemoryVectorStore(offline)
    with pytest.raises(ge2.InputError, match=r"input #0 .*metadata\['source'\]"):
        offline.add_media(store, [Document(page_content="caption only")])


def test_add_media_refuses_a_store_on_other_embeddings(offline: GE2Embeddings) -> None:
    other = GE2Embeddings(api_key="test", dimensions=256)
    with pytest.raises(ValueError, match="does not use this GE2Embeddings"):
        offline.add_media(InMemoryVectorStore(other), ["anything.png"])
