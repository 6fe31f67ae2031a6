"""The REAL google-genai SDK over real HTTP against the emulator (run with SDK 2.x and 3.x).

Nothing here mocks the SDK: requests go through its own URL building, serialisation,
auth headers and error parsing. Raw HTTP (urllib, httpx) covers the spellings the SDK
never sends (camelCase vs snake_case, standard vs URL-safe base64, ``?key=``).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import av
import google.oauth2.credentials
import httpx
import numpy as np
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image, ImageDraw, PngImagePlugin

from ge2.emulator import Emulator, embed_content_vector

pytestmark = pytest.mark.e2e

SDK_MAJOR = int(genai.__version__.split(".")[0])
MODEL = "gemini-embedding-2"

# -- media generated in the tests (the lead may move these into conftest.py) --------------


def png_bytes(kind: str = "fox", description: str | None = None, fmt: str = "PNG") -> bytes:
    """A small structured picture ('fox': red disc, 'sea': blue bands), PNG or JPEG."""
    img = Image.new("RGB", (96, 96), "white")
    draw = ImageDraw.Draw(img)
    if kind == "fox":
        draw.ellipse((20, 20, 76, 76), fill=(210, 70, 20))
    else:
        for y in range(0, 96, 12):
            draw.rectangle((0, y, 96, y + 6), fill=(20, 60, 200))
    buf = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        if description:
            info.add_text("Description", description)
        img.save(buf, "PNG", pnginfo=info)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def wav_bytes(seconds: float = 1.0) -> bytes:
    """A mono 8 kHz sine tone as WAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")  # type: ignore[call-overload]
        t = np.arange(int(seconds * 8000)) / 8000
        data = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def emu(ge2_emulator: Emulator) -> Emulator:
    """The plugin's fresh per-test emulator."""
    return ge2_emulator


@pytest.fixture
def client(emu: Emulator) -> genai.Client:
    return genai.Client(api_key="test", http_options=types.HttpOptions(base_url=emu.url))


@pytest.fixture
def vertex_client(emu: Emulator) -> genai.Client:
    """Vertex with a static OAuth token (AnonymousCredentials cannot be refreshed offline)."""
    creds = google.oauth2.credentials.Credentials(token="emulator-token")  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=creds,
        http_options=types.HttpOptions(base_url=emu.url),
    )


def text_content(text: str) -> types.Content:
    return types.Content(parts=[types.Part(text=text)])


def embed(client: genai.Client, contents: Any, **config: Any) -> list[list[float]]:
    resp = client.models.embed_content(
        model=MODEL, contents=contents, config=types.EmbedContentConfig(**config)
    )
    assert resp.embeddings is not None
    return [list(e.values or []) for e in resp.embeddings]


