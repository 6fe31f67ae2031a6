"""Inputs are typed by content and checked against the limits before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

import ge2
from ge2 import checks, limits, samples


def test_str_is_text_and_paths_are_loaded(tmp_path: Path) -> None:
    p = tmp_path / "note.md"
    p.write_text("# hello", encoding="utf-8")
    assert ge2.as_input("cat.png") == ge2.Text("cat.png")  # a str is never a path
    loaded = ge2.as_input(p)
    assert isinstance(loaded, ge2.Text) and loaded.text == "# hello"


@pytest.mark.parametrize(
    ("name", "data", "cls", "mime"),
    [
        ("a.png", samples.png(), ge2.Image, "image/png"),
        ("a.jpg", samples.jpeg(), ge2.Image, "image/jpeg"),
        ("a.webp", samples.webp(), ge2.Image, "image/webp"),
        ("a.wav", samples.audio(0.5), ge2.Audio, "audio/wav"),
        ("a.mp3", samples.audio(0.5, fmt="mp3"), ge2.Audio, "audio/mpeg"),
        ("a.mp4", samples.video(2), ge2.Video, "video/mp4"),
        ("a.mov", samples.video(2, fmt="mov"), ge2.Video, "video/quicktime"),
        ("a.pdf", samples.pdf(["one"]), ge2.Pdf, "application/pdf"),
    ],
)
def test_load_sniffs_content(tmp_path: Path, name: str, data: bytes, cls: type, mime: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    item = ge2.load(p)
    assert type(item) is cls and item.mime == mime
    # bytes without a name are typed the same way
    assert type(ge2.load(data)) is cls


def test_unknown_binary_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ge2.InputError, match=r"unknown file type"):
        ge2.load(p)


def test_measure_counts_tokens_and_media() -> None:
    m = checks.measure(
        ge2.Mixed(["caption", ge2.Image(samples.png()), ge2.Pdf(samples.pdf(["a", "b"]))])
    )
    assert m.images == 1 and m.pdf_pages == 2
    assert m.tokens == limits.estimate_text_tokens("caption") + 258 + 2 * 258
    assert not m.over


def test_over_limits_are_reported_for_splitting() -> None:
    m = checks.measure(ge2.Mixed([ge2.Image(samples.png(pattern=i)) for i in range(7)]))
    assert m.over == ["7 images > 6 per input"]
    m = checks.measure(ge2.Pdf(samples.pdf([str(i) for i in range(7)])))
    assert any("7 PDF pages > 6" in o for o in m.over)
    m = checks.measure(ge2.Text("word " * 20000))
    assert any("tokens" in o and "truncate" in o for o in m.over)


def test_errors_name_item_limit_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "photo.png"
    bad.write_bytes(samples.audio(0.3, fmt="mp3"))
    with pytest.raises(ge2.InputError) as info:
        checks.measure(ge2.Image(bad), 3)
    msg = str(info.value)
    assert "input #3" in msg and "photo.png" in msg and "audio/mpeg" in msg and "Fix:" in msg

    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(samples.png()[:40])
    with pytest.raises(ge2.InputError, match=r"broken.png"):
        checks.measure(ge2.Image(corrupt), 0)

    with pytest.raises(ge2.InputError, match=r"empty text"):
        checks.measure(ge2.Text("   "), 1)
    with pytest.raises(ge2.InputError, match=r"no such file"):
        ge2.load(tmp_path / "missing.png")


def test_extension_and_content_must_agree(tmp_path: Path) -> None:
    p = tmp_path / "clip.mp4"
    p.write_bytes(samples.png())
    with pytest.raises(
        ge2.InputError, match=r"extension says video/mp4 but the content is image/png"
    ):
        checks.measure(ge2.Image(p), 0)


def test_unsupported_types_say_how_to_convert() -> None:
    gif = _gif()
    m = checks.measure(ge2.Image(gif))  # convertible: accepted, sent as PNG
    assert m.images == 1
    with pytest.raises(ge2.InputError, match=r"convert it to PNG or JPEG"):
        checks.measure(ge2.Image("gs://bucket/x.gif", mime="image/gif"))


def _gif() -> bytes:
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="GIF")
    return buf.getvalue()


def test_media_equality_is_by_content(tmp_path: Path) -> None:
    data = samples.png()
    p = tmp_path / "x.png"
    p.write_bytes(data)
    assert ge2.Image(p) == ge2.Image(data)
    assert ge2.Image(p).sha256() == ge2.Image(data).sha256()
