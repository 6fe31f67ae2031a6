"""Against a real Qdrant server or Qdrant Cloud: runs when QDRANT_URL is set (and
QDRANT_API_KEY for Cloud); embeddings still come from the emulator."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

import ge2

pytest.importorskip("qdrant_client")
from qdrant_client import QdrantClient

from ge2.integrations.qdrant import CollectionVectors

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="QDRANT_URL is not set"),
]


def test_add_and_two_stage_search_on_a_server(ge2_emulator: Any) -> None:
    client = QdrantClient(url=os.environ["QDRANT_URL"], api_key=os.environ.get("QDRANT_API_KEY"))
    name = f"ge2_test_{uuid.uuid4().hex[:8]}"
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="test", dimensions=3072)
    try:
        cv = CollectionVectors(client, name, emb, sizes=(256, 3072))
        cv.create_or_adopt(quantization="scalar")
        result = cv.add(["volcano eruption with lava", "sourdough bread recipe"])
        assert not result.failures and result.points == 2
        hits = cv.search("lava from a volcano", limit=1)
        assert hits[0].id == result.ids[0][0]
        assert os.environ.get("QDRANT_API_KEY", "\0") not in repr(cv)
    finally:
        client.delete_collection(name)
