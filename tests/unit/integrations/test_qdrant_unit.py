"""Qdrant helper, no network: checks, ids, filters and the Query API request it builds."""

from __future__ import annotations

from typing import Any

import pytest

import ge2

pytest.importorskip("qdrant_client")
from qdrant_client import QdrantClient, models

from ge2.integrations.qdrant import PAYLOAD_KEY, CollectionVectors, vector_name

EMB = ge2.Embedder(api_key="never-used", dimensions=3072)


def _cv(client: Any, sizes: tuple[int, ...] = (256, 3072), **kw: Any) -> CollectionVectors:
    return CollectionVectors(client, "docs", EMB, sizes=sizes, **kw)


def test_create_makes_one_cosine_named_vector_per_size_quantizing_the_small_one() -> None:
    client = QdrantClient(":memory:")
    _cv(client).create_or_adopt(quantization="scalar")
    vectors = client.get_collection("docs").config.params.vectors
    assert {n: v.size for n, v in vectors.items()} == {"ge2_256": 256, "ge2_3072": 3072}
    assert all(v.distance == models.Distance.COSINE for v in vectors.values())
    assert vectors["ge2_256"].quantization_config is not None
    assert vectors["ge2_3072"].quantization_config is None


def test_adopting_a_collection_that_differs_says_what_differs() -> None:
    client = QdrantClient(":memory:")
    client.create_collection(
        "docs",
        vectors_config={
            "ge2_256": models.VectorParams(size=256, distance=models.Distance.DOT),
            "dense": models.VectorParams(size=768, distance=models.Distance.COSINE),
        },
    )
    with pytest.raises(ge2.ConfigurationError) as info:
        _cv(client).create_or_adopt()
    msg = str(info.value)
    assert "no named vector 'ge2_3072'" in msg and "Dot" in msg and "'dense'" in msg
    client.create_collection(
        "fits", vectors_config={"ge2_768": models.VectorParams(size=768, distance="Cosine")}
    )
    CollectionVectors(client, "fits", EMB, sizes=(768,)).create_or_adopt()  # adopted as is
    with pytest.raises(ge2.ConfigurationError, match="does not exist"):
        CollectionVectors(client, "missing", EMB).check()


def test_bad_ids_payload_collisions_and_lengths_fail_before_anything_is_sent() -> None:
    cv = _cv(QdrantClient(":memory:"))
    with pytest.raises(ge2.InputError, match="not a Qdrant point id") as info:
        cv.add(["a", "b"], ids=[1, "not-a-uuid"])
    assert "item #1" in str(info.value)
    with pytest.raises(ge2.InputError, match="provenance"):
        cv.add(["a"], payloads=[{PAYLOAD_KEY: 1}])
    with pytest.raises(ge2.ConfigurationError, match="2 ids for 1 items"):
        cv.add(["a"], ids=[1, 2])
    with pytest.raises(ge2.InputError, match="cannot embed"):
        cv.add([object()])
    assert EMB.usage.requests == 0


def test_two_stage_request_prefetches_on_the_smallest_and_rescores_on_the_largest() -> None:
    cv = _cv(QdrantClient(":memory:"), sizes=(3072, 128, 512), prefetch_limit=40)
    vec = [1.0] + [0.0] * 3071
    flt = {"must": [{"key": "kind", "match": {"value": "image"}}]}
    req = cv._request(vec, 5, flt, {})
    assert req["using"] == "ge2_3072" and req["limit"] == 5
    assert req["prefetch"].using == "ge2_128" and req["prefetch"].limit == 40
    assert len(req["prefetch"].query) == 128
    assert isinstance(req["prefetch"].filter, models.Filter)
    assert "prefetch" not in _cv(QdrantClient(":memory:"), sizes=(768,))._request(
        vec[:768], 5, None, {}
    )


def test_unsupported_filters_and_sizes_raise_clearly() -> None:
    cv = _cv(QdrantClient(":memory:"))
    with pytest.raises(ge2.ConfigurationError, match="Filter"):
        cv._request([1.0] * 3072, 3, "kind == image", {})
    with pytest.raises(ge2.ConfigurationError, match="not a Qdrant filter"):
        cv._request([1.0] * 3072, 3, {"must": "everything"}, {})
    with pytest.raises(ge2.ConfigurationError, match="outside"):
        _cv(QdrantClient(":memory:"), sizes=(64,))
    with pytest.raises(ge2.ConfigurationError, match="quantization"):
        cv.vectors_config(quantization="fp4")


def test_names_and_repr_never_show_the_key() -> None:
    cv = _cv(QdrantClient(":memory:"))
    assert vector_name(256) == "ge2_256" and cv.names == {"ge2_256": 256, "ge2_3072": 3072}
    assert "never-used" not in repr(cv)
