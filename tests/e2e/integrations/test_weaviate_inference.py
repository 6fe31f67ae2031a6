"""``ge2 weaviate-inference`` over real HTTP, requests shaped as Weaviate's Go clients send them.

Shapes, from the weaviate repository:
- multi2vec-bind: modules/multi2vec-bind/clients/vectorizer.go (``vecRequest`` with
  ``omitempty`` on texts/images/audio/video/imu/thermal/depth; ``vecResponse``;
  ``POST {BIND_INFERENCE_API}/vectorize``), startup.go (``GET /.well-known/ready``, any
  status <= 299), meta.go (``GET /meta``, any JSON object).
- multi2vec-clip: modules/multi2vec-clip/clients/vectorizer.go (``{"texts", "images"}`` to
  ``inferenceUrl + "/vectorize"``, ``Content-Type: application/json``; ``textVectors``,
  ``imageVectors``, ``error``).
- text2vec-transformers: usecases/modulecomponents/clients/transformers/transformers.go
  (``{"text", "dims", "vector", "error", "config": {"pooling_strategy", "task_type":
  "passage" | "query"}}`` to ``/vectors``; status must be 200) and
  modules/text2vec-transformers/clients/batch_test.go (``{"texts": [...]}`` ->
  ``{"vectors", "dims"}``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ge2
from ge2 import samples
from ge2.integrations.weaviate import InferenceServer

pytestmark = pytest.mark.e2e


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def call(
    url: str,
    body: Any = None,
    *,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    """One request the way Go's net/http sends it (json.Marshal body, no auth header)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(
        url, data=data, method=method or ("POST" if data else "GET"), headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            text = res.read()
            return res.status, json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else None


@pytest.fixture
def server(embedder: ge2.Embedder) -> Iterator[InferenceServer]:
    with InferenceServer(embedder, port=0) as srv:
        yield srv


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_bind_vectorize_answers_every_kind_in_order(
    server: InferenceServer, corpus: dict[str, Path], ge2_emulator: Any
) -> None:
    body = {  # vecRequest as json.Marshal writes it: empty slices omitted (omitempty)
        "texts": ["a red fox running through snow", "a lighthouse at sunset"],
        "images": [
            b64(corpus["red-fox.png"].read_bytes()),
            b64(corpus["lighthouse.jpg"].read_bytes()),
        ],
        "audio": [b64(corpus["birdsong.wav"].read_bytes())],
        "video": [b64(corpus["ocean-waves.mp4"].read_bytes())],
    }
    status, out = call(server.url + "/vectorize", body)
    assert status == 200
    assert set(out) == {
        "textVectors",
        "imageVectors",
        "audioVectors",
        "videoVectors",
        "imuVectors",
        "thermalVectors",
        "depthVectors",
    }
    assert [
        len(out[k]) for k in ("textVectors", "imageVectors", "audioVectors", "videoVectors")
    ] == [2, 2, 1, 1]
    assert all(len(v) == 256 for v in out["textVectors"] + out["videoVectors"])
    fox_text, _ = out["textVectors"]
    fox_img, lighthouse_img = out["imageVectors"]
    assert cos(fox_text, fox_img) > cos(fox_text, lighthouse_img)
    parts = ge2_emulator.stats["request_log"][-1]["parts"]
    assert ["image/png"] in parts and ["audio/wav"] in parts and ["video/mp4"] in parts


def test_bind_near_text_query_and_single_media(
    server: InferenceServer, corpus: dict[str, Path]
) -> None:
    # vectorizer/texts.go sends a near_text as texts only; nearImage as images only.
    status, out = call(server.url + "/vectorize", {"texts": ["fox"]})
    assert status == 200 and len(out["textVectors"]) == 1 and out["imageVectors"] == []
    status, out = call(
        server.url + "/vectorize", {"images": [b64(corpus["green-leaf.png"].read_bytes())]}
    )
    assert status == 200 and len(out["imageVectors"]) == 1


def test_pdf_in_an_image_field_is_embedded_as_a_pdf(
    server: InferenceServer, corpus: dict[str, Path], ge2_emulator: Any
) -> None:
    status, out = call(
        server.url + "/vectorize",
        {
            "images": [b64(corpus["solar-report.pdf"].read_bytes())],
            "texts": ["solar panel energy output"],
        },
    )
    assert status == 200
    assert ["application/pdf"] in ge2_emulator.stats["request_log"][-1]["parts"]
    assert cos(out["textVectors"][0], out["imageVectors"][0]) > 0.2


