"""The emulator's vectors and limits, without HTTP: deterministic, lexical, perceptual."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from ge2 import limits
from ge2.emulator import ApiError, embed_content_vector
from ge2.emulator import vectors as V
from ge2.emulator.protocol import decode_base64

# -- media generated in the tests (the lead may move these into conftest.py) --------------


def draw_image(kind: str = "fox", size: tuple[int, int] = (96, 96)) -> Image.Image:
    """A small structured picture: 'fox' (red disc on white), 'sea' (blue bands), 'leaf'."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    if kind == "fox":
        draw.ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=(210, 70, 20))
    elif kind == "sea":
        for i in range(0, h, max(1, h // 8)):
            draw.rectangle((0, i, w, i + h // 16), fill=(20, 60, 200))
    else:
        draw.polygon([(0, h), (w // 2, 0), (w, h)], fill=(30, 160, 40))
    return img


def image_bytes(
    kind: str = "fox",
    fmt: str = "PNG",
    size: tuple[int, int] = (96, 96),
    text: dict[str, str] | None = None,
    exif_description: str | None = None,
) -> bytes:
    """PNG (optionally with tEXt chunks) or JPEG (optionally with EXIF ImageDescription)."""
    from PIL import PngImagePlugin

    img = draw_image(kind, size)
    buf = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for key, value in (text or {}).items():
            info.add_text(key, value)
        img.save(buf, "PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        if exif_description:
            exif[0x010E] = exif_description
        img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    """A minimal PDF with a real text layer (Helvetica), one line of text per page."""
    n = len(pages)
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
            + f"] /Count {n} >>"
        ).encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
        objs[4 + 2 * i] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        ).encode()
        objs[5 + 2 * i] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    info_id = None
    if title:
        info_id = max(objs) + 1
        objs[info_id] = f"<< /Title ({title}) >>".encode("latin-1")
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    xref = len(out)
    size = max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num]
    trailer = f"trailer\n<< /Size {size} /Root 1 0 R"
    if info_id:
        trailer += f" /Info {info_id} 0 R"
    out += (trailer + f" >>\nstartxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def audio_bytes(seconds: float = 1.0, title: str | None = None, fmt: str = "wav") -> bytes:
    """A sine tone as WAV (pcm) or MP3 (lame), with an optional title tag."""
    rate = 8000 if fmt == "wav" else 22050
    codec = "pcm_s16le" if fmt == "wav" else "libmp3lame"
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream(codec, rate=rate, layout="mono")  # type: ignore[call-overload]
        t = np.arange(int(seconds * rate)) / rate
        data = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def video_bytes(seconds: int = 2, title: str | None = None, fmt: str = "mp4") -> bytes:
    """A tiny 1 fps MPEG-4 clip in MP4 or MOV, with an optional title tag."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("mpeg4", rate=1)  # type: ignore[call-overload]
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(seconds):
            arr = np.full((32, 32, 3), (i * 40) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def inline(data: bytes, mime: str) -> dict[str, Any]:
    """A part with inline data, as google-genai sends it (URL-safe base64, snake_case)."""
    return {"inline_data": {"mime_type": mime, "data": base64.urlsafe_b64encode(data).decode()}}


def vec(content: dict[str, Any] | str, dims: int = 3072, **kw: Any) -> np.ndarray:
    return np.array(embed_content_vector(content, dimensions=dims, **kw))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("task: search result | query: red fox", "red fox"),
        ("task: question answering | query: why?", "why?"),
        ("task: code retrieval | query: sort a list", "sort a list"),
        ("task: sentence similarity | query: hi", "hi"),
        ("title: none | text: the red fox", "the red fox"),
        ("title: Foxes | text: the red fox", "Foxes the red fox"),
        ("plain text", "plain text"),
    ],
)
def test_strip_instruction(text: str, expected: str) -> None:
    assert V.strip_instruction(text) == expected


def test_text_vectors_are_deterministic_and_unit() -> None:
    a = vec("the quick brown fox")
    assert np.array_equal(a, vec("the quick brown fox"))
    assert a.shape == (3072,)
    assert abs(np.linalg.norm(a) - 1) < 1e-5


def test_text_vectors_do_not_depend_on_the_process() -> None:
    code = (
        "import json; from ge2.emulator import embed_content_vector as e; "
        "print(json.dumps(e('red fox in the snow', dimensions=128)[:8]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == embed_content_vector("red fox in the snow", dimensions=128)[:8]


def test_shared_words_raise_cosine() -> None:
    fox = vec("the red fox jumps over the fence")
    near = vec("a red fox sleeps")
    far = vec("quarterly revenue grew in europe")
    assert cos(fox, near) > 0.3
    assert cos(fox, near) > cos(fox, far) + 0.2
    assert abs(cos(fox, far)) < 0.15


def test_instruction_formats_share_words() -> None:
    query = vec("task: search result | query: red fox")
    doc = vec("title: none | text: the red fox")
    other = vec("title: none | text: tax law reform")
    assert cos(query, doc) > 0.8
    assert cos(query, doc) > cos(query, other) + 0.5


@pytest.mark.parametrize("dims", [128, 256, 768, 1536, 3072, 1000])
def test_matryoshka_prefix_and_unit_norm(dims: int) -> None:
    full = vec("matryoshka dolls nest inside each other")
    small = vec("matryoshka dolls nest inside each other", dims)
    assert small.shape == (dims,)
    assert abs(np.linalg.norm(small) - 1) < 1e-5
    prefix = full[:dims] / np.linalg.norm(full[:dims])
    assert np.allclose(small, prefix, atol=2e-6)


def test_text_without_words_still_gets_a_vector() -> None:
    a = vec("!!! ???")
    assert abs(np.linalg.norm(a) - 1) < 1e-5
    assert not np.array_equal(a, vec("... ,,,"))


def test_task_type_is_ignored_by_ge2_but_not_by_001() -> None:
    text = "the red fox"
    assert np.array_equal(vec(text, task_type="RETRIEVAL_QUERY"), vec(text))
    plain = vec(text, model="gemini-embedding-001")
    query = vec(text, model="gemini-embedding-001", task_type="RETRIEVAL_QUERY")
    doc = vec(text, model="gemini-embedding-001", task_type="RETRIEVAL_DOCUMENT")
    assert not np.array_equal(plain, query)
    assert 0.9 < cos(plain, query) < 0.9999
    assert not np.array_equal(query, doc)
    assert np.array_equal(
        query, vec(text, model="models/gemini-embedding-001", task_type="RETRIEVAL_QUERY")
    )


def test_multi_part_content_is_one_normalised_sum() -> None:
    a, b = V.text_vector("red fox"), V.text_vector("snowy forest")
    both = vec({"parts": [{"text": "red fox"}, {"text": "snowy forest"}]})
    expected = (a + b) / np.linalg.norm(a + b)
    assert np.allclose(both, expected, atol=2e-6)


def test_over_budget_text_is_truncated_silently() -> None:
    budget_chars = int(limits.MAX_TOKENS_PER_INPUT * limits.CHARS_PER_TOKEN)
    head = ("alpha beta gamma delta " * 2000)[:budget_chars]
    long_text = head + " omega" * 5000
    assert np.array_equal(vec(long_text), vec(head))


# -- media -------------------------------------------------------------------------------


def test_same_image_reencoded_stays_close() -> None:
    png = vec({"parts": [inline(image_bytes("fox"), "image/png")]})
    jpg = vec({"parts": [inline(image_bytes("fox", "JPEG"), "image/jpeg")]})
    resized = vec({"parts": [inline(image_bytes("fox", size=(300, 300)), "image/png")]})
    other = vec({"parts": [inline(image_bytes("sea"), "image/png")]})
    assert cos(png, jpg) > 0.97
    assert cos(png, resized) > 0.97
    assert cos(png, other) < cos(png, jpg) - 0.2


def test_png_description_pulls_toward_its_words() -> None:
    described = vec(
        {"parts": [inline(image_bytes("sea", text={"Description": "a red fox"}), "image/png")]}
    )
    plain = vec({"parts": [inline(image_bytes("fox"), "image/png")]})
    query = vec("task: search result | query: red fox")
    assert cos(query, described) > 0.5
    assert cos(query, described) > cos(query, plain) + 0.3


def test_jpeg_exif_description_pulls_toward_its_words() -> None:
    jpg = image_bytes("leaf", "JPEG", exif_description="green leaf on a branch")
    described = vec({"parts": [inline(jpg, "image/jpeg")]})
    query = vec("green leaf")
    assert cos(query, described) > 0.4


def test_pdf_is_its_text_layer() -> None:
    pdf = vec({"parts": [inline(pdf_bytes(["red fox report"]), "application/pdf")]})
    assert cos(pdf, vec("red fox report")) > 0.95
    assert cos(pdf, vec("tax law")) < 0.2


def test_audio_and_video_hash_with_title_pull() -> None:
    a1 = vec({"parts": [inline(audio_bytes(1.0), "audio/wav")]})
    a2 = vec({"parts": [inline(audio_bytes(1.2), "audio/wav")]})
    assert abs(cos(a1, a2)) < 0.15
    titled = vec({"parts": [inline(audio_bytes(1.0, title="howling wolf"), "audio/wav")]})
    assert cos(titled, vec("howling wolf")) > 0.5
    clip = vec({"parts": [inline(video_bytes(2, title="surfing lesson"), "video/mp4")]})
    assert cos(clip, vec("surfing lesson")) > 0.5
    mp3 = vec({"parts": [inline(audio_bytes(1.0, title="bird song", fmt="mp3"), "audio/mpeg")]})
    assert cos(mp3, vec("bird song")) > 0.5


def test_file_uri_vector_comes_from_uri_and_mime() -> None:
    part = {"file_data": {"mime_type": "image/png", "file_uri": "gs://bucket/a.png"}}
    a = vec({"parts": [part]})
    assert np.array_equal(a, vec({"parts": [part]}))
    other = {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/b.png"}}
    assert not np.array_equal(a, vec({"parts": [other]}))


@pytest.mark.parametrize(
    "encode",
    [
        base64.b64encode,
        base64.urlsafe_b64encode,
        lambda b: base64.b64encode(b).rstrip(b"="),
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"="),
    ],
)
def test_base64_spellings(encode: Any) -> None:
    data = bytes(range(256)) * 3 + b"\xfb\xff"
    assert decode_base64(encode(data).decode()) == data


# -- limits (the same ApiError the server answers) -----------------------------------------


def _error(content: dict[str, Any], **kw: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        embed_content_vector(content, **kw)
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    return info.value


def test_limits_images_pdfs_pages_dims_mime() -> None:
    png = inline(image_bytes("fox"), "image/png")
    assert "at most 6 images" in _error({"parts": [png] * 7}).message
    embed_content_vector({"parts": [png] * 6}, dimensions=128)
    pdf = inline(pdf_bytes(["one"]), "application/pdf")
    assert "at most 1 PDF" in _error({"parts": [pdf, pdf]}).message
    seven = inline(pdf_bytes([f"page {i}" for i in range(7)]), "application/pdf")
    assert "at most 6 pages" in _error({"parts": [seven]}).message
    assert "between 128 and 3072" in _error("hi", dimensions=64).message
    assert "between 128 and 3072" in _error("hi", dimensions=4000).message
    webp = io.BytesIO()
    draw_image().save(webp, "WEBP")
    part = inline(webp.getvalue(), "image/webp")
    assert "Unsupported MIME type" in _error({"parts": [part]}).message
    embed_content_vector({"parts": [part]}, dimensions=128, api="vertex")


def test_limits_corrupt_empty_and_text_only_model() -> None:
    png = image_bytes("fox")
    assert "not image/jpeg" in _error({"parts": [inline(png, "image/jpeg")]}).message
    assert "Unable to process" in _error({"parts": [inline(png[:60], "image/png")]}).message
    assert "not empty" in _error({"parts": []}).message or "empty" in _error({"parts": []}).message
    assert "empty" in _error({"parts": [{"text": "  "}]}).message
    err = _error({"parts": [inline(png, "image/png")]}, model="gemini-embedding-001")
    assert "text only" in err.message
    assert "mime_type" in _error({"parts": [{"file_data": {"file_uri": "gs://b/x"}}]}).message


def test_limits_video_length() -> None:
    long_clip = inline(video_bytes(int(limits.MAX_VIDEO_SECONDS) + 1), "video/mp4")
    assert "at most 120 s" in _error({"parts": [long_clip]}).message
    mov = inline(video_bytes(3, fmt="mov"), "video/quicktime")
    embed_content_vector({"parts": [mov]}, dimensions=128)
