"""Bad input of every kind is refused before anything is sent, with a clear error.

Each case was a crash, a wrong result or a raw exception from deep inside before: a bare
str embedded one character at a time, ``None`` as a raw TypeError, a lone surrogate as a
UnicodeEncodeError, ``dimensions="768"`` as a puzzle, and a few-hundred-KB PNG of
20000x20000 pixels as Pillow's DecompressionBombError (or a gigabyte of memory).
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageFile

import ge2
from ge2 import limits, media, samples, split


@pytest.fixture
def emb() -> ge2.Embedder:
    return ge2.Embedder(api_key="unit-test", dimensions=256)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """Sizes of every image Pillow decodes during the test."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    yield sizes


# -- API input types ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", b"abc", bytearray(b"abc")])
def test_a_bare_str_or_bytes_is_not_embedded_item_by_item(emb: ge2.Embedder, value: Any) -> None:
    for call in (emb.embed, emb.embed_pieces, emb.check):
        with pytest.raises(TypeError, match=r"not a single .*embed_one\(x\)"):
            call(value)
    for acall in (emb.aembed, emb.aembed_pieces):
        with pytest.raises(TypeError, match=r"not a single .*aembed_one\(x\)"):
            asyncio.run(acall(value))
    assert emb.usage.requests == 0


@pytest.mark.parametrize("value", [None, 42, ge2.Text("a"), Path("x.png"), 3.5])
def test_a_non_list_says_what_to_pass(emb: ge2.Embedder, value: Any) -> None:
    with pytest.raises(TypeError, match=r"takes a list of inputs .* not .*embed_one"):
        emb.embed(value)
    with pytest.raises(TypeError, match=r"takes a list of inputs"):
        emb.check(value)


def test_wrong_item_types_name_the_item_and_the_fix(emb: ge2.Embedder) -> None:
    with pytest.raises(ge2.InputError, match=r"input #1: cannot embed a NoneType.*Fix: drop"):
        emb.embed(["fine", None])
    with pytest.raises(ge2.InputError, match=r"input #0: cannot embed a list.*ge2.Mixed"):
        emb.embed([["nested", "list"]])
    with pytest.raises(ge2.InputError, match=r"input #0: cannot embed a int"):
        emb.embed([7])
    assert [type(e) for e in emb.check(["ok", None, {"a": 1}])] == [
        type(None),
        ge2.InputError,
        ge2.InputError,
    ]
    with pytest.raises(TypeError, match=r"Mixed takes a list of parts"):
        ge2.Mixed("abc")  # type: ignore[arg-type]
    with pytest.raises(ge2.InputError, match=r"mime must be a str"):
        ge2.Image(b"data", 5)  # type: ignore[arg-type]
    with pytest.raises(ge2.InputError, match=r"NUL"):
        ge2.Image("a\x00b.png")
    with pytest.raises(TypeError, match=r"ge2.load takes a path"):
        ge2.load(42)  # type: ignore[arg-type]
    with pytest.raises(ge2.InputError, match=r"text must be a str, not bytes"):
        ge2.Text(b"abc")  # type: ignore[arg-type]


def test_lone_surrogates_are_input_errors(emb: ge2.Embedder) -> None:
    with pytest.raises(
        ge2.InputError, match=r"input #1.*lone surrogate \(U\+D800\) at character 4"
    ):
        emb.embed(["fine", "bad \ud800 text"])
    errors = emb.check(["ok", "\udcff", ["x\udc80"]])
    assert errors[0] is None
    assert isinstance(errors[1], ge2.InputError) and errors[1].index == 1
    assert isinstance(errors[2], ge2.InputError)
    with pytest.raises(ge2.InputError, match=r"text 'x\\\\udc80': text holds a lone surrogate"):
        ge2.Mixed(["caption", "x\udc80"])
    with pytest.raises(ge2.InputError, match=r"title holds a lone surrogate"):
        ge2.Text("body", title="t\ud83d")
    assert emb.usage.requests == 0


@pytest.mark.parametrize("bad", ["768", "768 ", True, 768.0, None, [768, "256"], [], "abc"])
def test_dimensions_of_the_wrong_type_name_the_allowed_values(bad: Any) -> None:
    if bad is None:
        with pytest.raises(ge2.ConfigurationError, match=r"NoneType.*128..3072"):
            ge2.Embedder(api_key="k", dimensions=bad)
        return
    with pytest.raises(ge2.ConfigurationError, match=r"128..3072|asks for no vectors"):
        ge2.Embedder(api_key="k", dimensions=bad)
    emb = ge2.Embedder(api_key="k", dimensions=256)
    with pytest.raises(ge2.ConfigurationError, match=r"128..3072|asks for no vectors"):
        emb.embed(["a"], dimensions=bad)


