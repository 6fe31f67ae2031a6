"""Over-limit media through ``ge2.Embedder`` -> real google-genai SDK -> HTTP -> emulator.

"Done" for the splitting work: a 10-minute video, an hour of audio, a 300-page PDF and a
100k-token text each embed end to end with correct piece metadata, every piece within the
limits in ``ge2.limits`` and accepted by the emulator (which enforces the same limits).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ge2
from ge2 import limits, media, samples

pytestmark = pytest.mark.e2e


def _accepted(emu: Any, pieces: int, modality: str) -> None:
    """Every request answered 200, nothing truncated, one embedded item per piece."""
    stats = emu.stats
    assert stats["status_codes"] == {200: stats["requests"]}
    assert stats["items"] == pieces
    assert stats["truncated_inputs"] == 0
    assert stats["modalities"].get(modality, 0) == pieces
    assert stats["tokens"] <= pieces * limits.MAX_TOKENS_PER_INPUT


def _unit(v: list[float]) -> None:
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-5)


def _pooled_matches(pooled: list[float], pieces: list[ge2.Piece]) -> None:
    mean = np.mean([p.vector for p in pieces], axis=0)
    np.testing.assert_allclose(pooled, mean / np.linalg.norm(mean), atol=1e-5)


def _spans(pieces: list[ge2.Piece], a: str, b: str) -> list[tuple[Any, Any]]:
    return [(p.provenance[a], p.provenance[b]) for p in pieces]


def test_ten_minute_video(embedder: ge2.Embedder, ge2_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "waves.mp4"
    samples.video(600, path=path, title="ocean waves breaking on a beach", keyframe_seconds=10)
    [pieces] = embedder.embed_pieces([ge2.Video(path)])
    assert _spans(pieces, "start_s", "end_s") == [(i * 120.0, (i + 1) * 120.0) for i in range(5)]
    for i, piece in enumerate(pieces):
        assert piece.provenance["source"] == str(path)
        assert (piece.provenance["piece"], piece.provenance["pieces"]) == (i, 5)
        assert piece.index == 0
        assert media.media_duration(piece.input.source()) <= limits.MAX_VIDEO_SECONDS  # type: ignore[union-attr]
        _unit(piece.vector)
    _accepted(ge2_emulator, 5, "video")
    mimes = {m for e in ge2_emulator.stats["request_log"] for ms in e["parts"] for m in ms}
    assert mimes == {"video/mp4"}
    pooled = embedder.embed_one(ge2.Video(path))
    _unit(pooled)
    _pooled_matches(pooled, pieces)


def test_hour_of_audio(embedder: ge2.Embedder, ge2_emulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "birds.wav"
    samples.audio(3600, path=path, rate=8000, title="birdsong at dawn")
    [pieces] = embedder.embed_pieces([path])
    spans = _spans(pieces, "start_s", "end_s")
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(3600)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end - 0.2 <= start <= end  # no gaps
    assert all(b - a <= limits.MAX_AUDIO_SECONDS for a, b in spans)
    assert [p.provenance["piece"] for p in pieces] == list(range(len(pieces)))
    _accepted(ge2_emulator, len(pieces), "audio")
    assert embedder.usage.items == len(pieces)


def test_audio_cap_of_80_seconds(ge2_emulator: Any, tmp_path: Path) -> None:
    """The cookbook's 80 s cap: the emulator enforces it, the embedder splits to it."""
    ge2_emulator.configure(max_audio_seconds=80)
    path = tmp_path / "talk.mp3"
    samples.audio(200, fmt="mp3", rate=8000, path=path, title="a talk about bees")
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="k", dimensions=256, max_audio_seconds=80)
    [pieces] = emb.embed_pieces([path])
    assert len(pieces) == 3
    assert all(b - a <= 80 for a, b in _spans(pieces, "start_s", "end_s"))
    _accepted(ge2_emulator, 3, "audio")


