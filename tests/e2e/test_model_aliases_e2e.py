"""gemini-embedding-2-preview through the real SDK: served by the emulator as the model itself."""

from __future__ import annotations

import json
import urllib.request

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import types

import ge2
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e


def test_the_preview_id_gets_the_models_vectors(ge2_emulator: Emulator) -> None:
    def embedder(model: str) -> ge2.Embedder:
        return ge2.Embedder(model, 256, base_url=ge2_emulator.url, api_key="test")

    texts = ["a red fox in the snow", "a report on solar panels"]
    preview = embedder("gemini-embedding-2-preview").embed(texts, task="query")
    assert preview == embedder("gemini-embedding-2").embed(texts, task="query")
    first = ge2_emulator.stats["request_log"][0]
    assert first["model"] == "gemini-embedding-2-preview" and first["status"] == 200
    assert first["texts"][0] == ["task: search result | query: a red fox in the snow"]


def test_vertex_route_and_health_list_the_alias(ge2_emulator: Emulator) -> None:
    creds = google.oauth2.credentials.Credentials(token="emulator-token")  # type: ignore[no-untyped-call]
    client = genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=creds,
        http_options=types.HttpOptions(base_url=ge2_emulator.url),
    )
    resp = client.models.embed_content(
        model="gemini-embedding-2-preview",
        contents=[types.Content(parts=[types.Part(text="fox")])],
        config=types.EmbedContentConfig(output_dimensionality=128),
    )
    assert resp.embeddings is not None and len(resp.embeddings[0].values or []) == 128
    with urllib.request.urlopen(f"{ge2_emulator.url}/emulator/health") as answer:
        assert "gemini-embedding-2-preview" in json.load(answer)["models"]