def raw(
    emu: Emulator,
    path: str,
    body: Any = None,
    *,
    key: str | None = "test",
    method: str = "POST",
    data: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request with urllib: (status, JSON body) for 2xx and error answers alike."""
    payload = (
        data if data is not None else (json.dumps(body).encode() if body is not None else None)
    )
    req = urllib.request.Request(emu.url + path, data=payload, method=method)
    req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("x-goog-api-key", key)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        assert err.headers.get("Content-Type", "").startswith("application/json")
        return err.code, json.loads(err.read())


def b64(data: bytes, urlsafe: bool = False, pad: bool = True) -> str:
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return enc if pad else enc.rstrip("=")


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (norm(a) * norm(b)))


GEMINI_BATCH = f"/v1beta/models/{MODEL}:batchEmbedContents"


# -- Gemini Developer API through the SDK ---------------------------------------------------


def test_batch_gives_one_vector_per_content(client: genai.Client, emu: Emulator) -> None:
    texts = ["the red fox", "a lazy dog", "quarterly revenue"]
    vecs = embed(client, [text_content(t) for t in texts], output_dimensionality=256)
    assert len(vecs) == 3
    assert all(len(v) == 256 and abs(norm(v) - 1) < 1e-5 for v in vecs)
    assert len({tuple(v) for v in vecs}) == 3
    for text, v in zip(texts, vecs, strict=True):
        assert v == embed_content_vector(text, dimensions=256)
    log = emu.stats["request_log"][-1]
    expected_version = "/v1/" if SDK_MAJOR >= 3 else "/v1beta/"
    assert log["path"] == f"{expected_version}models/{MODEL}:batchEmbedContents"
    assert log["contents"] == 3
    assert log["texts"] == [[t] for t in texts]


def test_multi_part_content_gives_one_vector(client: genai.Client) -> None:
    png = png_bytes("fox")
    content = types.Content(
        parts=[types.Part(text="a red fox"), types.Part.from_bytes(data=png, mime_type="image/png")]
    )
    (vec,) = embed(client, [content], output_dimensionality=768)
    expected = embed_content_vector(
        {
            "parts": [
                {"text": "a red fox"},
                {"inline_data": {"mime_type": "image/png", "data": b64(png)}},
            ]
        },
        dimensions=768,
    )
    assert vec == expected


def test_plain_string_list_becomes_one_content(client: genai.Client, emu: Emulator) -> None:
    """python-genai merges a list of strings into ONE content for this model (issue 2523)."""
    vecs = embed(client, ["first text", "second text"], output_dimensionality=128)
    assert len(vecs) == 1
    assert emu.stats["request_log"][-1]["parts"] == [["text/plain", "text/plain"]]


def test_matryoshka_through_the_sdk(client: genai.Client) -> None:
    full = embed(client, [text_content("nesting dolls")])[0]
    assert len(full) == 3072
    for dims in (128, 768, 1536):
        small = embed(client, [text_content("nesting dolls")], output_dimensionality=dims)[0]
        prefix = np.array(full[:dims]) / norm(full[:dims])
        assert abs(norm(small) - 1) < 1e-5
        assert np.allclose(small, prefix, atol=2e-6)


def test_semantics_text_and_images(client: genai.Client) -> None:
    parts = [
        types.Content(parts=[types.Part.from_bytes(data=png_bytes("fox"), mime_type="image/png")]),
        types.Content(
            parts=[types.Part.from_bytes(data=png_bytes("fox", fmt="JPEG"), mime_type="image/jpeg")]
        ),
        types.Content(
            parts=[
                types.Part.from_bytes(
                    data=png_bytes("sea", description="red fox in the snow"),
                    mime_type="image/png",
                )
            ]
        ),
        text_content("task: search result | query: red fox"),
        text_content("title: none | text: the red fox ran"),
        text_content("title: none | text: municipal tax policy"),
    ]
    fox_png, fox_jpg, described, query, doc, other = embed(client, parts, output_dimensionality=768)
    assert cos(fox_png, fox_jpg) > 0.97
    assert cos(query, doc) > cos(query, other) + 0.3
    assert cos(query, described) > cos(query, fox_png) + 0.3


def test_task_type_is_counted_as_ignored(client: genai.Client, emu: Emulator) -> None:
    a = embed(client, [text_content("red fox")], task_type="RETRIEVAL_QUERY")
    b = embed(client, [text_content("red fox")])
    assert a == b
    stats = emu.stats
    assert stats["task_type_ignored"] == 1
    assert stats["request_log"][0]["task_types"] == ["RETRIEVAL_QUERY"]


def test_file_uri_part(client: genai.Client) -> None:
    part = types.Part.from_uri(file_uri="gs://bucket/fox.png", mime_type="image/png")
    (vec,) = embed(client, [types.Content(parts=[part])], output_dimensionality=128)
    expected = embed_content_vector(
        {"parts": [{"file_data": {"file_uri": "gs://bucket/fox.png", "mime_type": "image/png"}}]},
        dimensions=128,
    )
    assert vec == expected


async def test_async_client(client: genai.Client) -> None:
    resp = await client.aio.models.embed_content(
        model=MODEL,
        contents=[text_content("async fox"), text_content("async dog")],
        config=types.EmbedContentConfig(output_dimensionality=128),
    )
    assert resp.embeddings is not None and len(resp.embeddings) == 2


def test_base_url_from_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emu.url)
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    vecs = embed(genai.Client(), [text_content("env")], output_dimensionality=128)
    assert len(vecs[0]) == 128


# -- Vertex AI -------------------------------------------------------------------------------


def test_vertex_single_content(vertex_client: genai.Client, emu: Emulator) -> None:
    resp = vertex_client.models.embed_content(
        model=MODEL,
        contents=[text_content("vertex fox")],
        config=types.EmbedContentConfig(output_dimensionality=256, task_type="RETRIEVAL_QUERY"),
    )
    assert resp.embeddings is not None
    assert list(resp.embeddings[0].values or []) == embed_content_vector(
        "vertex fox", dimensions=256
    )
    stats = resp.embeddings[0].statistics
    assert stats is not None and stats.token_count == 4
    log = emu.stats["request_log"][-1]
    assert log["path"] == (
        f"/v1beta1/projects/p/locations/us-central1/publishers/google/models/{MODEL}:embedContent"
    )
    assert log["task_types"] == ["RETRIEVAL_QUERY"]
    assert log["output_dimensionality"] == [256]


def test_vertex_several_contents(vertex_client: genai.Client, emu: Emulator) -> None:
    contents = [text_content("one"), text_content("two")]
    if SDK_MAJOR < 3:
        with pytest.raises(ValueError, match="only supports one content"):
            embed(vertex_client, contents)
        return
    vecs = embed(vertex_client, contents, output_dimensionality=128)
    assert len(vecs) == 2 and vecs[0] != vecs[1]
    assert emu.stats["request_log"][-1]["path"].endswith(":batchEmbedContents")


def test_vertex_express_mode(emu: Emulator) -> None:
    client = genai.Client(
        vertexai=True, api_key="express-key", http_options=types.HttpOptions(base_url=emu.url)
    )
    webp = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).save(webp, "WEBP")
    part = types.Part.from_bytes(data=webp.getvalue(), mime_type="image/webp")
    (vec,) = embed(client, [types.Content(parts=[part])], output_dimensionality=128)
    assert len(vec) == 128
    assert emu.stats["request_log"][-1]["path"] == (
        f"/v1beta1/publishers/google/models/{MODEL}:embedContent"
    )


def test_vertex_without_credentials_is_401(emu: Emulator) -> None:
    path = f"/v1/projects/p/locations/l/publishers/google/models/{MODEL}:embedContent"
    status, body = raw(emu, path, {"content": {"parts": [{"text": "x"}]}}, key=None)
    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"


# -- wire spellings (raw HTTP) ---------------------------------------------------------------


@pytest.mark.parametrize("urlsafe", [False, True])
@pytest.mark.parametrize("pad", [False, True])
def test_raw_camel_and_snake_case_and_base64(emu: Emulator, urlsafe: bool, pad: bool) -> None:
    png = png_bytes("fox")
    camel = {
        "requests": [
            {
                "model": f"models/{MODEL}",
                "content": {
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": b64(png, urlsafe, pad)}}
                    ]
                },
                "outputDimensionality": 128,
                "taskType": "RETRIEVAL_DOCUMENT",
            }
        ]
    }
    snake = {
        "requests": [
            {
                "model": f"models/{MODEL}",
                "content": {
                    "parts": [
                        {"inline_data": {"mime_type": "image/png", "data": b64(png, urlsafe, pad)}}
                    ]
                },
                "output_dimensionality": 128,
                "task_type": "RETRIEVAL_DOCUMENT",
            }
        ]
    }
    s1, b1 = raw(emu, GEMINI_BATCH, camel)
    s2, b2 = raw(emu, GEMINI_BATCH, snake)
    assert s1 == s2 == 200
    assert b1 == b2
    assert len(b1["embeddings"][0]["values"]) == 128


def test_raw_embed_content_single_and_query_key(emu: Emulator) -> None:
    path = f"/v1/models/{MODEL}:embedContent?key=abc"
    status, body = raw(
        emu, path, {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 128}, key=None
    )
    assert status == 200
    assert body["embedding"]["values"] == embed_content_vector("hi", dimensions=128)
    status, body = raw(emu, f"/v1alpha/models/{MODEL}:embedContent", {"content": {"text": 1}})
    assert status == 400 and "requests" not in body["error"]["message"]


def test_raw_vertex_batch_and_embed_content_config(emu: Emulator) -> None:
    path = (
        f"/v1/projects/p/locations/europe-west4/publishers/google/models/{MODEL}:batchEmbedContents"
    )
    body = {
        "requests": [
            {
                "content": {"parts": [{"text": "a"}]},
                "embedContentConfig": {"outputDimensionality": 128},
            },
            {
                "content": {"parts": [{"text": "b"}]},
                "embed_content_config": {"output_dimensionality": 256},
            },
        ]
    }
    status, out = raw(emu, path, body)
    assert status == 200
    assert [len(e["values"]) for e in out["embeddings"]] == [128, 256]


def test_file_data_without_mime_type_is_400(emu: Emulator) -> None:
    body = {"requests": [{"content": {"parts": [{"fileData": {"fileUri": "gs://b/x.png"}}]}}]}
    status, out = raw(emu, GEMINI_BATCH, body)
    assert status == 400
    assert "mime_type" in out["error"]["message"]


def test_keep_alive_reuses_one_connection(emu: Emulator) -> None:
    with httpx.Client(base_url=emu.url, headers={"x-goog-api-key": "k"}) as http:
        for _ in range(5):
            r = http.post(
                GEMINI_BATCH, json={"requests": [{"content": {"parts": [{"text": "x"}]}}]}
            )
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("application/json")
    assert emu.stats["requests"] == 5


# -- errors, auth, routing -------------------------------------------------------------------


def test_unknown_model_and_paths_are_404(client: genai.Client, emu: Emulator) -> None:
    with pytest.raises(errors.ClientError) as info:
        client.models.embed_content(model="text-embedding-999", contents=[text_content("x")])
    assert info.value.code == 404
    assert info.value.status == "NOT_FOUND"
    assert raw(emu, "/v1beta/models/x:generateContent", {})[0] == 404
    assert raw(emu, "/nope", {})[0] == 404
    status, body = raw(emu, GEMINI_BATCH, method="GET")
    assert status == 404 and body["error"]["code"] == 404


def test_missing_and_wrong_api_key(emu: Emulator) -> None:
    status, body = raw(
        emu, GEMINI_BATCH, {"requests": [{"content": {"parts": [{"text": "x"}]}}]}, key=None
    )
    assert status == 403
    assert body["error"]["status"] == "PERMISSION_DENIED"
    emu.configure(api_keys={"right"})
    wrong = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=emu.url))
    with pytest.raises(errors.ClientError) as info:
        embed(wrong, [text_content("x")])
    assert info.value.code == 400
    assert info.value.message == "API key not valid. Please pass a valid API key."
    reasons = [d.get("reason") for d in info.value.details["error"]["details"]]
    assert "API_KEY_INVALID" in reasons
    right = genai.Client(api_key="right", http_options=types.HttpOptions(base_url=emu.url))
    assert len(embed(right, [text_content("x")], output_dimensionality=128)[0]) == 128


def _client_error(client: genai.Client, contents: Any, **config: Any) -> errors.ClientError:
    with pytest.raises(errors.ClientError) as info:
        embed(client, contents, **config)
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    return info.value


def test_limits_answer_400_naming_the_request(client: genai.Client, emu: Emulator) -> None:
    err = _client_error(client, [text_content(f"t{i}") for i in range(101)])
    assert "at most 100 requests can be in one batch" in (err.message or "")
    img = types.Part.from_bytes(data=png_bytes(), mime_type="image/png")
    err = _client_error(client, [text_content("ok"), types.Content(parts=[img] * 7)])
    assert "requests[1]" in (err.message or "") and "at most 6 images" in (err.message or "")
    err = _client_error(client, [text_content("x")], output_dimensionality=64)
    assert "between 128 and 3072" in (err.message or "")
    bad = types.Part.from_bytes(data=png_bytes(), mime_type="image/jpeg")
    err = _client_error(client, [types.Content(parts=[bad])])
    assert "requests[0].content.parts[0]" in (err.message or "")
    webp = types.Part.from_bytes(data=b"RIFF\x00\x00\x00\x00WEBPVP8 ", mime_type="image/webp")
    assert "Unsupported MIME type" in (
        _client_error(client, [types.Content(parts=[webp])]).message or ""
    )
    emu.configure(max_audio_seconds=1.0)
    audio = types.Part.from_bytes(data=wav_bytes(2.0), mime_type="audio/wav")
    assert "at most 1 s" in (_client_error(client, [types.Content(parts=[audio])]).message or "")
    emu.configure(max_request_bytes=500)
    big = types.Part.from_bytes(data=png_bytes(), mime_type="image/png")
    err = _client_error(client, [types.Content(parts=[big])])
    assert "Request payload size exceeds the limit" in (err.message or "")
    assert emu.stats["status_codes"][400] == 7


def test_empty_content_is_400(emu: Emulator) -> None:
    status, body = raw(emu, GEMINI_BATCH, {"requests": [{"content": {"parts": []}}]})
    assert status == 400 and "requests[0]" in body["error"]["message"]
    status, body = raw(emu, GEMINI_BATCH, data=b"{not json")
    assert status == 400


def test_over_budget_is_truncated_not_an_error(client: genai.Client, emu: Emulator) -> None:
    long_text = "word " * 30_000
    (vec,) = embed(client, [text_content(long_text)], output_dimensionality=128)
    assert len(vec) == 128
    assert emu.stats["truncated_inputs"] == 1


# -- quota -----------------------------------------------------------------------------------


def _retry_delay(err: errors.APIError) -> float:
    details = err.details["error"]["details"]
    (retry,) = [d for d in details if d["@type"].endswith("google.rpc.RetryInfo")]
    return float(retry["retryDelay"].rstrip("s"))


def test_rate_limit_429_then_waiting_retry_delay_succeeds(
    client: genai.Client, emu: Emulator
) -> None:
    emu.configure(rate_limit=3, rate_window_s=1.0)
    embed(client, [text_content(f"a{i}") for i in range(3)], output_dimensionality=128)
    with pytest.raises(errors.ClientError) as info:
        embed(client, [text_content("over")], output_dimensionality=128)
    err = info.value
    assert err.code == 429 and err.status == "RESOURCE_EXHAUSTED"
    details = err.details["error"]["details"]
    types_ = [d["@type"].rsplit(".", 1)[-1] for d in details]
    assert types_ == ["QuotaFailure", "Help", "RetryInfo"]
    violation = details[0]["violations"][0]
    assert violation["quotaId"] == "EmbedContentRequestsPerMinutePerProjectPerModel-FreeTier"
    assert violation["quotaMetric"].startswith("generativelanguage.googleapis.com/")
    delay = _retry_delay(err)
    assert 0 < delay <= 1.0
    assert f"Please retry in {details[2]['retryDelay']}" in (err.message or "")
    time.sleep(delay)
    assert len(embed(client, [text_content("after")], output_dimensionality=128)) == 1
    assert emu.stats["rate_limited"] == 1


def test_rate_limit_per_request_unit(client: genai.Client, emu: Emulator) -> None:
    emu.configure(rate_limit=2, rate_window_s=30, rate_limit_unit="request")
    batch = [text_content(f"x{i}") for i in range(5)]
    embed(client, batch, output_dimensionality=128)
    embed(client, batch, output_dimensionality=128)
    with pytest.raises(errors.ClientError) as info:
        embed(client, batch, output_dimensionality=128)
    assert info.value.code == 429
    assert 25 < _retry_delay(info.value) <= 30


def test_daily_limit_does_not_clear(client: genai.Client, emu: Emulator) -> None:
    emu.configure(daily_limit=2)
    embed(client, [text_content("a"), text_content("b")], output_dimensionality=128)
    with pytest.raises(errors.ClientError) as info:
        embed(client, [text_content("c")], output_dimensionality=128)
    details = info.value.details["error"]["details"]
    assert "PerDay" in details[0]["violations"][0]["quotaId"]
    assert not any(d["@type"].endswith("RetryInfo") for d in details)


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"), [(503, "UNAVAILABLE"), (500, "INTERNAL"), (504, "DEADLINE_EXCEEDED")]
)
def test_fail_every(client: genai.Client, emu: Emulator, status: int, name: str) -> None:
    emu.configure(fail_every=2, fail_status=status)
    embed(client, [text_content("1")], output_dimensionality=128)
    with pytest.raises(errors.ServerError) as info:
        embed(client, [text_content("2")], output_dimensionality=128)
    assert info.value.code == status and info.value.status == name
    embed(client, [text_content("3")], output_dimensionality=128)
    assert emu.stats["faults_injected"] == 1


def test_drop_every_closes_the_connection(emu: Emulator, client: genai.Client) -> None:
    emu.configure(drop_every=2)
    body = {"requests": [{"content": {"parts": [{"text": "x"}]}}]}
    with httpx.Client(base_url=emu.url, headers={"x-goog-api-key": "k"}) as http:
        assert http.post(GEMINI_BATCH, json=body).status_code == 200
        with pytest.raises(httpx.TransportError):
            http.post(GEMINI_BATCH, json=body)
        assert http.post(GEMINI_BATCH, json=body).status_code == 200
    with pytest.raises(Exception) as info:  # the SDK's transport error, not an APIError
        embed(client, [text_content("y")])
    assert not isinstance(info.value, errors.APIError)
    assert emu.stats["dropped"] == 2


def test_latency(client: genai.Client, emu: Emulator) -> None:
    emu.configure(latency_ms=150, item_latency_ms=10)
    start = time.monotonic()
    embed(client, [text_content(str(i)) for i in range(5)], output_dimensionality=128)
    assert time.monotonic() - start >= 0.2


# -- control surface -------------------------------------------------------------------------


def test_stats_and_config_endpoints(client: genai.Client, emu: Emulator) -> None:
    png = types.Part.from_bytes(data=png_bytes(), mime_type="image/png")
    embed(
        client,
        [types.Content(parts=[types.Part(text="caption"), png]), text_content("x")],
        output_dimensionality=256,
    )
    status, stats = raw(emu, "/emulator/stats", method="GET")
    assert status == 200
    assert stats["requests"] == 1 and stats["items"] == 2
    assert stats["status_codes"] == {"200": 1}
    assert stats["modalities"]["image"] == 1 and stats["modalities"]["text"] == 2
    assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0
    entry = stats["request_log"][0]
    assert entry["parts"] == [["text/plain", "image/png"], ["text/plain"]]
    assert entry["output_dimensionality"] == [256, 256]
    status, cfg = raw(emu, "/emulator/config", {"fail_every": 1, "fail_status": 500})
    assert status == 200 and cfg["fail_every"] == 1
    assert emu.config.fail_every == 1
    assert raw(emu, "/emulator/config", {"no_such_option": 1})[0] == 400
    emu.reset_stats()
    assert emu.stats["requests"] == 0 and emu.stats["request_log"] == []


def test_binds_loopback_and_fixed_port() -> None:
    with Emulator() as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        assert emu._server is not None
        assert emu._server.server_address[0] == "127.0.0.1"
    assert not emu.running


def test_stop_closes_keep_alive_connections() -> None:
    emu = Emulator().start()
    body = {"requests": [{"content": {"parts": [{"text": "x"}]}}]}
    with httpx.Client(base_url=emu.url, headers={"x-goog-api-key": "k"}) as http:
        assert http.post(GEMINI_BATCH, json=body).status_code == 200
        emu.stop()
        with pytest.raises(httpx.TransportError):
            http.post(GEMINI_BATCH, json=body)


def test_throughput_768_dims(client: genai.Client) -> None:
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
    ]
    start = time.monotonic()
    for batch in range(5):
        contents = [
            text_content(" ".join([*words[(i + batch) % 12 :], f"doc{i}"])) for i in range(100)
        ]
        assert len(embed(client, contents, output_dimensionality=768)) == 100
    assert time.monotonic() - start < 5.0  # ~1,000 items/s on 2 cores; generous for CI


def test_python_dash_m_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ge2.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first
        url = first.split()[-1]
        rest = "".join(proc.stdout.readline() for _ in range(3))
        assert "GOOGLE_GEMINI_BASE_URL" in rest
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))
        assert len(embed(client, [text_content("cli")], output_dimensionality=128)[0]) == 128
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