def test_dimensions_as_str_suggests_the_int() -> None:
    with pytest.raises(ge2.ConfigurationError) as info:
        ge2.Embedder(api_key="k", dimensions="768")  # type: ignore[arg-type]
    assert "is a str" in str(info.value) and "write dimensions=768" in str(info.value)
    assert "recommended: 3072, 1536, 768" in str(info.value)


# -- pixel limit -------------------------------------------------------------------------


@pytest.mark.parametrize("side", [20000, 12000])
def test_huge_pixel_images_are_refused_from_the_header(
    emb: ge2.Embedder, tmp_path: Path, side: int, decoded: list[tuple[int, int]]
) -> None:
    data = samples.huge_png(side, side)
    assert len(data) < 400_000  # tiny on disk, gigabytes once decoded
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape
        for item in (ge2.Image(data), ge2.Image(path), ge2.load(path), path):
            with pytest.raises(ge2.InputError) as info:
                emb.embed(["fine", item])
            message = str(info.value)
            assert message.startswith("input #1")
            assert f"{side}x{side}" in message and "64,000,000 pixels" in message
            assert "Fix: downscale it" in message
        [error] = emb.check([data])
        assert isinstance(error, ge2.InputError)
        with pytest.raises(ge2.InputError, match=r"upload.png: 20000x20000|upload.png: 12000"):
            media.check_image(data, item="upload.png")
    assert decoded == []  # nothing was decoded
    assert emb.usage.requests == 0


def test_check_image_returns_the_size_of_a_good_image() -> None:
    info = media.check_image(samples.png(size=(30, 20)), item="x")
    assert (info.width, info.height, info.format) == (30, 20, "PNG")
    with pytest.raises(ge2.InputError, match=r"x: not a readable image"):
        media.check_image(b"\x89PNG\r\n\x1a\nnot really", item="x")


def test_a_jpeg_over_the_limit_is_decoded_at_reduced_scale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, decoded: list[tuple[int, int]]
) -> None:
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 10_000)
    path = tmp_path / "photo.jpg"
    path.write_bytes(samples.jpeg(size=(200, 160), description="a red kite over hills"))
    small = split.canonical(ge2.Image(path))
    assert isinstance(small, ge2.Image) and small.mime == "image/jpeg"
    assert small.provenance["downscaled_from"] == "200x160"
    with PILImage.open(io.BytesIO(small.read())) as img:
        assert img.width * img.height <= 10_000
        assert img.getexif()[0x010E] == "a red kite over hills"  # description kept
    assert all(w * h <= 10_000 for w, h in decoded)  # never decoded at full size
    emb = ge2.Embedder(api_key="k", overflow="error")
    assert emb.check([path]) == [None]
    # More than 64 times the limit: 1/8 scale is not enough, so it is refused.
    big = tmp_path / "big.jpg"
    big.write_bytes(samples.jpeg(size=(1000, 1000)))
    with pytest.raises(ge2.InputError, match=r"1000x1000 = 1,000,000 pixels is over"):
        emb.embed([big])


def test_pil_images_over_the_limit_or_unencodable_are_input_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for mode in ("CMYK", "F", "I", "RGBX", "YCbCr", "LAB", "PA"):
        img = ge2.Image(PILImage.new(mode, (4, 4)))
        assert img.mime == "image/png"
    with pytest.raises(ge2.InputError, match=r"empty \(0 pixels\)"):
        ge2.Image(PILImage.new("RGB", (0, 5)))
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ge2.InputError, match=r"11x10 = 110 pixels.*img.thumbnail"):
        ge2.as_input(PILImage.new("RGB", (11, 10)))


def test_video_frames_over_the_limit_are_not_decoded_to_re_encode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    samples.video(10, path=path, keyframe_seconds=100)  # one keyframe: windows re-encode
    opts = ge2.SplitOptions(video_seconds=4)
    assert len(split.split(ge2.Video(path), opts)) >= 3
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)  # 64x48 frames are over it
    with pytest.raises(ge2.InputError, match=r"frames are too large to decode.*64x48"):
        split.split(ge2.Video(path), opts)
