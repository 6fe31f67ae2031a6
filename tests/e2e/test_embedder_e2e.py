"""The core embedder end to end: real google-genai SDK -> real HTTP -> the emulator."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2 import samples
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e


def _on(emu: Emulator, *args: object, **options: object) -> ge2.Embedder:
    """An Embedder on the real SDK pointed at ``emu`` (any key is accepted there)."""
    return ge2.Embedder(*args, base_url=emu.url, api_key="k", **options)  # type: ignore[arg-type]


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_every_modality_one_vector_each_in_order(
    embedder: ge2.Embedder, corpus: dict[str, Path], ge2_emulator: Emulator
) -> None:
    items: list[object] = [
        "a red fox in the snow",
        corpus["red-fox.png"],
        ge2.Image(corpus["lighthouse.jpg"]),
        ge2.Image(samples.webp()),  # converted to PNG for the Gemini API
        ge2.Audio(corpus["birdsong.wav"]),
        ge2.Audio(samples.audio(1.0, fmt="mp3")),
        ge2.Video(corpus["ocean-waves.mp4"]),
        ge2.Video(samples.video(2.0, fmt="mov")),
        ge2.Pdf(corpus["solar-report.pdf"]),
        ge2.Mixed(["caption of a fox", ge2.Image(corpus["red-fox.png"])]),
        corpus["volcano-notes.txt"],
    ]
    vecs = embedder.embed(items)
    assert len(vecs) == len(items)
    arr = np.asarray(vecs)
    assert arr.shape == (len(items), 256)
    assert np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(v, 5)) for v in arr}) == len(items)  # all distinct
    log = ge2_emulator.stats["request_log"]
    sent = [mimes for entry in log for mimes in entry["parts"]]
    assert ["image/png"] in sent and ["video/quicktime"] in sent
    assert ["text/plain", "image/png"] in sent  # the Mixed input is ONE content
    assert sum(entry["contents"] for entry in log) == len(items)
    # each vector is the one for its own input: re-embedding one input alone agrees
    again = embedder.embed([items[4]])[0]
    assert _cos(again, vecs[4]) > 0.9999


def test_n_texts_give_n_distinct_vectors(embedder: ge2.Embedder) -> None:
    """python-genai issue 2523: a plain list of strings would become ONE content."""
    vecs = embedder.embed(["alpha", "beta", "gamma"], task="raw")
    assert len(vecs) == 3
    assert _cos(vecs[0], vecs[1]) < 0.9


def test_order_survives_concurrency_and_batching(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(latency_ms=5)
    emb = ge2.Embedder(
        base_url=ge2_emulator.url, api_key="k", dimensions=128, batch_size=7, max_concurrency=4
    )
    texts = [f"item number {i} word{i}" for i in range(60)]
    many = emb.embed(texts)
    singles = [emb.embed_one(t) for t in texts[:5]] + [emb.embed_one(texts[-1])]
    for i, s in zip([0, 1, 2, 3, 4, 59], singles, strict=True):
        assert _cos(many[i], s) > 0.9999
    assert emb.usage.requests == 9 + 6


def test_query_finds_document_through_the_task_instructions(
    embedder: ge2.Embedder, ge2_emulator: Emulator
) -> None:
    docs = embedder.embed(["the red fox jumps", "quarterly tax report"], task="document")
    q = embedder.embed_one("red fox", task="query")
    assert _cos(q, docs[0]) > _cos(q, docs[1])
    texts = [t for e in ge2_emulator.stats["request_log"] for ts in e["texts"] for t in ts]
    assert "title: none | text: the red fox jumps" in texts
    assert "task: search result | query: red fox" in texts
    assert all(tt is None for e in ge2_emulator.stats["request_log"] for tt in e["task_types"])


def test_matryoshka_sizes_from_one_call(embedder: ge2.Embedder, ge2_emulator: Emulator) -> None:
    out = embedder.embed(["sizes of one input"], dimensions=[128, 768, 3072])
    assert ge2_emulator.stats["requests"] == 1
    assert ge2_emulator.stats["request_log"][0]["output_dimensionality"] == [3072]
    full = np.asarray(out[3072][0])
    for d in (128, 768):
        small = np.asarray(out[d][0])
        assert small.shape == (d,)
        assert np.isclose(np.linalg.norm(small), 1.0, atol=1e-6)
        assert np.allclose(small, full[:d] / np.linalg.norm(full[:d]), atol=1e-5)
    # and the API's own smaller size agrees with the prefix
    direct = embedder.embed(["sizes of one input"], dimensions=768)[0]
    assert _cos(direct, out[768][0]) > 0.9999


def test_cache_second_run_makes_zero_calls(ge2_emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    items = ["one", "two", ge2.Image(samples.png())]
    first = _on(ge2_emulator, cache=path, dimensions=768)
    v1 = first.embed(items)
    assert ge2_emulator.stats["requests"] == 1
    second = _on(ge2_emulator, cache=path, dimensions=256)
    v2 = second.embed(items)  # smaller size: served from the cached 768
    assert ge2_emulator.stats["requests"] == 1
    assert second.usage.cache_hits == 3 and second.usage.requests == 0
    assert _cos(v2[0], np.asarray(v1[0])[:256] / np.linalg.norm(v1[0][:256])) > 0.9999
    second.embed(items, dimensions=3072)  # larger: fetched again
    assert ge2_emulator.stats["requests"] == 2


def test_429_waits_retry_delay_then_succeeds(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(rate_limit=4, rate_window_s=1.0, rate_limit_unit="item")
    emb = _on(
        ge2_emulator,
        dimensions=128,
        batch_size=4,
        max_concurrency=1,
        retry_base_delay=0.01,
    )
    start = time.monotonic()
    vecs = emb.embed([f"t{i}" for i in range(12)])
    assert len(vecs) == 12
    assert emb.usage.rate_limited >= 1 and emb.usage.retries >= 1
    assert time.monotonic() - start >= 1.5  # honoured the server's retryDelay


def test_pacing_to_a_quota_avoids_429s(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(rate_limit=20, rate_window_s=1.0, rate_limit_unit="item")
    emb = _on(
        ge2_emulator,
        dimensions=128,
        batch_size=5,
        quota=ge2.Quota(requests_per_minute=60 * 18),
    )
    emb.embed([f"t{i}" for i in range(40)])
    assert ge2_emulator.stats["rate_limited"] == 0


def test_daily_quota_fails_fast_and_keeps_what_was_embedded(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(daily_limit=3, rate_limit_unit="item")
    emb = ge2.Embedder(
        base_url=ge2_emulator.url, api_key="k", dimensions=128, batch_size=3, max_concurrency=1
    )
    with pytest.raises(ge2.EmbeddingError) as info:
        emb.embed(["a", "b", "c", "d", "e", "f"])
    err = info.value
    assert err.vectors[:3] != [None, None, None] and all(v is not None for v in err.vectors[:3])
    assert err.vectors[3:] == [None, None, None]
    assert all(isinstance(f.error, ge2.QuotaExhausted) for f in err.failures)
    assert "daily quota" in str(err.failures[0].error)
    assert emb.usage.retries == 0  # a per-day quota is not retried


def test_5xx_and_dropped_connections_are_retried(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(fail_every=2, fail_status=503)
    emb = _on(
        ge2_emulator,
        dimensions=128,
        batch_size=2,
        max_concurrency=1,
        retry_base_delay=0.01,
    )
    assert len(emb.embed([f"x{i}" for i in range(6)])) == 6
    assert emb.usage.retries >= 2
    ge2_emulator.configure(fail_every=None, drop_every=2)
    emb.reset_usage()
    assert len(emb.embed([f"y{i}" for i in range(6)])) == 6
    assert emb.usage.retries >= 1 and ge2_emulator.stats["dropped"] >= 1


def test_persistent_5xx_gives_up_with_partial_results(ge2_emulator: Emulator) -> None:
    emb = _on(
        ge2_emulator,
        dimensions=128,
        batch_size=2,
        max_concurrency=1,
        max_retries=1,
        retry_base_delay=0.01,
    )
    emb.embed(["p0", "p1"])
    ge2_emulator.configure(fail_every=1, fail_status=500)
    with pytest.raises(ge2.EmbeddingError) as info:
        emb.embed(["p0", "p1", "new"])
    assert isinstance(info.value.failures[0].error, ge2.ServiceUnavailable)


def test_rejected_item_is_isolated_and_named(ge2_emulator: Emulator) -> None:
    emb = _on(ge2_emulator, dimensions=128)
    # A remote URI the emulator cannot accept (unsupported type on the Gemini API): only
    # the API can reject it, so it reaches the server and the batch is re-sent item by item.
    bad = ge2.Image("gs://bucket/photo.png", mime="image/png")
    ge2_emulator.configure(max_request_bytes=10**9)
    items: list[object] = ["good one", bad, "good two"]
    try:
        vecs = emb.embed(items)
    except ge2.EmbeddingError as err:
        assert [f.index for f in err.failures] == [1]
        assert "photo.png" in str(err)
        assert err.vectors[0] is not None and err.vectors[2] is not None
        assert isinstance(err.failures[0].error, ge2.RequestRejected)
    else:  # the emulator accepted gs:// URIs: all three embedded
        assert len(vecs) == 3


def test_input_errors_send_nothing(
    embedder: ge2.Embedder, ge2_emulator: Emulator, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(samples.pdf(["x"])[:50])
    with pytest.raises(ge2.InputError, match=r"input #1.*broken.pdf"):
        embedder.embed(["ok", ge2.Pdf(broken)])
    assert ge2_emulator.stats["requests"] == 0


def test_wrong_api_key_is_a_clear_rejection(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(api_keys={"right"})
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="wrong", dimensions=128)
    with pytest.raises(ge2.EmbeddingError) as info:
        emb.embed(["a"])
    assert "API key not valid" in str(info.value)


async def test_async_twin_matches_sync(embedder: ge2.Embedder) -> None:
    items = ["async one", ge2.Image(samples.png()), "async three"]
    a = await embedder.aembed(items)
    s = embedder.embed(items)
    for x, y in zip(a, s, strict=True):
        assert _cos(x, y) > 0.9999
    one = await embedder.aembed_one("async one")
    assert _cos(one, s[0]) > 0.9999
    sizes = await embedder.aembed(["z"], dimensions=[128, 256])
    assert set(sizes) == {128, 256}


async def test_async_retries_and_concurrency(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(fail_every=3, latency_ms=5)
    emb = _on(
        ge2_emulator,
        dimensions=128,
        batch_size=3,
        max_concurrency=3,
        retry_base_delay=0.01,
    )
    texts = [f"a{i}" for i in range(30)]
    got = await asyncio.gather(emb.aembed(texts[:15]), emb.aembed(texts[15:]))
    assert len(got[0]) == 15 and len(got[1]) == 15
    assert emb.usage.retries >= 1


def test_sdk_environment_is_honoured(
    ge2_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    assert len(ge2.Embedder(dimensions=128).embed(["env"])) == 1
    assert ge2_emulator.stats["requests"] == 1


def test_a_users_client_is_reused(ge2_emulator: Emulator) -> None:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=ge2_emulator.url))
    emb = ge2.Embedder(client=client, dimensions=128)
    assert emb.client is client
    assert len(emb.embed(["reuse"])) == 1


def test_vertex_ai_route(ge2_emulator: Emulator) -> None:
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=ge2_emulator.url),
    )
    emb = ge2.Embedder(client=client, dimensions=128)
    assert emb.vertexai
    vecs = emb.embed(["vertex one", "vertex two", ge2.Image(samples.webp())])
    assert len(vecs) == 3
    paths = {e["path"] for e in ge2_emulator.stats["request_log"]}
    assert any("/projects/p/locations/us-central1/" in p for p in paths)
    # WebP is sent as WebP on Vertex (no conversion needed there)
    mimes = [m for e in ge2_emulator.stats["request_log"] for ms in e["parts"] for m in ms]
    assert "image/webp" in mimes


def test_gemini_embedding_001_gets_task_type(ge2_emulator: Emulator) -> None:
    emb = _on(ge2_emulator, "gemini-embedding-001", dimensions=128)
    emb.embed(["plain"], task="query")
    entry = ge2_emulator.stats["request_log"][-1]
    assert entry["task_types"] == ["RETRIEVAL_QUERY"] and entry["texts"] == [["plain"]]


def test_failures_keep_the_pieces_of_split_inputs(ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(max_audio_seconds=1.0)  # the API rejects the clip, nothing else
    emb = _on(ge2_emulator, dimensions=128)
    long_text = "piece words " * 6000
    with pytest.raises(ge2.EmbeddingError) as info:
        emb.embed([long_text, ge2.Audio(samples.audio(2.0))])
    err = info.value
    assert err.vectors[1] is None and err.pieces[1] is None
    kept = err.pieces[0]
    assert kept is not None and len(kept) >= 2
    assert all("char_start" in p.provenance for p in kept)
