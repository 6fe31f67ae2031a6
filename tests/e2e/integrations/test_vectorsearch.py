"""Vertex AI Vector Search 2.0 end to end: the real google-cloud-vectorsearch client (REST
transport) -> ge2's wire-level stand-in of the service, with embeddings from the Gemini
emulator (Vertex AI route). Offline; tests/e2e/integrations/test_vectorsearch_real.py runs
against the service when VECTORSEARCH_PROJECT is set."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ge2
from ge2 import samples

warnings.filterwarnings("ignore", category=FutureWarning)  # grpcio PQC notices
pytest.importorskip("google.cloud.vectorsearch_v1")
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import vectorsearch_v1 as vs  # noqa: E402
from google.oauth2.credentials import Credentials  # noqa: E402

from ge2.emulator.vectorsearch import VectorSearchEmulator  # noqa: E402
from ge2.integrations.vectorsearch import DATA_KEY, CollectionVectors  # noqa: E402

pytestmark = pytest.mark.e2e
NAME = "projects/demo/locations/us-central1/collections/library"


@pytest.fixture
def service() -> Iterator[VectorSearchEmulator]:
    with VectorSearchEmulator() as emu:
        yield emu


@pytest.fixture
def clients(service: VectorSearchEmulator) -> dict[str, Any]:
    opts = ClientOptions(api_endpoint=service.url)
    kw: dict[str, Any] = {
        "credentials": AnonymousCredentials(),
        "transport": "rest",
        "client_options": opts,
    }
    return {
        "collections_client": vs.VectorSearchServiceClient(**kw),
        "data_client": vs.DataObjectServiceClient(**kw),
        "search_client": vs.DataObjectSearchServiceClient(**kw),
    }


@pytest.fixture
def embedder(ge2_emulator: Any) -> ge2.Embedder:
    """GE2 on Vertex AI (what a Vector Search user runs), against the emulator."""
    return ge2.Embedder(
        vertexai=True,
        project="demo",
        location="us-central1",
        credentials=Credentials(token="emulator-token"),
        base_url=ge2_emulator.url,
        dimensions=3072,
        max_retries=0,
    )


@pytest.fixture
def library(
    clients: dict[str, Any], embedder: ge2.Embedder, corpus: dict[str, Path]
) -> CollectionVectors:
    cv = CollectionVectors(NAME, embedder, sizes=(256, 768), **clients)
    cv.create_or_adopt(data_schema={"properties": {"name": {"type": "string"}}})
    names = sorted(corpus)
    result = cv.add(
        [corpus[n] for n in names], data=[{"name": n, "kind": n.rsplit(".", 1)[1]} for n in names]
    )
    assert not result.failures and result.objects == len(names)
    return cv


def _names(results: list[Any]) -> list[str]:
    return [r.data_object.data["name"] for r in results]


def test_created_collection_has_one_dense_field_per_size(
    library: CollectionVectors, clients: dict[str, Any], service: VectorSearchEmulator
) -> None:
    got = clients["collections_client"].get_collection(name=NAME)
    assert {n: f.dense_vector.dimensions for n, f in got.vector_schema.items()} == {
        "ge2_256": 256,
        "ge2_768": 768,
    }
    assert DATA_KEY in got.data_schema["properties"]
    # the requests were the client's own REST calls
    paths = {p for _, p, _ in service.state.requests}
    assert f"/v1/{NAME}/dataObjects:batchCreate" in paths


def test_text_and_media_queries_and_a_filter(
    library: CollectionVectors, corpus: dict[str, Path]
) -> None:
    assert _names(library.search("a red fox running through snow", top_k=1)) == ["red-fox.png"]
    assert _names(library.search("birdsong in a spring garden", top_k=1)) == ["birdsong.wav"]
    assert _names(library.search(corpus["lighthouse.jpg"], top_k=1)) == ["lighthouse.jpg"]
    small = library.search("ocean waves on a beach", top_k=1, search_field="ge2_256")
    assert _names(small) == ["ocean-waves.mp4"]
    hits = library.search("a red fox", top_k=5, filter={"kind": {"$in": ["jpg", "wav"]}})
    assert set(_names(hits)) == {"lighthouse.jpg", "birdsong.wav"}


def test_hybrid_fuses_the_services_text_search_with_ge2_vectors(library: CollectionVectors) -> None:
    hits = library.hybrid("sourdough", data_fields=["name"], top_k=3, query="bread with flour")
    assert _names(hits)[0] == "bread-recipe.md"


def test_long_pdf_one_object_per_piece_and_partial_failures_kept(
    clients: dict[str, Any], embedder: ge2.Embedder, service: VectorSearchEmulator
) -> None:
    cv = CollectionVectors(NAME, embedder, sizes=(768,), **clients).create_or_adopt()
    pdf = samples.pdf([f"page {i} about solar panels" for i in range(1, 15)])
    service.state.max_data_bytes = 2000
    result = cv.add(
        [ge2.Pdf(pdf), "a note about tea", "a note about coffee"],
        ids=["report", "tea", "coffee"],
        data=[None, {"notes": "x" * 3000}, None],
        batch_size=3,
    )
    assert result.ids[0] == ["report-p0", "report-p1", "report-p2"]
    assert [f.index for f in result.failures] == [1, 2]  # one batch, refused as a whole
    assert "'tea'" in str(result.failures[0]) and "2000 bytes" in str(result.failures[0])
    stored = service.state.objects[NAME]
    assert sorted(stored) == ["report-p0", "report-p1", "report-p2"]
    assert stored["report-p1"]["data"][DATA_KEY]["page_start"] == 7
    # the same ids again: the service refuses duplicates, ge2 reports them by item
    again = cv.add(["a note about tea"], ids=["report-p0"])
    assert again.failures and "already exists" in str(again.failures[0])


def test_bad_input_and_schema_mismatch_fail_before_anything_is_written(
    clients: dict[str, Any], embedder: ge2.Embedder, service: VectorSearchEmulator
) -> None:
    CollectionVectors(NAME, embedder, sizes=(768,), **clients).create_or_adopt()
    with pytest.raises(ge2.ConfigurationError, match="no dense vector field 'ge2_3072'"):
        CollectionVectors(NAME, embedder, sizes=(3072,), **clients).create_or_adopt()
    cv = CollectionVectors(NAME, embedder, sizes=(768,), **clients)
    with pytest.raises(ge2.InputError, match="not accepted"):
        cv.add(["x"], ids=["has space"])
    with pytest.raises(ge2.InputError, match="provenance"):
        cv.add(["x"], data=[{DATA_KEY: 1}])
    with pytest.raises(ge2.ConfigurationError, match="resource name"):
        CollectionVectors("library", embedder, **clients)
    with pytest.raises(ge2.ConfigurationError, match="JSON filter"):
        cv.search("x", filter="kind = 'png'")  # type: ignore[arg-type]
    assert embedder.usage.requests == 0
    wrong = CollectionVectors(NAME.replace("demo", "other"), embedder, sizes=(768,), **clients)
    from google.api_core import exceptions as gexc

    with pytest.raises(gexc.NotFound, match="check the project"):
        wrong.search("x")
    assert not service.state.objects[NAME]


def test_beside_the_services_auto_embeddings(
    clients: dict[str, Any], embedder: ge2.Embedder, corpus: dict[str, Path]
) -> None:
    """Text objects embedded by the service from a template, media added by ge2, one field."""
    coll = vs.Collection(
        vector_schema={
            "content": vs.VectorField(
                dense_vector=vs.DenseVectorField(
                    dimensions=768,
                    vertex_embedding_config=vs.VertexEmbeddingConfig(
                        model_id="gemini-embedding-2", text_template="title: {title} | text: {body}"
                    ),
                )
            )
        }
    )
    clients["collections_client"].create_collection(
        parent=NAME.rsplit("/collections/", 1)[0], collection_id="library", collection=coll
    ).result()
    clients["data_client"].batch_create_data_objects(
        request=vs.BatchCreateDataObjectsRequest(
            parent=NAME,
            requests=[
                vs.CreateDataObjectRequest(
                    data_object_id="volcano",
                    data_object=vs.DataObject(
                        data={"title": "volcano", "body": "lava and ash clouds"}
                    ),
                )
            ],
        )
    )
    cv = CollectionVectors.beside_auto_embeddings(NAME, embedder, **clients)
    assert cv.fields == {"content": 768}
    cv.add([corpus["red-fox.png"]], ids=["fox"], data=[{"title": "red-fox.png"}])
    assert [r.data_object.data_object_id for r in cv.search("a red fox in snow", top_k=1)] == [
        "fox"
    ]
    assert [r.data_object.data_object_id for r in cv.search("lava and ash", top_k=1)] == ["volcano"]
    # and the service's own semantic search finds ge2's media object in the same field
    found = clients["search_client"].search_data_objects(
        request=vs.SearchDataObjectsRequest(
            parent=NAME,
            semantic_search=vs.SemanticSearch(
                search_text="red fox running through snow", search_field="content", top_k=1
            ),
        )
    )
    assert [r.data_object.data_object_id for r in found.results] == ["fox"]
    other = ge2.Embedder(model="gemini-embedding-001", api_key="k")
    with pytest.raises(ge2.ConfigurationError, match="do not share a space"):
        CollectionVectors.beside_auto_embeddings(NAME, other, **clients)


def test_async_add_and_search(clients: dict[str, Any], embedder: ge2.Embedder) -> None:
    import asyncio

    cv = CollectionVectors(NAME, embedder, sizes=(768,), **clients).create_or_adopt()

    async def main() -> list[Any]:
        result = await cv.aadd(["volcano eruption with lava", "sourdough bread"], ids=["v", "b"])
        assert not result.failures
        return await cv.asearch("lava from a volcano", top_k=1)

    assert [r.data_object.data_object_id for r in asyncio.run(main())] == ["v"]
