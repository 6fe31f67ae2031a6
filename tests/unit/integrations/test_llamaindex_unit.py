"""GE2Embedding without a network: configuration, serialisation, secrets, node -> input."""

from __future__ import annotations

import base64
import builtins
import importlib
import io
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import (
    Document,
    ImageNode,
    MediaResource,
    Node,
    TextNode,
)
from llama_index.core.storage.kvstore import SimpleKVStore

import ge2
from ge2 import samples
from ge2.integrations import llamaindex
from ge2.integrations.llamaindex import GE2Embedding, node_input

KEY = "AIza-very-secret-key-123"


class RecordingEmbedder(ge2.Embedder):
    """A core embedder that records what the adapter asks for and answers without the API."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(api_key="unused", **kwargs)
        self.calls: list[tuple[str, list[Any], Any]] = []

    def _answer(self, inputs: Any, task: Any, dimensions: Any) -> list[list[float]]:
        items = list(inputs)
        self.calls.append((task, items, dimensions))
        return [[float(i), 1.0] for i in range(len(items))]

    def embed(self, inputs: Any, *, task: Any = "document", dimensions: Any = None) -> Any:
        return self._answer(inputs, task, dimensions)

    async def aembed(self, inputs: Any, *, task: Any = "document", dimensions: Any = None) -> Any:
        return self._answer(inputs, task, dimensions)


@pytest.fixture
def recorder() -> RecordingEmbedder:
    return RecordingEmbedder(dimensions=256, batch_size=5, max_concurrency=3)


@pytest.fixture
def model(recorder: RecordingEmbedder) -> GE2Embedding:
    return GE2Embedding(embedder=recorder)


# -- configuration -------------------------------------------------------------------------


def test_defaults_and_class() -> None:
    emb = GE2Embedding()
    assert isinstance(emb, MultiModalEmbedding)
    assert GE2Embedding.class_name() == "GE2Embedding"
    assert emb.model_name == "gemini-embedding-2"
    assert emb.dimensions == 3072
    assert emb.embed_batch_size == 100  # the API's per-call maximum, not LlamaIndex's 10
    assert emb.api_key is None
    assert emb.embedder.model == "gemini-embedding-2"
    assert emb.embedder.max_concurrency == ge2.embedder.DEFAULT_MAX_CONCURRENCY  # the core's


def test_batch_size_and_workers_reach_the_core() -> None:
    emb = GE2Embedding(dimensions=768, embed_batch_size=3, num_workers=2)
    assert (emb.embedder.batch_size, emb.embedder.max_concurrency) == (3, 2)
    assert emb.embedder.dimensions == 768
    # LlamaIndex allows up to 2048; the API takes 100 per call, so the core packs 100.
    assert GE2Embedding(embed_batch_size=500).embedder.batch_size == 100


def test_bad_dimensions_rejected() -> None:
    with pytest.raises(ValueError, match="dimensions"):
        GE2Embedding(dimensions=64)


def test_prebuilt_embedder_is_mirrored(recorder: RecordingEmbedder) -> None:
    emb = GE2Embedding(embedder=recorder)
    assert emb.embedder is recorder
    assert (emb.model_name, emb.dimensions, emb.embed_batch_size, emb.num_workers) == (
        "gemini-embedding-2",
        256,
        5,
        3,
    )
    with pytest.raises(ge2.ConfigurationError, match="embed_batch_size"):
        GE2Embedding(embedder=recorder, embed_batch_size=50)
    with pytest.raises(ge2.ConfigurationError, match="not both"):
        GE2Embedding(embedder=recorder, client=object())


def test_client_is_passed_to_the_core() -> None:
    client = object()
    assert GE2Embedding(client=client).embedder.client is client


def test_cache_path_is_serialisable(tmp_path: Path) -> None:
    emb = GE2Embedding(cache=tmp_path / "emb.sqlite")
    assert emb.cache == str(tmp_path / "emb.sqlite")
    assert emb.embedder.cache is not None
    assert str(tmp_path / "emb.sqlite") in emb.to_json()
    emb.embedder.close()


# -- serialisation and secrets ---------------------------------------------------------------


def test_round_trip_without_key() -> None:
    emb = GE2Embedding(
        dimensions=768, api_key=KEY, embed_batch_size=7, num_workers=2, base_url="http://x"
    )
    data = emb.to_dict()
    assert data["class_name"] == "GE2Embedding"
    assert "api_key" not in data
    again = GE2Embedding.from_dict(data)
    assert again.api_key is None
    assert again.to_dict() == data
    assert (again.dimensions, again.embed_batch_size, again.num_workers) == (768, 7, 2)
    assert again.embedder.batch_size == 7


def test_quota_round_trips_and_reaches_the_pacer(recorder: RecordingEmbedder) -> None:
    for given in (
        {"requests_per_minute": 100, "tokens_per_minute": 5000},
        ge2.Quota(100, tokens_per_minute=5000),
    ):
        emb = GE2Embedding(quota=given)
        assert emb.embedder.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
        data = emb.to_dict()
        assert (
            data["quota"]["requests_per_minute"] == 100
            and data["quota"]["tokens_per_minute"] == 5000
        )
        again = GE2Embedding.from_dict(data)
        assert again.to_dict() == data
        assert again.embedder.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
        assert GE2Embedding.from_json(emb.to_json()).embedder.pacer.quota == emb.quota
    assert GE2Embedding().embedder.pacer.quota is None
    with pytest.raises(ValueError, match="unknown Quota field"):
        GE2Embedding(quota={"requests_per_minute": 100, "rpm": 5})
    # a shared embedder carries its own quota; a different one here is refused
    with pytest.raises(ge2.ConfigurationError, match="quota"):
        GE2Embedding(embedder=recorder, quota={"requests_per_minute": 5})
    assert GE2Embedding(embedder=recorder).quota is None


def test_key_is_never_shown() -> None:
    emb = GE2Embedding(api_key=KEY)
    assert emb.api_key is not None and emb.api_key.get_secret_value() == KEY
    shown = [
        repr(emb),
        str(emb),
        emb.to_json(),
        str(emb.model_dump()),
        str(emb.to_payload()),
        repr(emb.embedder),
        str(GE2Embedding.from_json(emb.to_json()).to_dict()),
    ]
    for text in shown:
        assert KEY not in text


def test_pickle_keeps_working_config() -> None:
    """Multi-process ingestion pickles transformations; the copy must still be usable."""
    emb = GE2Embedding(dimensions=256, api_key=KEY, embed_batch_size=4)
    copy = pickle.loads(pickle.dumps(emb))
    assert (copy.dimensions, copy.embedder.batch_size) == (256, 4)


def test_missing_extra_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("llama_index"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    monkeypatch.delitem(sys.modules, "ge2.integrations.llamaindex")
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.llamaindex")
    assert 'pip install "ge2[llamaindex]"' in str(info.value)
    assert info.value.package == "llama-index-core"
    assert isinstance(info.value, ImportError)


# -- tasks and batching ----------------------------------------------------------------------


async def test_queries_and_documents_use_their_tasks(
    model: GE2Embedding, recorder: RecordingEmbedder
) -> None:
    model.get_query_embedding("q1")
    await model.aget_query_embedding("q2")
    model.get_text_embedding("d1")
    await model.aget_text_embedding("d2")
    model.get_text_embedding_batch(["d3", "d4"])
    await model.aget_text_embedding_batch(["d5"])
    tasks = [(task, items) for task, items, _ in recorder.calls]
    assert tasks == [
        ("query", ["q1"]),
        ("query", ["q2"]),
        ("document", ["d1"]),
        ("document", ["d2"]),
        ("document", ["d3", "d4"]),
        ("document", ["d5"]),
    ]
    assert all(dims == 256 for _, _, dims in recorder.calls)


async def test_batches_are_one_core_call(recorder: RecordingEmbedder) -> None:
    """No second batching layer: 23 texts with embed_batch_size=5 are one core call."""
    model = GE2Embedding(embedder=recorder)
    texts = [f"t{i}" for i in range(23)]
    assert len(model.get_text_embedding_batch(texts)) == 23
    assert len(await model.aget_text_embedding_batch(texts)) == 23
    assert [len(items) for _, items, _ in recorder.calls] == [23, 23]
    assert model.get_text_embedding_batch([]) == []


def test_llamaindex_embeddings_cache_sends_only_misses(recorder: RecordingEmbedder) -> None:
    model = GE2Embedding(embedder=recorder, embeddings_cache=SimpleKVStore())
    model.get_text_embedding_batch(["a", "b"])
    model.get_text_embedding_batch(["a", "b", "c", "d"])
    assert [items for _, items, _ in recorder.calls] == [["a", "b"], ["c", "d"]]


async def test_image_methods(
    model: GE2Embedding, recorder: RecordingEmbedder, tmp_path: Path
) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(samples.png())
    model.get_image_embedding(str(png))
    await model.aget_image_embedding(io.BytesIO(samples.jpeg()))
    model.get_image_embedding_batch([str(png)] * 12)
    await model.aget_image_embedding_batch([str(png), io.BytesIO(png.read_bytes())])
    sizes = [len(items) for _, items, _ in recorder.calls]
    assert sizes == [1, 1, 12, 2]
    assert all(isinstance(i, ge2.Image) for _, items, _ in recorder.calls for i in items)
    assert {task for task, _, _ in recorder.calls} == {"document"}


# -- nodes -> ge2 inputs ----------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {p.name: p for p in samples.write_corpus(tmp_path)}


def test_text_node_is_text() -> None:
    node = TextNode(text="hello", metadata={"author": "ann"})
    assert node_input(node) == "author: ann\n\nhello"


def test_media_only_nodes_are_their_media(files: dict[str, Path]) -> None:
    audio = node_input(Node(audio_resource=MediaResource(path=files["birdsong.wav"])))
    video = node_input(Node(video_resource=MediaResource(path=files["ocean-waves.mp4"])))
    image = node_input(Node(image_resource=MediaResource(url="gs://bucket/fox.png")))
    assert isinstance(audio, ge2.Audio) and audio.path == files["birdsong.wav"]
    assert isinstance(video, ge2.Video)
    assert isinstance(image, ge2.Image) and image.uri == "gs://bucket/fox.png"


def test_all_resources_make_one_mixed_input(files: dict[str, Path]) -> None:
    node = Document(
        text="a walk on the beach",
        image_resource=MediaResource(data=files["red-fox.png"].read_bytes()),
        audio_resource=MediaResource(path=files["birdsong.wav"]),
        video_resource=MediaResource(path=files["ocean-waves.mp4"]),
    )
    item = node_input(node)
    assert isinstance(item, ge2.Mixed)
    kinds = [type(p) for p in item.parts]
    assert kinds == [ge2.Text, ge2.Image, ge2.Audio, ge2.Video]
    assert item.parts[0].text == "a walk on the beach"  # type: ignore[union-attr]
    # MediaResource keeps data base64-encoded; the image part is the original bytes.
    assert item.parts[1].read() == files["red-fox.png"].read_bytes()  # type: ignore[union-attr]


def test_pdf_resources_become_pdf(files: dict[str, Path]) -> None:
    raw = files["solar-report.pdf"].read_bytes()
    in_text = node_input(Node(text_resource=MediaResource(data=raw, mimetype="application/pdf")))
    in_image_slot = node_input(Node(image_resource=MediaResource(path=files["solar-report.pdf"])))
    assert isinstance(in_text, ge2.Pdf) and in_text.read() == raw
    assert isinstance(in_image_slot, ge2.Pdf)


def test_legacy_image_node(files: dict[str, Path]) -> None:
    by_path = node_input(ImageNode(image_path=str(files["red-fox.png"]), text="a fox"))
    assert isinstance(by_path, ge2.Mixed)
    assert [type(p) for p in by_path.parts] == [ge2.Text, ge2.Image]
    b64 = base64.b64encode(files["lighthouse.jpg"].read_bytes()).decode()
    by_data = node_input(ImageNode(image=b64))
    assert isinstance(by_data, ge2.Image) and by_data.mime == "image/jpeg"


def test_call_embeds_nodes_as_documents(
    model: GE2Embedding, recorder: RecordingEmbedder, files: dict[str, Path]
) -> None:
    nodes = [TextNode(text="words"), Node(audio_resource=MediaResource(path=files["birdsong.wav"]))]
    out = model(nodes)
    assert out is nodes
    assert [n.embedding for n in nodes] == [[0.0, 1.0], [1.0, 1.0]]
    task, items, _ = recorder.calls[0]
    assert task == "document" and items[0] == "words" and isinstance(items[1], ge2.Audio)


def test_bad_resource_names_the_node(model: GE2Embedding, recorder: RecordingEmbedder) -> None:
    good = TextNode(id_="fine", text="fine")
    bad = Node(id_="broken-scan", image_resource=MediaResource(data=b"\x00\x01 not an image"))
    with pytest.raises(ge2.InputError) as info:
        model([good, bad])
    assert "node 'broken-scan'" in str(info.value)
    assert "input #1" in str(info.value)
    assert recorder.calls == []  # nothing was sent


def test_empty_node_names_the_node_before_any_request() -> None:
    model = GE2Embedding(api_key="unused")
    with pytest.raises(ge2.InputError) as info:
        model([TextNode(id_="ok", text="fine"), TextNode(id_="blank", text="  ")])
    assert "node 'blank'" in str(info.value) and "empty text" in str(info.value)


def test_module_exports() -> None:
    assert llamaindex.__all__ == ["PEER_ARGUMENTS", "GE2Embedding", "node_input"]
