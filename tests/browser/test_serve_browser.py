"""ge2 serve in a real headless browser: Playwright driving the system Chromium.

Run with `make test-browser` (CI installs Debian's `chromium`; Playwright cannot download
its own browsers here, so it is pointed at /usr/bin/chromium or $GE2_CHROMIUM).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ge2 import samples

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = os.environ.get("GE2_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
        "or set GE2_CHROMIUM",
        allow_module_level=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, ge2_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import uvicorn

    from ge2.cli.index import run_index
    from ge2.embedder import Embedder
    from ge2.serve import create_app
    from ge2.store import Store

    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    corpus = tmp_path / "corpus"
    samples.write_corpus(corpus)
    store_dir = tmp_path / "store"
    assert (
        run_index([str(corpus)], store_dir, offline=True, progress=False, backend_ready=True) == 0
    )
    store = Store.open(store_dir, create=False, writable=False)
    emb = Embedder(store.config.model, store.config.dimensions, cache=store.cache_path)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store, emb), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)  # readiness poll for the server thread, not a timing assumption
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)
    store.close()


def test_text_and_image_queries_show_result_cards(served: str, tmp_path: Path) -> None:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(served)
        page.wait_for_selector("#stats:has-text('files')")
        page.fill("#q", "a red fox running through snow")
        page.keyboard.press("Enter")
        first = page.locator("#results .card").first
        first.wait_for()
        assert first.get_attribute("data-path").endswith("red-fox.png")
        img = first.locator("img")
        img.wait_for()
        page.wait_for_function("document.querySelector('#results .card img').naturalWidth > 0")
        page.screenshot(path=str(tmp_path / "text-query.png"), full_page=True)

        page.fill("#q", "")
        page.set_input_files("#file", str(tmp_path / "corpus" / "lighthouse.jpg"))
        page.click("button[type=submit]")
        page.wait_for_selector("#results .card[data-path$='lighthouse.jpg']")
        assert (
            page.locator("#results .card")
            .first.get_attribute("data-path")
            .endswith("lighthouse.jpg")
        )
        page.screenshot(path=str(tmp_path / "image-query.png"), full_page=True)
        shot = os.environ.get("GE2_SCREENSHOT")
        if shot:
            page.set_input_files("#file", [])
            page.fill("#q", "ocean waves breaking on a sandy beach")
            page.click("button[type=submit]")
            page.wait_for_selector("#results .card video")
            page.screenshot(path=shot, full_page=False)
        browser.close()
    assert (tmp_path / "text-query.png").stat().st_size > 5_000
