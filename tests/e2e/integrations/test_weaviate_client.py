"""The client-side helper, driven through the real weaviate-client v4 against a wire-level
stand-in (``weaviate_standin.py``: REST + the ``weaviate.v1`` gRPC services, with the proto
stubs shipped in weaviate-client), and embeddings from the real SDK over HTTP to the emulator.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from weaviate.classes.config import Configure, DataType, Property
from weaviate.collections.classes.batch import BatchObjectReturn, ErrorObject
from weaviate.util import generate_uuid5
from weaviate_standin import WeaviateStandIn

import ge2
from ge2 import samples
from ge2.integrations.weaviate import CollectionVectors

pytestmark = pytest.mark.e2e

PROPS = [
    Property(name="caption", data_type=DataType.TEXT),
    Property(name="image", data_type=DataType.BLOB),
]


@pytest.fixture
def standin() -> Iterator[WeaviateStandIn]:
    with WeaviateStandIn() as s:
        yield s


@pytest.fixture
def client(standin: WeaviateStandIn) -> Iterator[Any]:
    c = standin.connect()
    yield c
    c.close()


def stored(standin: WeaviateStandIn, name: str = "Media") -> list[dict[str, Any]]:
    return list(standin.objects.get(name, {}).values())


def test_create_insert_and_query_by_text_and_image(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder, corpus: dict[str, Path]
) -> None:
    media = CollectionVectors.create_or_adopt(
        client, "Media", embedder, vectors=[256, 768], properties=PROPS
    )
    schema = standin.schemas["Media"]
    assert {n: list(v["vectorizer"]) for n, v in schema["vectorConfig"].items()} == {
        "ge2_256": ["none"],
        "ge2_768": ["none"],
    }
    assert {"piece_index", "page_start", "start_s"} <= {p["name"] for p in schema["properties"]}

    objects = [
        {"caption": "red fox", "image": corpus["red-fox.png"]},
        {"caption": "lighthouse", "image": corpus["lighthouse.jpg"].read_bytes()},
        {"caption": "a recipe for sourdough bread with flour water salt"},
    ]
    ids = [generate_uuid5(i) for i in range(3)]
    result = media.insert(objects, uuids=ids)
    assert isinstance(result, BatchObjectReturn) and not result.has_errors
    assert [str(result.uuids[i]) for i in range(3)] == ids

    # What arrived over gRPC: both sizes, unit norm, the small one the renormalised prefix.
    fox = standin.objects["Media"][ids[0]]
    small, big = fox["vectors"]["ge2_256"], fox["vectors"]["ge2_768"]
    assert len(small) == 256 and len(big) == 768
    assert np.isclose(np.linalg.norm(small), 1, atol=1e-4)
    assert np.allclose(small, big[:256] / np.linalg.norm(big[:256]), atol=1e-5)
    assert base64.b64decode(fox["properties"]["image"]) == corpus["red-fox.png"].read_bytes()
    assert fox["properties"]["caption"] == "red fox"
    # One GE2 vector for caption + image together (a Mixed input), one request for 2 sizes.
    requests = [r for r in standin.batch_requests if r.objects]
    assert len(requests) == 1 and len(requests[0].objects) == 3

    hits = media.near(
        "a red fox running through snow in the forest", limit=2, target_vector="ge2_256"
    )
    # The client's own result object (weaviate-client 4.24 answers query.near_vector with
    # its GenerativeReturn class), handed back untouched.
    assert type(hits).__module__ == "weaviate.collections.classes.internal"
    assert hits.objects[0].properties["caption"] == "red fox"
    by_image = media.near(corpus["lighthouse.jpg"], limit=1, target_vector="ge2_768")
    assert by_image.objects[0].properties["caption"] == "lighthouse"
    near = standin.search_requests[-1].near_vector
    assert list(near.targets.target_vectors) == ["ge2_768"]
    hybrid = media.hybrid("sourdough bread", limit=1, alpha=0.5)
    assert hybrid.objects[0].properties["caption"].startswith("a recipe")
    assert standin.search_requests[-1].hybrid_search.query == "sourdough bread"


def test_query_uses_the_query_task(client: Any, embedder: ge2.Embedder, ge2_emulator: Any) -> None:
    media = CollectionVectors.create_or_adopt(client, "Media", embedder, properties=PROPS)
    media.insert([{"caption": "volcano notes"}])
    media.near("volcano", limit=1)
    assert ge2_emulator.stats["request_log"][-1]["texts"] == [
        ["task: search result | query: volcano"]
    ]


def test_long_input_is_split_one_object_per_piece_with_provenance(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder
) -> None:
    media = CollectionVectors.create_or_adopt(client, "Media", embedder, properties=PROPS)
    long = " ".join(f"word{i}" for i in range(9000))
    base = generate_uuid5("long")
    result = media.insert([{"caption": long}, {"caption": "short"}], uuids=[base, None])
    rows = stored(standin)
    pieces = sorted(
        (r for r in rows if "piece_index" in r["properties"]),
        key=lambda r: r["properties"]["piece_index"],
    )
    assert len(pieces) >= 2 and len(rows) == len(pieces) + 1
    assert [p["properties"]["piece_count"] for p in pieces] == [len(pieces)] * len(pieces)
    assert pieces[0]["properties"]["char_start"] == 0
    assert pieces[1]["properties"]["char_start"] > 0
    assert long.startswith(pieces[0]["properties"]["caption"])
    assert set(standin.objects["Media"]) >= {
        generate_uuid5(f"{base}#0"),
        generate_uuid5(f"{base}#1"),
    }
    assert sorted(result.uuids) == list(range(len(rows)))


def test_pdf_is_split_by_pages(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder
) -> None:
    pdf = samples.pdf([f"page {i} about solar panels" for i in range(1, 9)])  # 8 > 6 pages
    media = CollectionVectors.create_or_adopt(client, "Media", embedder, properties=PROPS)
    try:
        media.insert([{"image": pdf}], uuids=[generate_uuid5("pdf")])
    except ge2.InputError as exc:  # core without PDF splitting: the error names the object
        assert "object #0" in str(exc)
        pytest.skip(f"this core does not split PDFs yet: {exc}")
    pages = sorted(
        (r["properties"]["page_start"], r["properties"]["page_end"]) for r in stored(standin)
    )
    assert pages[0][0] == 1 and pages[-1][1] == 8 and len(pages) >= 2


def test_bad_input_names_the_object_and_writes_nothing(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder, ge2_emulator: Any
) -> None:
    media = CollectionVectors.create_or_adopt(client, "Media", embedder, properties=PROPS)
    ok = {"caption": "fine"}
    with pytest.raises(ge2.InputError, match=r"object #1 \(uuid u-1\), property 'image'"):
        media.insert(
            [ok, {"image": b"PK\x03\x04" + b"zip archive bytes" * 10}], uuids=["u-0", "u-1"]
        )
    with pytest.raises(ge2.InputError, match=r"object #0.*'caption' is text.*bytes"):
        media.insert([{"caption": b"\x89PNG bytes in a text property"}])
    strict = ge2.Embedder(base_url=ge2_emulator.url, api_key="k", dimensions=256, overflow="error")
    over = CollectionVectors(media.collection, strict)
    with pytest.raises(ge2.InputError, match=r"object #1.*over the model's limits"):
        over.insert([ok, {"caption": " ".join(["w"] * 40000)}])
    assert stored(standin) == []


def test_dimension_mismatch_and_unknown_vectors_are_refused(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder, ge2_emulator: Any
) -> None:
    big = ge2.Embedder(base_url=ge2_emulator.url, api_key="k", dimensions=768)
    CollectionVectors.create_or_adopt(client, "Media", big, properties=PROPS).insert(
        [{"caption": "a 768-d vector"}]
    )
    with pytest.raises(ge2.ConfigurationError, match=r"dimension mismatch.*768-d.*256-d"):
        CollectionVectors.create_or_adopt(client, "Media", embedder)  # wants 256
    with pytest.raises(ge2.ConfigurationError, match="no named vector 'other'"):
        CollectionVectors(client.collections.use("Media"), embedder, vectors={"other": 256})


def test_failed_objects_are_reported_like_weaviates_batch_and_others_kept(
    client: Any, standin: WeaviateStandIn, ge2_emulator: Any
) -> None:
    emb = ge2.Embedder(
        base_url=ge2_emulator.url,
        api_key="k",
        dimensions=256,
        batch_size=1,
        max_concurrency=1,
        max_retries=0,
    )
    media = CollectionVectors.create_or_adopt(client, "Media", emb, properties=PROPS)
    standin.refuse.add(generate_uuid5("refused"))
    ge2_emulator.configure(fail_every=3, fail_status=503)  # the 3rd embedding call fails
    objects = [{"caption": f"object number {i}"} for i in range(4)]
    ids = [generate_uuid5(x) for x in ("a", "refused", "c", "d")]
    result = media.insert(objects, uuids=ids)
    assert set(result.errors) == {1, 2}
    assert all(isinstance(e, ErrorObject) for e in result.errors.values())
    assert "refused by the stand-in" in result.errors[1].message  # Weaviate's own refusal
    assert "embedding failed" in result.errors[2].message  # ge2's, same shape
    assert result.errors[2].object_.properties == {"caption": "object number 2"}
    assert set(result.uuids) == {0, 3}
    assert set(standin.objects["Media"]) == {ids[0], ids[3]}


def test_a_failed_object_leaves_the_pieces_of_a_split_one(
    client: Any, standin: WeaviateStandIn, embedder: ge2.Embedder, ge2_emulator: Any
) -> None:
    ge2_emulator.configure(max_audio_seconds=1)  # the API refuses the 3 s clip
    media = CollectionVectors.create_or_adopt(client, "Media", embedder, properties=PROPS)
    pdf = samples.pdf([f"page {i} about solar panels" for i in range(1, 9)])  # 2 pieces
    objects = [{"image": pdf}, {"image": samples.audio(3.0)}]
    result = media.insert(objects, uuids=[generate_uuid5("pdf"), generate_uuid5("clip")])
    assert set(result.errors) == {2} and "embedding failed" in result.errors[2].message
    props = [r["properties"] for r in stored(standin)]
    assert sorted((p["page_start"], p["piece_index"]) for p in props) == [(1, 0), (7, 1)]


# -- beside the native module --------------------------------------------------------------


def test_module_compatible_requests_have_the_modules_shape_and_vectors_agree(
    client: Any, standin: WeaviateStandIn, ge2_emulator: Any
) -> None:
    """ge2's requests in module mode match what multi2vec-google sends for the same object.

    modules/multi2vec-google/clients/google.go ``getGeminiPayload``: per field value one
    entry ``{"model": "models/<modelId>", "content": {"parts": [part]},
    "outputDimensionality": <dimensions>}`` (text as is, image/jpeg, video/mp4, audio/mpeg
    inline_data) POSTed to ``.../v1beta/models/<modelId>:batchEmbedContents``;
    modules/multi2vec-google/vectorizer/vectorizer.go ``object`` + usecases/vectorizer
    ``CombineVectorsWithWeights`` combine them. We replay that request at the emulator and
    compare both the logged request shapes and the resulting vector.
    """
    client.collections.create(
        "Module",
        properties=[
            Property(name="caption", data_type=DataType.TEXT),
            Property(name="image", data_type=DataType.BLOB),
            Property(name="clip", data_type=DataType.BLOB),
            Property(name="sound", data_type=DataType.BLOB),
        ],
        vector_config=[
            Configure.Vectors.multi2vec_google_gemini(
                name="gemini",
                text_fields=["caption"],
                image_fields=["image"],
                video_fields=["clip"],
                audio_fields=["sound"],
                dimensions=256,
                model="gemini-embedding-2",
            )
        ],
    )
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="k", dimensions=3072)
    module = CollectionVectors.beside_module(client.collections.use("Module"), emb)
    assert module.vectors == {"gemini": 256}
    obj = {
        "caption": "a lighthouse on a rocky coast",
        "image": samples.jpeg(description="a white lighthouse"),
        "clip": samples.video(2.0, title="waves"),
        "sound": samples.audio(1.0, fmt="mp3", title="gulls"),
    }
    ge2_emulator.reset_stats()
    module.insert([obj], uuids=[generate_uuid5("m")])
    ours = ge2_emulator.stats["request_log"]

    # The module's request for the same object, built as getGeminiPayload builds it.
    go_request = {
        "requests": [
            {
                "model": "models/gemini-embedding-2",
                "content": {"parts": [part]},
                "outputDimensionality": 256,
            }
            for part in (
                {"text": obj["caption"]},
                {
                    "inline_data": {
                        "mime_type": "image/jpeg",
                        "data": base64.b64encode(obj["image"]).decode(),
                    }
                },
                {
                    "inline_data": {
                        "mime_type": "video/mp4",
                        "data": base64.b64encode(obj["clip"]).decode(),
                    }
                },
                {
                    "inline_data": {
                        "mime_type": "audio/mpeg",
                        "data": base64.b64encode(obj["sound"]).decode(),
                    }
                },
            )
        ]
    }
    ge2_emulator.reset_stats()
    req = urllib.request.Request(
        f"{ge2_emulator.url}/v1beta/models/gemini-embedding-2:batchEmbedContents",
        data=json.dumps(go_request).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", "x-goog-api-key": "k"},
    )
    with urllib.request.urlopen(req) as res:
        go_vectors = [e["values"] for e in json.loads(res.read())["embeddings"]]
    theirs = ge2_emulator.stats["request_log"]

    def entries(log: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (tuple(p), t, d, tuple(x))
            for call in log
            for p, t, d, x in zip(
                call["parts"],
                call["task_types"],
                call["output_dimensionality"],
                call["texts"],
                strict=True,
            )
        )

    assert entries(ours) == entries(theirs)
    assert all(len(p) == 1 for call in ours for p in call["parts"])  # one part per entry
    assert ["a lighthouse on a rocky coast"] in [x for c in ours for x in c["texts"]]  # raw
    # CombineVectorsWithWeights(vectors, nil): the plain mean, text, image, video, audio.
    expected = np.mean(np.asarray(go_vectors, dtype=np.float32), axis=0)
    (row,) = stored(standin, "Module")
    assert np.allclose(row["vectors"]["gemini"], expected, atol=1e-5)
    # ModuleCompatible.vectorize (no collection needed) gives the same vector.
    (direct,) = module.compatible.vectorize(emb, [obj])
    assert np.allclose(direct, expected, atol=1e-5)
    # A query made ge2's module way is plain text too (VectorizeQuery sends it unchanged).
    module.near("lighthouse", limit=1)
    assert ge2_emulator.stats["request_log"][-1]["texts"] == [["lighthouse"]]


def test_beside_module_refuses_a_size_that_differs_from_the_module(
    client: Any, embedder: ge2.Embedder
) -> None:
    client.collections.create(
        "Module",
        properties=[Property(name="caption", data_type=DataType.TEXT)],
        vector_config=[
            Configure.Vectors.multi2vec_google_gemini(
                name="gemini", text_fields=["caption"], dimensions=768, model="gemini-embedding-2"
            )
        ],
    )
    collection = client.collections.use("Module")
    module = CollectionVectors.beside_module(collection, embedder)
    with pytest.raises(ge2.ConfigurationError, match=r"dimension mismatch.*768.*256"):
        CollectionVectors(
            collection, embedder, vectors={"gemini": 256}, compatible=module.compatible
        )
    with pytest.raises(ge2.ConfigurationError, match="filled by multi2vec"):
        CollectionVectors(collection, embedder, vectors={"gemini": 768})
