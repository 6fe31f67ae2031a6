"""Shared fixtures: generated media, an emulator-backed Embedder, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ge2
from ge2 import samples

_SDK_ENV = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GE2_CACHE_DIR",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's real key, base URL or cache."""
    for name in _SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GE2_CACHE_DIR", str(tmp_path / "ge2-cache"))


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    """The demo corpus (images, audio, video, PDF, text with descriptions), by file name."""
    return {p.name: p for p in samples.write_corpus(tmp_path / "corpus")}


@pytest.fixture
def embedder(ge2_emulator: object) -> Iterator[ge2.Embedder]:
    """An Embedder on the real SDK, pointed at a fresh emulator over HTTP (256 dimensions)."""
    emb = ge2.Embedder(
        base_url=ge2_emulator.url,  # type: ignore[attr-defined]
        api_key="test-key",
        dimensions=256,
        retry_base_delay=0.01,
        retry_max_delay=0.05,
    )
    yield emb
    emb.close()
