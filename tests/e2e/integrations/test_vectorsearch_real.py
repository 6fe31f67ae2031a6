"""Against the real Vertex AI Vector Search: runs when VECTORSEARCH_PROJECT (and Application
Default Credentials) are set; VECTORSEARCH_LOCATION defaults to us-central1. Embeddings come
from the emulator, so only the service is real."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

import ge2

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("VECTORSEARCH_PROJECT"), reason="VECTORSEARCH_PROJECT is not set"
    ),
]


def test_create_add_search_delete(ge2_emulator: Any) -> None:
    from google.cloud import vectorsearch_v1 as vs

    from ge2.integrations.vectorsearch import CollectionVectors

    project = os.environ["VECTORSEARCH_PROJECT"]
    location = os.environ.get("VECTORSEARCH_LOCATION", "us-central1")
    name = f"projects/{project}/locations/{location}/collections/ge2-test-{uuid.uuid4().hex[:8]}"
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="test", dimensions=768)
    cv = CollectionVectors(name, emb, sizes=(768,))
    try:
        cv.create_or_adopt()
        result = cv.add(["volcano eruption with lava", "sourdough bread"], ids=["v", "b"])
        assert not result.failures
        hits = cv.search("lava from a volcano", top_k=1)
        assert hits[0].data_object.data_object_id == "v"
    finally:
        vs.VectorSearchServiceClient().delete_collection(name=name).result()
