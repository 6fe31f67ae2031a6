"""Vector Search helper, no network: resource names, schema, checks before sending."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import ge2

warnings.filterwarnings("ignore", category=FutureWarning)  # grpcio PQC notices
pytest.importorskip("google.cloud.vectorsearch_v1")
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import vectorsearch_v1 as vs  # noqa: E402

from ge2.integrations.vectorsearch import DATA_KEY, CollectionVectors, field_name  # noqa: E402

NAME = "projects/p/locations/us-central1/collections/c"
EMB = ge2.Embedder(api_key="never-used", dimensions=3072)


def _clients() -> dict[str, Any]:
    kw: dict[str, Any] = {"credentials": AnonymousCredentials(), "transport": "rest"}
    return {
        "collections_client": vs.VectorSearchServiceClient(**kw),
        "data_client": vs.DataObjectServiceClient(**kw),
        "search_client": vs.DataObjectSearchServiceClient(**kw),
    }


def test_schema_has_one_dense_field_per_size_and_the_provenance() -> None:
    cv = CollectionVectors(NAME, EMB, sizes=(256, 3072), **_clients())
    spec = cv.schema({"properties": {"title": {"type": "string"}}})
    assert {n: f.dense_vector.dimensions for n, f in spec.vector_schema.items()} == {
        "ge2_256": 256,
        "ge2_3072": 3072,
    }
    props = spec.data_schema["properties"]
    assert "title" in props and DATA_KEY in props
    assert field_name(768) == "ge2_768"


def test_ids_data_and_names_are_checked_before_anything_is_sent() -> None:
    cv = CollectionVectors(NAME, EMB, sizes=(768,), **_clients())
    with pytest.raises(ge2.InputError, match="not accepted"):
        cv.add(["a"], ids=["a/b"])
    with pytest.raises(ge2.InputError, match="provenance"):
        cv.add(["a"], data=[{DATA_KEY: {}}])
    with pytest.raises(ge2.ConfigurationError, match="2 ids for 1 items"):
        cv.add(["a"], ids=["x", "y"])
    with pytest.raises(ge2.ConfigurationError, match="resource name"):
        CollectionVectors("projects/p/collections/c", EMB, **_clients())
    with pytest.raises(ge2.ConfigurationError, match="outside"):
        CollectionVectors(NAME, EMB, sizes=(4096,), **_clients())
    with pytest.raises(ge2.ConfigurationError, match="unknown search_field"):
        cv.search("x", search_field="dense")
    assert EMB.usage.requests == 0


def test_repr_names_the_collection_not_the_key() -> None:
    cv = CollectionVectors(NAME, EMB, **_clients())
    assert NAME in repr(cv) and "never-used" not in repr(cv)
