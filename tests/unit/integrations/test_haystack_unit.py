"""Haystack adapter, without a network: serialisation, secrets, input translation, errors."""

from __future__ import annotations

import importlib
import inspect
import io
import sys
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.core.errors import DeserializationError
from haystack.dataclasses import ByteStream
from haystack.utils import Secret
from PIL import Image as PILImage

import ge2
from ge2 import media, samples
from ge2.integrations.haystack import (
    GE2DocumentEmbedder,
    GE2DocumentImageEmbedder,
    GE2MultimodalDocumentEmbedder,
    GE2TextEmbedder,
)

KEY = "AIza-unit-test-secret-value"
COMPONENTS = (GE2TextEmbedder, GE2DocumentEmbedder, GE2DocumentImageEmbedder)

# google-genai-haystack 7.0.0's __init__ parameters: a user swaps the class name only.
PEER_PARAMS = {
    GE2TextEmbedder: "api_key api vertex_ai_project vertex_ai_location model prefix suffix "
    "config timeout max_retries",
    GE2DocumentEmbedder: "api_key api vertex_ai_project vertex_ai_location model prefix suffix "
    "batch_size progress_bar meta_fields_to_embed embedding_separator config timeout max_retries",
    GE2DocumentImageEmbedder: "api_key api vertex_ai_project vertex_ai_location "
    "file_path_meta_field root_path image_size model batch_size progress_bar config timeout "
    "max_retries",
}


@pytest.fixture
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return KEY


@pytest.mark.parametrize("cls", COMPONENTS)
def test_peer_parameter_names_are_accepted(cls: type) -> None:
    ours = set(inspect.signature(cls.__init__).parameters)
    assert set(PEER_PARAMS[cls].split()) <= ours


def test_multimodal_alias_is_the_image_embedder() -> None:
    assert GE2MultimodalDocumentEmbedder is GE2DocumentImageEmbedder


@pytest.mark.parametrize("cls", COMPONENTS)
def test_to_dict_from_dict_round_trip_keeps_the_key_out(cls: type, key_in_env: str) -> None:
    comp = cls(dimensions=768, model="gemini-embedding-2", timeout=30.0)
    data = comp.to_dict()
    # Haystack's integration namespace: YAML with this type loads by default.
    assert data["type"] == f"{cls.__module__}.{cls.__name__}"
    assert data["type"].startswith("haystack_integrations.components.embedders.ge2.")
    params = data["init_parameters"]
    assert params["api_key"] == {
        "type": "env_var",
        "env_vars": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        "strict": False,
    }
    assert params["dimensions"] == 768 and params["timeout"] == 30.0
    assert set(params) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert (
        key_in_env not in repr(data)
        and key_in_env not in repr(comp)
        and key_in_env not in str(comp)
    )

    again = cls.from_dict(data)
    assert isinstance(again, cls)
    assert again.to_dict() == data
    assert isinstance(again.api_key, Secret)
    assert again.api_key.resolve_value() == key_in_env  # read from the environment again
    again.warm_up()  # builds the ge2.Embedder; sends nothing (sockets are off)
    assert again.embedder.dimensions == 768
    assert key_in_env not in repr(again.embedder)


def test_media_settings_round_trip_through_yaml(key_in_env: str) -> None:
    pipe = Pipeline()
    pipe.add_component(
        "media",
        GE2DocumentImageEmbedder(
            image_size=(32, 32),
            root_path="/data",
            meta_fields_to_embed=["caption"],
            raise_on_failure=False,
            cache=True,
        ),
    )
    pipe.add_component("query", GE2TextEmbedder(prefix="Q: ", task="question_answering"))
    text = pipe.dumps()
    assert key_in_env not in text
    # Haystack 3 loads classes only from allow-listed modules; haystack_integrations is one.
    loaded = Pipeline.loads(text)
    media_emb = loaded.get_component("media")
    assert media_emb.image_size == (32, 32)
    assert media_emb.root_path == "/data" and media_emb.raise_on_failure is False
    assert media_emb.meta_fields_to_embed == ["caption"] and media_emb.cache is True
    assert loaded.get_component("query").task == "question_answering"
    assert loaded.dumps() == text


