"""ge2 serve's thumbnails of files that turn out damaged: a clean 422, and the server goes on.

A store lists files as they were when indexed; by the time the page asks for a thumbnail
the file may be truncated, replaced, or a pixel bomb. Each such request used to be a 500
with a traceback (Pillow's DecompressionBombError, PdfiumError, PyAV's IndexError).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from ge2 import media, samples
from ge2.cli.index import run_index
from ge2.embedder import Embedder
from ge2.serve import create_app
from ge2.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(
    tmp_path: Path, ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Path, dict[str, str]]]:
    """A client over a store of four good files, and each file's thumbnail URL by name."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.png").write_bytes(samples.png((10, 200, 10)))
    (corpus / "b.png").write_bytes(samples.png((10, 10, 200)))
    (corpus / "c.pdf").write_bytes(samples.pdf(["a page"]))
    (corpus / "d.mp4").write_bytes(samples.video(2))
    store_dir = tmp_path / "store"
    done = run_index([str(corpus)], store_dir, offline=True, progress=False, backend_ready=True)
    assert done == 0
    store = Store.open(store_dir, create=False, writable=False)
    emb = Embedder(store.config.model, store.config.dimensions, cache=store.cache_path)
    with TestClient(create_app(store, emb), raise_server_exceptions=False) as client:
        rows = client.get("/api/search", params={"q": "page", "k": 10}).json()["results"]
        urls = {Path(r["path"]).name: r["thumb_url"] for r in rows}
        yield client, corpus, urls
    store.close()


def test_damaged_files_get_a_422_naming_the_problem(
    served: tuple[TestClient, Path, dict[str, str]],
) -> None:
    client, corpus, urls = served
    video = samples.video(2)
    (corpus / "a.png").write_bytes(samples.huge_png(20000, 20000))
    (corpus / "b.png").write_bytes(samples.png()[:60])
    (corpus / "c.pdf").write_bytes(b"%PDF-1.7\n garbage\n")
    (corpus / "d.mp4").write_bytes(video[: len(video) // 2])
    expected = {
        "a.png": "20000x20000 = 400,000,000 pixels is over the limit",
        "b.png": "not a readable image",
        "c.pdf": "cannot render it",
        "d.mp4": "no video stream",
    }
    for name, words in expected.items():
        r = client.get(urls[name])
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error.startswith(f"no thumbnail for {name}: ") and words in error, error
    assert client.get("/api/stats").status_code == 200  # still serving


def test_good_files_still_get_thumbnails(served: tuple[TestClient, Path, dict[str, str]]) -> None:
    client, _, urls = served
    for name in ("a.png", "c.pdf", "d.mp4"):
        r = client.get(urls[name])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", name


def test_display_decoding_is_bounded_by_the_header() -> None:
    """A JPEG is decoded at reduced scale when that fits; anything else over the bound is
    refused from its header, before a pixel is decoded."""
    buf = io.BytesIO()
    PILImage.new("RGB", (400, 400), (90, 90, 90)).save(buf, format="JPEG")
    jpeg = buf.getvalue()
    img = media.decode_for_display(jpeg, (32, 32), max_pixels=10_000)
    assert img.size == (50, 50)  # 1/8 scale: 2,500 pixels decoded, not 160,000
    png = samples.png(size=(400, 400))
    with pytest.raises(ValueError, match=r"400x400 = 160,000 pixels is over the limit of 10,000"):
        media.decode_for_display(png, (32, 32), max_pixels=10_000)
    with pytest.raises(ValueError, match="not a readable image"):
        media.decode_for_display(png[:60], (32, 32))