def test_three_hundred_page_pdf(embedder: ge2.Embedder, ge2_emulator: Any, tmp_path: Path) -> None:
    path = samples.long_pdf(
        tmp_path / "report.pdf",
        300,
        page_text=lambda i: ("volcano lava ash " if i == 123 else "solar energy ") + f"p{i + 1}",
    )
    [pieces] = embedder.embed_pieces([path])
    assert _spans(pieces, "page_start", "page_end") == [(i + 1, i + 6) for i in range(0, 300, 6)]
    _accepted(ge2_emulator, 50, "pdf")
    # The emulator embeds a PDF by its text layer: the piece holding page 124 is the one
    # nearest a query about the volcano.
    query = embedder.embed_one("volcano lava ash", task="query")
    best = max(pieces, key=lambda p: float(np.dot(p.vector, query)))
    assert best.provenance["page_start"] <= 124 <= best.provenance["page_end"]


def test_hundred_thousand_token_text(embedder: ge2.Embedder, ge2_emulator: Any) -> None:
    words = ["river", "stone", "maple", "harbor", "lantern", "meadow", "copper", "thistle"]
    text = " ".join(words[i % 8] + (f" {i}." if i % 15 == 14 else "") for i in range(48_000))
    assert limits.estimate_text_tokens(text) > 100_000
    book = ge2.Text(text, title="a long book")
    [pieces] = embedder.embed_pieces([book])
    assert len(pieces) >= 13
    for piece in pieces:
        prov = piece.provenance
        assert piece.input.text == text[prov["char_start"] : prov["char_end"]]  # type: ignore[union-attr]
    assert pieces[0].provenance["char_start"] == 0
    assert pieces[-1].provenance["char_end"] == len(text)
    _accepted(ge2_emulator, len(pieces), "text")  # no piece truncated, instruction included
    pooled = embedder.embed([book])[0]
    _pooled_matches(pooled, pieces)


def test_image_set_in_groups_of_six(embedder: ge2.Embedder, ge2_emulator: Any) -> None:
    images = [ge2.Image(samples.png((i * 18, 80, 40), pattern=i)) for i in range(14)]
    [pieces] = embedder.embed_pieces([ge2.Mixed(["a photo album of foxes", *images])])
    assert _spans(pieces, "image_start", "image_end") == [(1, 6), (7, 12), (13, 14)]
    log = ge2_emulator.stats["request_log"]
    sent = [mimes for e in log for mimes in e["parts"]]
    assert sorted(len(m) for m in sent) == [3, 7, 7]  # caption + images per content
    assert ge2_emulator.stats["status_codes"] == {200: ge2_emulator.stats["requests"]}


def test_caption_with_long_video(embedder: ge2.Embedder, ge2_emulator: Any) -> None:
    video = ge2.Video(samples.video(300, keyframe_seconds=10))
    [pieces] = embedder.embed_pieces([ge2.Mixed(["surf on the beach " * 100, video])])
    assert pieces[-1].provenance["end_s"] == 300
    assert all(isinstance(p.input, ge2.Mixed) for p in pieces)
    assert ge2_emulator.stats["truncated_inputs"] == 0
    assert ge2_emulator.stats["status_codes"] == {200: ge2_emulator.stats["requests"]}


def test_flac_is_embedded_as_wav(embedder: ge2.Embedder, ge2_emulator: Any, tmp_path: Path) -> None:
    import av

    path = tmp_path / "song.flac"
    with av.open(str(path), "w", format="flac") as c:
        stream: Any = c.add_stream("flac", rate=16000)
        stream.layout = "mono"
        t = np.arange(16000 * 2) / 16000
        arr = (0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(arr, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    [pieces] = embedder.embed_pieces([path])
    assert pieces[0].provenance["converted_from"] == "audio/flac"
    assert ge2_emulator.stats["request_log"][0]["parts"] == [["audio/wav"]]


@pytest.mark.parametrize("name", ["truncated.mp4", "half.pdf", "garbage.png", "truncated.wav"])
def test_corrupt_file_fails_before_any_request(
    name: str, embedder: ge2.Embedder, ge2_emulator: Any, tmp_path: Path
) -> None:
    data = {
        "truncated.mp4": lambda: samples.video(20)[:-2000],
        "half.pdf": lambda: (lambda b: b[: len(b) // 2])(samples.pdf(["a", "b", "c"])),
        "garbage.png": lambda: (lambda b: b[:60] + bytes(range(256)) * 4 + b[-12:])(samples.png()),
        "truncated.wav": lambda: samples.audio(3)[:-5000],
    }[name]()
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ge2.InputError, match=rf"input #1 .*{name}"):
        embedder.embed(["fine text", path])
    assert ge2_emulator.stats["requests"] == 0
    assert embedder.usage.requests == 0
