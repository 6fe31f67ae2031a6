"""ge2 serve over HTTP (Starlette's test client): API, thumbnails, ranges, token, safety.

The store is built offline from the demo corpus by the same code as `ge2 index`; queries
are embedded through the real SDK against the emulator.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from ge2 import samples
from ge2.cli.index import run_index
from ge2.cli.search import run_search
from ge2.embedder import Embedder
from ge2.serve import create_app
from ge2.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture
def store_dir(tmp_path: Path, ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    corpus = tmp_path / "corpus"
    samples.write_corpus(corpus)
    samples.long_pdf(corpus / "long-report.pdf", 14, title="long report on wind turbines")
    store = tmp_path / "store"
    assert run_index([str(corpus)], store, offline=True, progress=False, backend_ready=True) == 0
    return store


def _client(store_dir: Path, **options: Any) -> Iterator[TestClient]:
    store = Store.open(store_dir, create=False, writable=False)
    emb = Embedder(store.config.model, store.config.dimensions, cache=store.cache_path)
    with TestClient(create_app(store, emb, **options)) as client:
        yield client
    store.close()


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    yield from _client(store_dir)


def test_page_and_stats(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="search"' in page.text
    for asset in ("/static/app.js", "/static/style.css", "/"):
        assert "//cdn" not in client.get(asset).text and "https://" not in client.get(asset).text
    stats = client.get("/api/stats").json()
    assert stats["files"] >= 8 and stats["pieces"] >= stats["files"]
    assert {"image", "audio", "video", "pdf", "text"} <= set(stats["modalities"])


def test_search_rows_are_the_cli_json_rows(client: TestClient, store_dir: Path) -> None:
    got = client.get("/api/search", params={"q": "a red fox running through snow", "k": 3}).json()
    out = io.StringIO()
    cli = run_search(
        store_dir, "a red fox running through snow", k=3, as_json=True, out=out, backend_ready=True
    )
    api = got["results"]
    assert (
        [r["path"] for r in api]
        == [r["path"] for r in cli]
        == [r["path"] for r in json.loads(out.getvalue())]
    )
    assert api[0]["name"] == "red-fox.png" and api[0]["thumb_url"].startswith("/thumbs/")
    assert set(cli[0]) <= set(api[0])  # the CLI's fields, plus the page's links


def test_file_query_and_filters(client: TestClient, store_dir: Path) -> None:
    corpus = store_dir.parent / "corpus"
    with open(corpus / "lighthouse.jpg", "rb") as fh:
        r = client.post("/api/search", data={"k": "2"}, files={"file": ("q.jpg", fh, "image/jpeg")})
    assert r.status_code == 200 and r.json()["results"][0]["name"] == "lighthouse.jpg"
    r = client.get("/api/search", params={"q": "fox", "modality": "audio"})
    assert {row["modality"] for row in r.json()["results"]} == {"audio"}
    r = client.get("/api/search", params={"q": "sourdough", "hybrid": "1"})
    assert r.json()["fused"] and r.json()["results"][0]["name"] == "bread-recipe.md"


def test_thumbnails_are_made_once_and_small(client: TestClient, store_dir: Path) -> None:
    rows = {
        row["modality"]: row
        for q in ("red fox", "ocean waves beach", "solar panel energy")
        for row in client.get("/api/search", params={"q": q, "k": 1}).json()["results"]
    }
    for kind in ("image", "video", "pdf"):
        r = client.get(rows[kind]["thumb_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", kind
        img = PILImage.open(io.BytesIO(r.content))
        assert max(img.size) <= 320, kind
    made = sorted(p.name for p in (store_dir / "thumbs").iterdir())
    client.get(rows["image"]["thumb_url"])
    assert sorted(p.name for p in (store_dir / "thumbs").iterdir()) == made


def test_files_by_id_with_ranges_never_by_path(client: TestClient, store_dir: Path) -> None:
    row = client.get("/api/search", params={"q": "ocean waves", "k": 1}).json()["results"][0]
    whole = client.get(row["file_url"])
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("video/")
    part = client.get(row["file_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.content == whole.content[:100]
    for bad in (
        "/files/../../etc/passwd",
        "/files/%2e%2e%2fetc%2fpasswd",
        "/files/" + "0" * 32,
        "/thumbs/..%2f..%2fetc%2fpasswd",
        "/files/etc/passwd",
    ):
        assert client.get(bad).status_code == 404, bad


def test_bad_queries_get_clear_errors(store_dir: Path) -> None:
    for client in _client(store_dir, max_upload=10_000):
        assert client.get("/api/search").status_code == 400
        assert client.get("/api/search", params={"q": "x", "modality": "smell"}).status_code == 400
        big = client.post("/api/search", files={"file": ("big.png", b"\x89PNG" + b"0" * 20_000)})
        assert big.status_code == 413 and "MB" in big.json()["error"]
        odd = client.post("/api/search", files={"file": ("x.bin", b"\x00\x01 not a known type")})
        assert odd.status_code == 422 and "x.bin" in odd.json()["error"]


def test_token_guards_every_route(store_dir: Path) -> None:
    for client in _client(store_dir, token="s3cret"):
        for path in ("/", "/api/stats", "/api/search?q=fox", "/static/app.js"):
            assert client.get(path).status_code == 401, path
        assert (
            client.get("/api/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        )
        assert (
            client.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        first = client.get("/?token=s3cret")
        assert first.status_code == 200 and "ge2_token" in first.headers["set-cookie"]
        assert client.get("/api/stats").status_code == 200  # the cookie now


def test_serving_is_read_only_and_a_public_host_needs_a_token(store_dir: Path) -> None:
    from ge2.cli._common import Fail
    from ge2.cli.serve import serve_store

    for client in _client(store_dir):
        client.get("/api/search", params={"q": "fox"})
        # an index run can take the write lock while the page is served
        with Store.open(store_dir, create=False, writable=True) as writer:
            assert writer.count() > 0
    with pytest.raises(Fail, match="--token"):
        serve_store(store_dir, host="0.0.0.0", backend_ready=True)
