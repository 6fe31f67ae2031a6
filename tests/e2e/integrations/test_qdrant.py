"""Qdrant end to end: real qdrant-client (local mode) -> CollectionVectors -> SDK -> emulator.

The emulator's vectors are content-derived: a text query shares words with a file's own
description, so the nearest point is determined and the assertions are exact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ge2
from ge2 import samples

pytest.importorskip("qdrant_client")
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from ge2.integrations.qdrant import PAYLOAD_KEY, CollectionVectors

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedder(ge2_emulator: Any) -> ge2.Embedder:
    return ge2.Embedder(
        base_url=ge2_emulator.url, api_key="AIza-qdrant-secret", dimensions=3072, max_retries=0
    )


@pytest.fixture
def media(
    tmp_path: Path, corpus: dict[str, Path], embedder: ge2.Embedder
) -> tuple[CollectionVectors, QdrantClient]:
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    cv = CollectionVectors(client, "media", embedder, sizes=(256, 3072)).create_or_adopt()
    names = sorted(corpus)
    result = cv.add(
        [corpus[n] for n in names],
        payloads=[{"name": n, "kind": n.rsplit(".", 1)[1]} for n in names],
    )
    assert not result.failures and result.points == len(names)
    return cv, client


def _names(points: list[Any]) -> list[str]:
    return [p.payload["name"] for p in points]


def test_text_finds_image_audio_video_and_pdf_in_one_space(
    media: tuple[CollectionVectors, QdrantClient],
) -> None:
    cv, _ = media
    assert _names(cv.search("a red fox running through snow", limit=1)) == ["red-fox.png"]
    assert _names(cv.search("birdsong in a spring garden", limit=1)) == ["birdsong.wav"]
    assert _names(cv.search("ocean waves on a sandy beach", limit=1)) == ["ocean-waves.mp4"]
    assert _names(cv.search("solar panel energy output", limit=1)) == ["solar-report.pdf"]


def test_image_query_and_a_filter(
    media: tuple[CollectionVectors, QdrantClient], corpus: dict[str, Path]
) -> None:
    cv, _ = media
    assert _names(cv.search(corpus["lighthouse.jpg"], limit=1)) == ["lighthouse.jpg"]
    only_png = models.Filter(must=[models.FieldCondition(key="kind", match={"value": "png"})])
    hits = cv.search("a red fox in the forest", limit=5, query_filter=only_png)
    assert set(_names(hits)) == {"red-fox.png", "green-leaf.png"}
    assert _names(hits)[0] == "red-fox.png"


def test_two_stage_search_is_one_query_api_call_equal_to_exact_full_size(
    media: tuple[CollectionVectors, QdrantClient], embedder: ge2.Embedder
) -> None:
    cv, client = media
    before = embedder.usage.requests
    two_stage = cv.search("a white lighthouse on a rocky coast", limit=3)
    assert embedder.usage.requests == before + 1  # one embedding call for every size
    vector = embedder.embed_one("a white lighthouse on a rocky coast", task="query")
    exact = client.query_points("media", query=vector, using="ge2_3072", limit=3).points
    assert [p.id for p in two_stage] == [p.id for p in exact]
    assert [round(p.score, 5) for p in two_stage] == [round(p.score, 5) for p in exact]


def test_long_pdf_is_one_point_per_piece_with_provenance_and_stable_ids(
    tmp_path: Path, embedder: ge2.Embedder
) -> None:
    client = QdrantClient(":memory:")
    cv = CollectionVectors(client, "docs", embedder, sizes=(128, 768)).create_or_adopt()
    pdf = samples.pdf([f"page {i} about solar panels and batteries" for i in range(1, 15)])
    first = cv.add([ge2.Pdf(pdf), "a note about tea"], ids=[7, 8])
    assert [len(ids) for ids in first.ids] == [3, 1] and first.ids[1] == [8]
    points, _ = client.scroll("docs", limit=100, with_vectors=True)
    prov = sorted(
        (p.payload[PAYLOAD_KEY]["page_start"], p.payload[PAYLOAD_KEY]["piece"])
        for p in points
        if "page_start" in p.payload[PAYLOAD_KEY]
    )
    assert prov == [(1, 0), (7, 1), (13, 2)]
    for p in points:
        for name, size in (("ge2_128", 128), ("ge2_768", 768)):
            assert len(p.vector[name]) == size
            assert abs(np.linalg.norm(p.vector[name]) - 1) < 1e-4
    again = cv.add([ge2.Pdf(pdf), "a note about tea"], ids=[7, 8])
    assert again.ids == first.ids and client.count("docs").count == 4  # upserted, not doubled
    # No ids given: derived from content, so the same content maps to the same point.
    derived = cv.add(["same text"]).ids, cv.add(["same text"]).ids
    assert derived[0] == derived[1] and client.count("docs").count == 5


def test_partial_failure_keeps_written_points_and_names_the_failed_item(
    embedder: ge2.Embedder, ge2_emulator: Any
) -> None:
    ge2_emulator.configure(max_audio_seconds=1)  # the API refuses the 3 s clip
    client = QdrantClient(":memory:")
    cv = CollectionVectors(client, "mixed", embedder, sizes=(256,)).create_or_adopt()
    result = cv.add(["first text", ge2.Audio(samples.audio(3.0)), "third text"])
    assert [f.index for f in result.failures] == [1]
    assert result.ids[1] == [] and len(result.ids[0]) == len(result.ids[2]) == 1
    assert client.count("mixed").count == 2


def test_upsert_failure_is_reported_and_other_chunks_kept(embedder: ge2.Embedder) -> None:
    client = QdrantClient(":memory:")
    cv = CollectionVectors(client, "c", embedder, sizes=(256,)).create_or_adopt()
    real_upsert = client.upsert
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("qdrant went away")
        return real_upsert(*args, **kwargs)

    client.upsert = flaky  # type: ignore[method-assign]
    result = cv.add(["a", "b", "c"], batch_size=1)
    assert [f.index for f in result.failures] == [1]
    assert "qdrant went away" in str(result.failures[0])
    assert client.count("c").count == 2


def test_async_client_add_and_search(embedder: ge2.Embedder) -> None:
    async def main() -> list[Any]:
        client = AsyncQdrantClient(":memory:")
        await client.create_collection(
            "a",
            vectors_config=CollectionVectors(
                client, "a", embedder, sizes=(256, 3072)
            ).vectors_config(),
        )
        cv = CollectionVectors(client, "a", embedder, sizes=(256, 3072))
        result = await cv.aadd(["volcano eruption with lava", "sourdough bread recipe"])
        assert not result.failures
        return await cv.asearch("lava from a volcano", limit=1)

    hits = asyncio.run(main())
    assert len(hits) == 1 and hits[0].payload[PAYLOAD_KEY]["pieces"] == 1
