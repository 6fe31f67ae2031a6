"""Against a real Weaviate: runs when ``WEAVIATE_URL`` is set (e.g. http://localhost:8080).

``WEAVIATE_GRPC_PORT`` (default 50051) and ``WEAVIATE_API_KEY`` are read too. Embeddings
come from the emulator, unless ``GEMINI_API_KEY`` is set when this module is imported
(the suite's fixtures clear it per test, so it is read here, once). Tests that need a
module (``multi2vec-bind`` pointed at ``ge2 weaviate-inference``, or ``multi2vec-google``
with a real key) run when Weaviate's ``/v1/meta`` lists that module.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import ge2

WEAVIATE_URL = os.environ.get("WEAVIATE_URL")
REAL_KEY = os.environ.get("GEMINI_API_KEY")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not WEAVIATE_URL, reason="set WEAVIATE_URL to run against a real Weaviate"),
]


@pytest.fixture
def client() -> Iterator[Any]:
    import weaviate
    from weaviate.classes.init import Auth

    url = urlsplit(WEAVIATE_URL or "")
    key = os.environ.get("WEAVIATE_API_KEY")
    c = weaviate.connect_to_custom(
        http_host=url.hostname or "localhost",
        http_port=url.port or (443 if url.scheme == "https" else 8080),
        http_secure=url.scheme == "https",
        grpc_host=url.hostname or "localhost",
        grpc_port=int(os.environ.get("WEAVIATE_GRPC_PORT", "50051")),
        grpc_secure=url.scheme == "https",
        auth_credentials=Auth.api_key(key) if key else None,
        headers={"X-Goog-Studio-Api-Key": REAL_KEY} if REAL_KEY else None,
    )
    yield c
    c.close()


@pytest.fixture
def name(client: Any) -> Iterator[str]:
    collection = f"Ge2Test{uuid.uuid4().hex[:8]}"
    yield collection
    client.collections.delete(collection)


@pytest.fixture
def real_embedder(ge2_emulator: Any) -> ge2.Embedder:
    if REAL_KEY:
        return ge2.Embedder(api_key=REAL_KEY, dimensions=768)
    return ge2.Embedder(base_url=ge2_emulator.url, api_key="emulator", dimensions=768)


def modules(client: Any) -> set[str]:
    return set((client.get_meta().get("modules") or {}).keys())


def test_client_side_roundtrip(
    client: Any, name: str, real_embedder: ge2.Embedder, corpus: dict[str, Path]
) -> None:
    from weaviate.classes.config import DataType, Property

    from ge2.integrations.weaviate import CollectionVectors

    media = CollectionVectors.create_or_adopt(
        client,
        name,
        real_embedder,
        vectors=[256, 768],
        properties=[
            Property(name="file", data_type=DataType.TEXT),
            Property(name="media", data_type=DataType.BLOB),
        ],
        embed_properties=["media"],
    )
    objects = [{"file": p.name, "media": p} for p in corpus.values()]
    result = media.insert(objects)
    assert not result.has_errors, result.errors
    hits = media.near("a red fox running through snow", limit=3, target_vector="ge2_768")
    assert "red-fox.png" in [o.properties["file"] for o in hits.objects]
    # A second adoption checks the stored vectors' size and passes.
    CollectionVectors.create_or_adopt(client, name, real_embedder, vectors=[256, 768])


def test_bind_module_through_the_inference_server(client: Any, name: str) -> None:
    """Needs Weaviate with ENABLE_MODULES=multi2vec-bind, BIND_INFERENCE_API -> ge2."""
    if "multi2vec-bind" not in modules(client):
        pytest.skip("this Weaviate has no multi2vec-bind module (see the tutorial's compose file)")
    from weaviate.classes.config import Configure, DataType, Property

    from ge2 import samples

    collection = client.collections.create(
        name,
        properties=[
            Property(name="caption", data_type=DataType.TEXT),
            Property(name="image", data_type=DataType.BLOB),
        ],
        vector_config=[
            Configure.Vectors.multi2vec_bind(
                name="bind", text_fields=["caption"], image_fields=["image"]
            )
        ],
    )
    import base64

    collection.data.insert_many(
        [
            {
                "caption": "red fox",
                "image": base64.b64encode(
                    samples.png(description="a red fox in the snow")
                ).decode(),
            },
            {
                "caption": "solar report",
                "image": base64.b64encode(samples.pdf(["solar panel output"])).decode(),
            },  # a PDF in an image field
        ]
    )
    hits = collection.query.near_text("a red fox in the snow", limit=1, target_vector="bind")
    assert hits.objects[0].properties["caption"] == "red fox"


def test_native_module_and_ge2_agree(client: Any, name: str) -> None:
    """Needs the multi2vec-google module and a real GEMINI_API_KEY."""
    if not REAL_KEY or not modules(client) & {"multi2vec-google", "multi2vec-palm"}:
        pytest.skip("needs multi2vec-google in this Weaviate and GEMINI_API_KEY")
    import numpy as np
    from weaviate.classes.config import Configure, DataType, Property

    from ge2.integrations.weaviate import CollectionVectors

    collection = client.collections.create(
        name,
        properties=[Property(name="caption", data_type=DataType.TEXT)],
        vector_config=[
            Configure.Vectors.multi2vec_google_gemini(
                name="gemini", text_fields=["caption"], dimensions=768, model="gemini-embedding-2"
            )
        ],
    )
    uid = collection.data.insert({"caption": "a lighthouse on a rocky coast"})
    native = collection.query.fetch_object_by_id(uid, include_vector=["gemini"]).vector["gemini"]
    emb = ge2.Embedder(api_key=REAL_KEY, dimensions=3072)
    ours = (
        CollectionVectors.beside_module(collection, emb)
        .vectorize([{"caption": "a lighthouse on a rocky coast"}])[0]
        .vectors["gemini"]
    )
    assert float(np.dot(native, ours) / np.linalg.norm(native) / np.linalg.norm(ours)) > 0.99