@pytest.mark.parametrize("cls", COMPONENTS)
def test_quota_round_trips_and_reaches_the_pacer(cls: type, key_in_env: str) -> None:
    quota = ge2.Quota(100, tokens_per_minute=5000)
    for given in ({"requests_per_minute": 100, "tokens_per_minute": 5000}, quota):
        comp = cls(quota=given)
        data = comp.to_dict()
        assert data["init_parameters"]["quota"] == {
            "requests_per_minute": 100,
            "requests_per_day": None,
            "per": "input",
            "tokens_per_minute": 5000,
        }
        again = cls.from_dict(data)
        assert again.to_dict() == data
        assert again.embedder.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
    assert cls().embedder.pacer.quota is None
    with pytest.raises(ValueError, match="unknown Quota field"):
        cls(quota={"rpm": 100})


def test_quota_survives_a_yaml_pipeline(key_in_env: str) -> None:
    pipe = Pipeline()
    pipe.add_component("docs", GE2DocumentEmbedder(quota=ge2.limits.FREE_TIER))
    loaded = Pipeline.loads(pipe.dumps())
    assert loaded.get_component("docs").embedder.pacer.quota == ge2.limits.FREE_TIER


def test_yaml_saved_under_the_old_module_path_still_loads_when_allowed(key_in_env: str) -> None:
    """Pipelines saved before the move name ge2.integrations.haystack, which re-exports."""
    pipe = Pipeline()
    pipe.add_component("query", GE2TextEmbedder(dimensions=256))
    old = pipe.dumps().replace(
        "haystack_integrations.components.embedders.ge2.text_embedder", "ge2.integrations.haystack"
    )
    assert "ge2.integrations.haystack.GE2TextEmbedder" in old
    with pytest.raises(DeserializationError, match=r"ge2\.integrations\.haystack"):
        Pipeline.loads(old)
    loaded = Pipeline.loads(old, allowed_modules=["ge2.integrations.haystack"])
    assert isinstance(loaded.get_component("query"), GE2TextEmbedder)


def test_a_token_secret_is_never_serialised() -> None:
    comp = GE2TextEmbedder(api_key=Secret.from_token(KEY))
    with pytest.raises(ValueError, match="Cannot serialize token-based secret"):
        comp.to_dict()
    assert KEY not in repr(comp.api_key) and KEY not in str(comp.__dict__)


def test_missing_haystack_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "ge2.integrations.haystack")
    monkeypatch.setitem(sys.modules, "haystack", None)  # import haystack -> ImportError
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.haystack")
    assert 'pip install "ge2[haystack]"' in str(info.value)
    assert info.value.package == "haystack-ai"


def test_config_output_dimensionality_and_bad_settings() -> None:
    comp = GE2TextEmbedder(config={"output_dimensionality": 512})
    assert comp.embedder.dimensions == 512
    with pytest.raises(ValueError, match="api='openai'"):
        GE2DocumentEmbedder(api="openai")
    with pytest.raises(ge2.ConfigurationError, match="dimensions=64"):
        GE2TextEmbedder(dimensions=64).warm_up()


def test_text_preparation_follows_haystack() -> None:
    comp = GE2DocumentEmbedder(
        prefix="<",
        suffix=">",
        meta_fields_to_embed=["topic", "missing", "none"],
        embedding_separator=" | ",
        title_meta_field="title",
    )
    docs = [
        Document(content="body text", meta={"topic": "foxes", "none": None, "title": "Fox"}),
        Document(content=None, meta={"topic": "only meta"}),
    ]
    assert comp._prepare_texts_to_embed(docs) == ["<foxes | body text>", "<only meta | >"]
    first = comp._input_of(docs[0])
    assert first == ge2.Text("<foxes | body text>", title="Fox")
    assert GE2TextEmbedder(prefix="find: ", suffix="?")._text("fox") == ge2.Text("find: fox?")


