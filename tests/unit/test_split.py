"""``ge2.split``: windows, provenance, overlap and bounds for every modality (pure, no sockets).

Media are generated here (PyAV, the hand-written streaming PDF writer, Pillow); decoders
(PyAV, pypdf) check what was written.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

import ge2
from ge2 import checks, limits, media, samples, split, tasks
from ge2.split import SplitOptions


def _seconds(piece: ge2.Input) -> float:
    assert isinstance(piece, ge2.Media)
    return media.media_duration(piece.source())


def _contiguous(pieces: list[ge2.Input], a: str, b: str, *, step: float = 0.0) -> None:
    for prev, nxt in itertools.pairwise(pieces):
        assert nxt.provenance[a] == pytest.approx(prev.provenance[b] - step, abs=0.05)


def _numbered(pieces: list[ge2.Input], source: str) -> None:
    assert [p.provenance["piece"] for p in pieces] == list(range(len(pieces)))
    assert {p.provenance["pieces"] for p in pieces} == {len(pieces)}
    assert {p.provenance["source"] for p in pieces} == {source}


# -- text --------------------------------------------------------------------------------


def _words(n: int) -> str:
    vocab = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    lines = []
    for i in range(0, n, 12):
        lines.append(" ".join(vocab[(i + j) % len(vocab)] for j in range(12)) + ".")
        if i % 120 == 0:
            lines.append("")
    return "\n".join(lines)


def test_text_windows_cover_the_text_within_budget_and_overlap() -> None:
    text = _words(30_000)
    windows = split.text_windows(text, 1000, 100)
    assert windows[0][0] == 0 and windows[-1][1] == len(text)
    for (a, b), (c, d) in itertools.pairwise(windows):
        assert a < c < b <= d  # each window overlaps the previous one and moves on
        assert b - c >= 100  # roughly 100 tokens of overlap (>= 100 chars)
    for a, b in windows:
        assert limits.estimate_text_tokens(text[a:b]) <= 1000
        assert b == len(text) or text[b - 1].isspace()  # cut after a space or line end


def test_text_windows_without_overlap_tile_the_text() -> None:
    text = _words(20_000)
    windows = split.text_windows(text, 2000, 0)
    assert "".join(text[a:b] for a, b in windows) == text


def test_text_windows_non_ascii_stay_in_budget() -> None:
    text = "ça va très bien, merci — 東京 " * 5000
    for a, b in split.text_windows(text, 500, 50):
        assert limits.estimate_text_tokens(text[a:b]) <= 500


def test_100k_token_text_pieces_fit_with_the_task_instruction() -> None:
    text = _words(52_000)  # ~100k tokens by ge2's estimate
    assert limits.estimate_text_tokens(text) > 100_000
    item = ge2.Text(text, title="a very long book title " * 3, provenance={"source": "book.txt"})
    pieces = split.split(item)
    assert 13 <= len(pieces) <= 20
    _numbered(pieces, "book.txt")
    for piece in pieces:
        assert isinstance(piece, ge2.Text)
        prov = piece.provenance
        assert piece.text == text[prov["char_start"] : prov["char_end"]]
        assert piece.title == item.title
        for task in ("document", "query", "question_answering"):
            sent = tasks.express(limits.DEFAULT_MODEL, task, piece.text, piece.title).text
            assert limits.estimate_text_tokens(sent) <= limits.MAX_TOKENS_PER_INPUT
    assert pieces[-1].provenance["char_end"] == len(text)


def test_text_piece_offsets_add_to_an_existing_char_range() -> None:
    item = ge2.Text("word " * 30_000, provenance={"char_start": 1000, "source": "x"})
    pieces = split.split(item, SplitOptions(text_overlap_tokens=0))
    assert pieces[0].provenance["char_start"] == 1000


# -- PDF ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "long.pdf"
    return samples.long_pdf(path, 300, page_text=lambda i: f"marker{i + 1} solar page")


def test_pdf_page_windows_with_provenance(pdf300: Path) -> None:
    pieces = split.split(ge2.Pdf(pdf300))
    assert len(pieces) == 50
    _numbered(pieces, str(pdf300))
    assert pieces[0].provenance["page_start"] == 1
    assert pieces[-1].provenance["page_end"] == 300
    _contiguous(pieces, "page_start", "page_end", step=-1)
    for piece in pieces:
        assert isinstance(piece, ge2.Pdf)
        first, last = piece.provenance["page_start"], piece.provenance["page_end"]
        assert media.pdf_page_count(piece.source()) == last - first + 1 <= limits.MAX_PDF_PAGES
        text = media.pdf_text(piece.source())
        assert f"marker{first} " in text and f"marker{last} " in text
        assert f"marker{last + 1} " not in text
        assert not checks.measure(piece).over


def test_pdf_overlap_and_smaller_windows(pdf300: Path) -> None:
    pieces = split.split(ge2.Pdf(pdf300), SplitOptions(pdf_pages=4, pdf_overlap_pages=1))
    ranges = [(p.provenance["page_start"], p.provenance["page_end"]) for p in pieces]
    assert ranges[:3] == [(1, 4), (4, 7), (7, 10)]
    assert ranges[-1][1] == 300
    assert all(b - a + 1 <= 4 for a, b in ranges)


def test_pdf_pieces_of_a_file_are_temp_files_deleted_with_the_piece(pdf300: Path) -> None:
    pieces = split.split(ge2.Pdf(pdf300))
    paths = [p.path for p in pieces if isinstance(p, ge2.Media)]
    assert all(p is not None and p.exists() and p != pdf300 for p in paths)
    del pieces
    gc.collect()
    assert not any(p.exists() for p in paths if p is not None)


def test_pdf_pieces_of_bytes_stay_in_memory_and_offset_pages() -> None:
    data = samples.pdf([f"page {i}" for i in range(1, 15)])
    item = ge2.Pdf(data, provenance={"page_start": 101, "source": "report.pdf"})
    pieces = split.split(item)
    assert [(p.provenance["page_start"], p.provenance["page_end"]) for p in pieces] == [
        (101, 106),
        (107, 112),
        (113, 114),
    ]
    assert all(isinstance(p, ge2.Media) and p.path is None for p in pieces)


def test_pdf_piece_over_the_byte_cap_gets_fewer_pages(tmp_path: Path) -> None:
    path = samples.long_pdf(tmp_path / "img.pdf", 12, image_bytes=40_000)
    pieces = split.split(ge2.Pdf(path), SplitOptions(max_piece_bytes=100_000))
    assert len(pieces) > 2
    for piece in pieces:
        assert isinstance(piece, ge2.Media) and piece.size <= 100_000
    assert pieces[-1].provenance["page_end"] == 12


# -- video -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video600(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "long.mp4"
    samples.video(600, path=path, title="ocean waves at dawn", keyframe_seconds=20)
    return path


def _packets(source: bytes | str) -> list[bytes]:
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else source) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def test_video_time_windows_are_stream_copied_at_keyframes(video600: Path) -> None:
    pieces = split.split(ge2.Video(video600))
    assert len(pieces) == 5
    _numbered(pieces, str(video600))
    _contiguous(pieces, "start_s", "end_s")
    assert pieces[0].provenance["start_s"] == 0 and pieces[-1].provenance["end_s"] == 600
    source_packets = _packets(str(video600))
    for piece in pieces:
        assert isinstance(piece, ge2.Video)
        prov = piece.provenance
        assert prov["start_s"] % 20 == 0  # a keyframe (every 20 s in this file)
        assert _seconds(piece) == pytest.approx(prov["end_s"] - prov["start_s"])
        assert _seconds(piece) <= limits.MAX_VIDEO_SECONDS
        assert media.sniff_mime(piece.head()) == "video/mp4"
        # Re-muxed, not re-encoded: the piece's packets are the source's, byte for byte.
        start = int(prov["start_s"])
        got = _packets(piece.source())
        assert got == source_packets[start : start + len(got)]
        with av.open(piece.source()) as c:
            assert c.metadata.get("title") == "ocean waves at dawn"
        assert not checks.measure(piece).over


def test_video_overlap_and_shorter_windows(video600: Path) -> None:
    opts = SplitOptions(video_seconds=60, media_overlap_seconds=20)
    pieces = split.split(ge2.Video(video600), opts)
    spans = [(p.provenance["start_s"], p.provenance["end_s"]) for p in pieces]
    assert spans[:3] == [(0, 60), (40, 100), (80, 140)]
    assert spans[-1][1] == 600
    assert all(_seconds(p) <= 60 for p in pieces)


def test_mov_stays_mov(tmp_path: Path) -> None:
    path = tmp_path / "clip.mov"
    samples.video(200, fmt="mov", path=path, keyframe_seconds=10)
    pieces = split.split(ge2.Video(path))
    assert len(pieces) == 2
    assert {media.sniff_mime(p.head()) for p in pieces if isinstance(p, ge2.Media)} == {
        "video/quicktime"
    }
    assert [p.provenance["end_s"] for p in pieces] == [120, 200]


def test_sparse_keyframes_fall_back_to_reencoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "one-keyframe.mp4"
    samples.video(300, path=path, keyframe_seconds=1000)  # a single keyframe at 0 s
    with caplog.at_level(logging.INFO, logger="ge2"):
        pieces = split.split(ge2.Video(path))
    assert "re-encoded" in caplog.text
    assert [(p.provenance["start_s"], p.provenance["end_s"]) for p in pieces] == [
        (0, 120),
        (120, 240),
        (240, 300),
    ]
    for piece in pieces:
        assert _seconds(piece) <= limits.MAX_VIDEO_SECONDS
        with av.open(piece.source()) as c:  # decodable, and every frame is there
            frames = sum(1 for _ in c.decode(video=0))
        assert frames == piece.provenance["end_s"] - piece.provenance["start_s"]


def test_video_byte_cap_shortens_windows(tmp_path: Path) -> None:
    path = samples.large_video(tmp_path / "big.mp4", 3_000_000, size=(160, 120), fps=10)
    pieces = split.split(ge2.Video(path), SplitOptions(max_piece_bytes=600_000))
    assert len(pieces) >= 5
    assert all(isinstance(p, ge2.Media) and p.size <= 600_000 for p in pieces)
    _contiguous(pieces, "start_s", "end_s")


# -- audio -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wav_hour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "hour.wav"
    samples.audio(3600, path=path, rate=8000, title="birdsong in a garden")
    return path


def test_hour_of_wav_in_windows_of_the_audio_limit(wav_hour: Path) -> None:
    pieces = split.split(ge2.Audio(wav_hour))
    assert len(pieces) in (20, 21)
    _numbered(pieces, str(wav_hour))
    _contiguous(pieces, "start_s", "end_s")
    assert pieces[-1].provenance["end_s"] == pytest.approx(3600)
    for piece in pieces:
        assert 0 < _seconds(piece) <= limits.MAX_AUDIO_SECONDS
        assert media.sniff_mime(piece.head()) == "audio/wav"
        assert isinstance(piece, ge2.Media) and piece.path is not None  # on disk, not in memory
    with av.open(pieces[3].source()) as c:
        assert c.metadata.get("title") == "birdsong in a garden"


def test_audio_limit_follows_max_audio_seconds_and_overlap(wav_hour: Path) -> None:
    opts = SplitOptions(media_overlap_seconds=10)
    pieces = split.split(ge2.Audio(wav_hour), opts, max_audio_seconds=80)
    assert all(_seconds(p) <= 80 for p in pieces)
    _contiguous(pieces, "start_s", "end_s", step=10)
    assert pieces[-1].provenance["end_s"] == pytest.approx(3600)


def test_mp3_is_stream_copied_into_mp3() -> None:
    data = samples.audio(400, fmt="mp3", rate=8000)
    pieces = split.split(ge2.Audio(data))
    assert [round(p.provenance["end_s"]) for p in pieces] == [180, 360, 400]
    for piece in pieces:
        assert isinstance(piece, ge2.Media) and piece.path is None  # bytes in, bytes out
        assert media.sniff_mime(piece.head()) == "audio/mpeg"
        assert _seconds(piece) <= limits.MAX_AUDIO_SECONDS
    total = sum(p.size for p in pieces if isinstance(p, ge2.Media))
    assert total <= len(data) * 1.01  # copied packets, no re-encoding overhead


def test_input_that_fits_is_one_numbered_piece() -> None:
    pieces = split.split(ge2.Audio(samples.audio(5), name="short.wav"))
    assert len(pieces) == 1
    assert pieces[0].provenance["pieces"] == 1 and pieces[0].provenance["source"] == "short.wav"


# -- mixed, images, refusals -------------------------------------------------------------


def _img(i: int) -> ge2.Image:
    return ge2.Image(samples.png((i * 20 % 255, 90, 30), pattern=i))


def test_image_sets_in_groups_of_six_with_their_caption() -> None:
    item = ge2.Mixed(["a gallery of foxes", *[_img(i) for i in range(13)]])
    pieces = split.split(item)
    assert [(p.provenance["image_start"], p.provenance["image_end"]) for p in pieces] == [
        (1, 6),
        (7, 12),
        (13, 13),
    ]
    for piece in pieces:
        assert isinstance(piece, ge2.Mixed)
        assert isinstance(piece.parts[0], ge2.Text)
        assert piece.parts[0].text == "a gallery of foxes"
        assert not checks.measure(piece).over


def test_mixed_long_text_is_split_around_its_images() -> None:
    text = _words(40_000)
    item = ge2.Mixed([text, _img(1), _img(2)])
    pieces = split.split(item)
    assert len(pieces) >= 2
    for piece in pieces:
        assert isinstance(piece, ge2.Mixed) and len(piece.parts) == 3
        assert not checks.measure(piece).over
        prov = piece.provenance
        assert piece.parts[0].text == text[prov["char_start"] : prov["char_end"]]  # type: ignore[union-attr]


def test_mixed_caption_with_long_video_splits_the_video(video600: Path) -> None:
    caption = "ocean waves " * 200  # ~800 tokens, so windows must be shorter than 120 s
    pieces = split.split(ge2.Mixed([caption, ge2.Video(video600)]))
    assert pieces[-1].provenance["end_s"] == 600
    for piece in pieces:
        assert isinstance(piece, ge2.Mixed)
        assert not checks.measure(piece).over
        assert piece.provenance["end_s"] - piece.provenance["start_s"] <= 110


def test_mixed_that_cannot_be_split_is_rejected_clearly(video600: Path, pdf300: Path) -> None:
    with pytest.raises(ge2.InputError, match="several media parts"):
        split.split(ge2.Mixed([ge2.Video(video600), ge2.Pdf(pdf300)]))
    with pytest.raises(ge2.InputError, match="over the 8192-token budget"):
        split.split(ge2.Mixed([_words(40_000), "second text", *[_img(i) for i in range(8)]]))


def test_remote_and_image_inputs_are_refused() -> None:
    with pytest.raises(ge2.InputError, match="remote file cannot be split"):
        split.split(ge2.Video("gs://bucket/long.mp4", "video/mp4"))
    with pytest.raises(ge2.InputError, match="image cannot be split"):
        split.split(_img(0))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ge2.ConfigurationError, match="pdf_pages"):
        SplitOptions(pdf_pages=7)
    with pytest.raises(ge2.ConfigurationError, match="video_seconds"):
        SplitOptions(video_seconds=121)
    with pytest.raises(ge2.ConfigurationError, match="text_overlap_tokens"):
        SplitOptions(text_tokens=1000, text_overlap_tokens=900)
    with pytest.raises(ge2.ConfigurationError, match="media_overlap_seconds"):
        SplitOptions(media_overlap_seconds=70)


# -- canonical form and corrupt files ----------------------------------------------------


def _encode(fmt: str, codec: str, seconds: float = 3.0) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    rate = 48000
    with av.open(buf, "w", format=fmt) as c:
        c.metadata["title"] = "a blackbird sings"
        stream = c.add_stream(codec, rate=rate)
        stream.layout = "mono"  # type: ignore[union-attr]
        sample_fmt = stream.codec_context.format.name  # type: ignore[union-attr]
        t = np.arange(int(rate * seconds)) / rate
        wave = 0.3 * np.sin(2 * np.pi * 440 * t)
        arr = (wave * 32767).astype(np.int16) if sample_fmt.startswith("s16") else wave
        frame = av.AudioFrame.from_ndarray(
            arr.astype(arr.dtype if sample_fmt.startswith("s16") else np.float32)[None, :],
            format=sample_fmt,
            layout="mono",
        )
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):  # type: ignore[union-attr]
            c.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            c.mux(packet)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "codec", "mime"),
    [("flac", "flac", "audio/flac"), ("ogg", "libopus", "audio/ogg"), ("ipod", "aac", "audio/mp4")],
)
def test_unsupported_audio_becomes_wav(fmt: str, codec: str, mime: str, tmp_path: Path) -> None:
    path = tmp_path / f"song.{fmt}"
    path.write_bytes(_encode(fmt, codec))
    item = ge2.load(path)
    assert item.mime == mime
    with pytest.raises(ge2.InputError, match="unsupported audio type"):
        checks.measure(item)
    wav = split.canonical(item)
    assert isinstance(wav, ge2.Audio) and wav.mime == "audio/wav"
    assert wav.provenance == {"source": str(path), "converted_from": mime}
    assert checks.measure(wav).audio_seconds == pytest.approx(3.0, abs=0.05)
    with av.open(wav.source()) as c:
        assert c.metadata.get("title") == "a blackbird sings"
    mixed = split.canonical(ge2.Mixed(["caption", item]))
    assert isinstance(mixed, ge2.Mixed) and mixed.parts[1].mime == "audio/wav"  # type: ignore[union-attr]


def test_canonical_leaves_accepted_inputs_alone() -> None:
    wav = ge2.Audio(samples.audio(1))
    assert split.canonical(wav) is wav
    mixed = ge2.Mixed(["x", wav])
    assert split.canonical(mixed) is mixed


def _corrupt_files(tmp_path: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    mp4 = samples.video(30)
    files["truncated.mp4"] = mp4[: len(mp4) // 2]  # type: ignore[assignment]
    pdf = samples.pdf([f"page {i}" for i in range(8)])
    files["half.pdf"] = pdf[: len(pdf) // 2]  # type: ignore[assignment]
    png = samples.png()
    files["garbage.png"] = png[:60] + bytes(range(256)) * 4 + png[-12:]  # type: ignore[assignment]
    wav = samples.audio(4)
    files["truncated.wav"] = wav[: len(wav) // 2]  # type: ignore[assignment]
    out: dict[str, Path] = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)  # type: ignore[arg-type]
        out[name] = path
    return out


def test_truncation_is_read_from_the_container_sizes() -> None:
    mp4 = samples.video(10)
    assert media.truncation(mp4) is None
    assert "box needs" in (media.truncation(mp4[:-100]) or "")
    wav = samples.audio(2)
    assert media.truncation(wav) is None
    assert "header declares" in (media.truncation(wav[:-100]) or "")
    assert media.truncation(samples.video(10, fmt="mov")) is None


def test_corrupt_and_truncated_files_fail_before_sending(tmp_path: Path) -> None:
    emb = ge2.Embedder(api_key="k", base_url="http://127.0.0.1:9")
    for name, path in _corrupt_files(tmp_path).items():
        with pytest.raises(ge2.InputError, match=rf"input #0 .*{name}.*(corrupt|truncated|read)"):
            emb._plan([path], "document")
    assert emb.usage.requests == 0


# -- memory ------------------------------------------------------------------------------

_RSS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import ge2
    from ge2 import split

    def status(key):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])

    item = ge2.load(sys.argv[1])
    with open("/proc/self/clear_refs", "w") as fh:  # reset the peak: imports do not count
        fh.write("5")
    before = status("VmRSS")
    pieces = split.split(item)
    print(json.dumps({"before_kb": before, "after_kb": status("VmHWM"), "pieces": len(pieces)}))
    """
)


def _growth_kb(path: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["pieces"] >= 5
    return int(result["after_kb"] - result["before_kb"])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_splitting_a_large_file_keeps_memory_bounded(wav_hour: Path, tmp_path: Path) -> None:
    """Peak memory while splitting does not grow with the file: an hour of WAV (~58 MB)
    costs about what 15 minutes (~14 MB) cost (PyAV's fixed overhead), far below its size."""
    short = tmp_path / "quarter.wav"
    samples.audio(900, path=short, rate=8000)
    hour_kb, short_kb = _growth_kb(wav_hour), _growth_kb(short)
    # Four times the audio must not cost anywhere near four times the memory: the extra
    # peak stays well under half the extra bytes (absolute figures: benchmarks/SPLIT_MEMORY.md).
    extra_bytes_kb = (wav_hour.stat().st_size - short.stat().st_size) // 1024
    assert hour_kb - short_kb < extra_bytes_kb // 2, (hour_kb, short_kb, extra_bytes_kb)