def test_clip_protocol_via_a_per_collection_inference_url(
    embedder: ge2.Embedder, corpus: dict[str, Path]
) -> None:
    """multi2vec-clip's url(path, inferenceURL) is ``inferenceURL + path``: a URL with the
    token prefix (``http://host:port/t/<token>``) works as the collection's inferenceUrl."""
    with InferenceServer(embedder, port=0, token="tok-123") as srv:
        body = {
            "texts": ["a white lighthouse"],
            "images": [b64(corpus["lighthouse.jpg"].read_bytes())],
        }
        status, out = call(
            srv.url + "/t/tok-123/vectorize", body, headers={"Content-Type": "application/json"}
        )
        assert status == 200 and set(out) >= {"textVectors", "imageVectors"}
        assert call(srv.url + "/vectorize", body)[0] == 401
        assert (
            call(srv.url + "/vectorize", body, headers={"Authorization": "Bearer tok-123"})[0]
            == 200
        )
        # Readiness stays open so Weaviate's startup probe works without the token.
        assert call(srv.url + "/.well-known/ready")[0] == 204
        assert call(srv.url + "/meta")[0] == 401
        assert call(srv.url + "/t/tok-123/meta")[0] == 200


def test_transformers_vectors_single_and_batch_with_task(
    server: InferenceServer, ge2_emulator: Any
) -> None:
    cfg = {"pooling_strategy": "masked_mean", "task_type": "passage"}
    status, out = call(
        server.url + "/vectors",
        {
            "text": "sourdough bread recipe",
            "dims": 0,
            "vector": None,
            "error": "",
            "config": cfg,
        },
    )
    assert status == 200
    assert out["text"] == "sourdough bread recipe" and out["dims"] == 256
    assert len(out["vector"]) == 256
    assert ge2_emulator.stats["request_log"][-1]["texts"] == [
        ["title: none | text: sourdough bread recipe"]
    ]
    status, out = call(
        server.url + "/vectors", {"texts": ["bread", "volcano"], "config": {"task_type": "query"}}
    )
    assert status == 200 and len(out["vectors"]) == 2 and out["dims"] == 256
    assert ge2_emulator.stats["request_log"][-1]["texts"] == [
        ["task: search result | query: bread"],
        ["task: search result | query: volcano"],
    ]


def test_ready_live_meta(server: InferenceServer) -> None:
    assert call(server.url + "/.well-known/ready")[0] == 204
    assert call(server.url + "/.well-known/live")[0] == 204
    status, meta = call(server.url + "/meta")
    assert status == 200 and meta["model"]["dimensions"] == 256


def test_bad_requests_get_clear_4xx(embedder: ge2.Embedder) -> None:
    with InferenceServer(embedder, port=0, max_body_bytes=2048) as srv:
        status, out = call(srv.url + "/vectorize", {"texts": ["x" * 4000]})
        assert status == 413 and "over the limit" in out["error"]
        status, out = call(srv.url + "/vectorize", raw=b"{not json")
        assert status == 400 and "JSON" in out["error"]
        status, out = call(
            srv.url + "/vectorize", {"video": [b64(b"\x00garbage bytes, no container" * 3)]}
        )
        assert status == 422 and out["error"].startswith("video[0]")
        status, out = call(srv.url + "/vectorize", {"thermal": ["AAAA"]})
        assert status == 422
        assert call(srv.url + "/nope", {"texts": []})[0] == 404


def test_long_text_is_split_and_pooled(server: InferenceServer, ge2_emulator: Any) -> None:
    long = " ".join(f"word{i}" for i in range(9000))  # over 8,192 tokens
    status, out = call(server.url + "/vectorize", {"texts": [long]})
    assert status == 200 and len(out["textVectors"]) == 1
    assert ge2_emulator.stats["request_log"][-1]["contents"] > 1


def test_cache_makes_a_repeat_free(ge2_emulator: Any, tmp_path: Path) -> None:
    emb = ge2.Embedder(
        base_url=ge2_emulator.url, api_key="k", dimensions=256, cache=tmp_path / "c.sqlite"
    )
    with InferenceServer(emb, port=0) as srv:
        body = {"texts": ["volcano ash"], "images": [b64(samples.png(description="ash"))]}
        first = call(srv.url + "/vectorize", body)[1]
        before = ge2_emulator.stats["requests"]
        again = call(srv.url + "/vectorize", body)[1]
        assert ge2_emulator.stats["requests"] == before
        assert again == first
    emb.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_python_dash_m_runs_the_server_with_the_emulator() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ge2.integrations.weaviate.inference",
            "--emulator",
            "--port",
            str(port),
            "--dimensions",
            "128",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if call(url + "/.well-known/ready")[0] == 204:
                    break
            except OSError:
                time.sleep(0.1)
        status, out = call(url + "/vectorize", {"texts": ["hello"]})
        assert status == 200 and len(out["textVectors"][0]) == 128
    finally:
        proc.terminate()
        proc.wait(timeout=10)