def test_documents_with_nothing_to_embed_fail_clearly_or_are_reported() -> None:
    docs = [Document(content="fine"), Document(content="  "), Document(blob=ByteStream(b"x"))]
    with pytest.raises(ValueError, match=rf"Document '{docs[1].id}': no text to embed"):
        GE2DocumentEmbedder()._inputs(docs)
    inputs, failures = GE2DocumentEmbedder(raise_on_failure=False)._inputs(docs)
    assert inputs[0] == ge2.Text("fine") and inputs[1] is None and inputs[2] is None
    assert set(failures) == {1, 2}
    assert "use GE2DocumentImageEmbedder" in failures[2]


@pytest.mark.parametrize("cls", [GE2DocumentEmbedder, GE2DocumentImageEmbedder])
def test_wrong_input_type_is_a_type_error(cls: type) -> None:
    with pytest.raises(TypeError, match="expects a list of Documents"):
        cls()._inputs("not documents")
    with pytest.raises(TypeError, match="expects a string"):
        GE2TextEmbedder()._text([Document(content="x")])  # type: ignore[arg-type]


def test_media_inputs_from_blob_file_page_and_caption(tmp_path: Path) -> None:
    paths = {p.name: p for p in samples.write_corpus(tmp_path)}
    comp = GE2DocumentImageEmbedder(root_path=str(tmp_path), meta_fields_to_embed=["caption"])
    blob = comp._input_of(Document(blob=ByteStream(samples.png(), mime_type="image/png")))
    assert isinstance(blob, ge2.Image) and blob.mime == "image/png"
    wav = comp._input_of(Document(meta={"file_path": "birdsong.wav"}))
    assert isinstance(wav, ge2.Audio)
    page = comp._input_of(Document(meta={"file_path": "solar-report.pdf", "page_number": 2}))
    assert isinstance(page, ge2.Pdf) and page.provenance["page_start"] == 2
    assert media.pdf_page_count(page.source()) == 1
    whole = comp._input_of(Document(meta={"file_path": "solar-report.pdf"}))
    assert isinstance(whole, ge2.Pdf) and whole.path == paths["solar-report.pdf"]
    mixed = comp._input_of(Document(meta={"file_path": "red-fox.png", "caption": "a fox"}))
    assert isinstance(mixed, ge2.Mixed)
    assert mixed.parts[0] == ge2.Text("a fox") and isinstance(mixed.parts[1], ge2.Image)


def test_image_size_shrinks_images_only_when_larger() -> None:
    comp = GE2DocumentImageEmbedder(image_size=(16, 16))
    big = comp._input_of(Document(blob=ByteStream(samples.png(size=(64, 32)))))
    with PILImage.open(io.BytesIO(big.read())) as img:
        assert img.size == (16, 8)
    small = comp._input_of(Document(blob=ByteStream(samples.png(size=(8, 8)))))
    with PILImage.open(io.BytesIO(small.read())) as img:
        assert img.size == (8, 8)


def test_bad_media_documents(tmp_path: Path) -> None:
    (tmp_path / "inside.png").write_bytes(samples.png())
    comp = GE2DocumentImageEmbedder(root_path=str(tmp_path / "sub"))
    docs = [
        Document(content="text only"),
        Document(blob=ByteStream(b"\x00\x01 not any known media \xff" * 10)),
        Document(meta={"file_path": "../inside.png"}),
        Document(meta={"file_path": "nope.png"}),
        Document(blob=ByteStream(b"plain words, not media")),
    ]
    with pytest.raises(ValueError, match="no media to embed: no blob and no meta\\['file_path'\\]"):
        comp._inputs(docs[:1])
    with pytest.raises(ValueError, match="unknown file type"):
        comp._inputs(docs[1:2])
    with pytest.raises(ValueError, match="escapes root_path"):
        comp._inputs(docs[2:3])
    with pytest.raises(ValueError, match="no such file"):
        comp._inputs(docs[3:4])
    with pytest.raises(ValueError, match="the media is text"):
        comp._inputs(docs[4:5])
    comp.raise_on_failure = False
    inputs, failures = comp._inputs(docs)
    assert inputs == [None] * 5 and sorted(failures) == [0, 1, 2, 3, 4]
