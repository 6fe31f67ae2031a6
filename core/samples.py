"""Generated sample media: real PNG, JPEG, WAV, MP3, MP4, MOV and PDF files, made on demand.

The demo, the tutorials, the tests and the benchmarks use these instead of committed blobs.
Each file can carry a description in its own metadata (PNG tEXt, JPEG EXIF, audio/video
title and comment tags, a PDF's text layer) so that the emulator, which reads such
metadata, can show a text query finding the right image, clip or page.
All generated content is original and free to use (CC0).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

RGB = tuple[int, int, int]


def _image(color: RGB, size: tuple[int, int], pattern: int) -> Any:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    img = PILImage.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    w, h = size
    rng = np.random.default_rng(pattern)
    for _ in range(3 + pattern % 4):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x1, y1 = x0 + int(rng.integers(w // 8, w // 2)), y0 + int(rng.integers(h // 8, h // 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    return img


def png(
    color: RGB = (200, 30, 30),
    *,
    size: tuple[int, int] = (64, 64),
    description: str | None = None,
    pattern: int = 0,
) -> bytes:
    """A PNG; ``description`` goes into a tEXt chunk named Description."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if description:
        info.add_text("Description", description)
    buf = io.BytesIO()
    _image(color, size, pattern).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def jpeg(
    color: RGB = (30, 30, 200),
    *,
    size: tuple[int, int] = (64, 64),
    description: str | None = None,
    pattern: int = 0,
) -> bytes:
    """A JPEG; ``description`` goes into EXIF ImageDescription."""
    from PIL import Image as PILImage

    img = _image(color, size, pattern)
    exif = PILImage.Exif()
    if description:
        exif[0x010E] = description
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def webp(
    color: RGB = (30, 200, 30), *, size: tuple[int, int] = (64, 64), pattern: int = 0
) -> bytes:
    """A WebP image (the Gemini API does not take WebP; ge2 converts it)."""
    buf = io.BytesIO()
    _image(color, size, pattern).save(buf, format="WEBP")
    return buf.getvalue()


def _target(path: str | os.PathLike[str] | None) -> Any:
    return io.BytesIO() if path is None else str(path)


def _result(target: Any) -> bytes:
    return target.getvalue() if isinstance(target, io.BytesIO) else b""


def audio(
    seconds: float = 2.0,
    *,
    freq: float = 440.0,
    fmt: str = "wav",
    title: str | None = None,
    comment: str | None = None,
    path: str | os.PathLike[str] | None = None,
    rate: int = 16000,
) -> bytes:
    """A sine tone as WAV or MP3 (``fmt``), written in one-second chunks.

    With ``path`` the file is streamed to disk (an hour of audio never sits in memory) and
    the return value is empty.
    """
    import av

    target = _target(path)
    codec, layout_fmt = ("pcm_s16le", "s16") if fmt == "wav" else ("mp3", "fltp")
    with av.open(target, "w", format=fmt) as container:
        if title:
            container.metadata["title"] = title
        if comment:
            container.metadata["comment"] = comment
        stream = cast("av.AudioStream", container.add_stream(codec, rate=rate))
        stream.layout = "mono"
        done = 0
        total = int(seconds * rate)
        while done < total:
            n = min(rate, total - done)
            t = (np.arange(done, done + n) / rate).astype(np.float32)
            wave = 0.3 * np.sin(2 * np.pi * freq * t)
            samples = (wave * 32767).astype(np.int16) if fmt == "wav" else wave.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples[None, :], format=layout_fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = done
            for packet in stream.encode(frame):
                container.mux(packet)
            done += n
        for packet in stream.encode(None):
            container.mux(packet)
    return _result(target)


def video(
    seconds: float = 3.0,
    *,
    color: RGB = (20, 120, 200),
    fmt: str = "mp4",
    title: str | None = None,
    comment: str | None = None,
    path: str | os.PathLike[str] | None = None,
    fps: int = 1,
    size: tuple[int, int] = (64, 48),
) -> bytes:
    """A small silent video (MPEG-4 part 2 in MP4 or MOV), one frame per second by default."""
    import av

    target = _target(path)
    with av.open(target, "w", format="mov" if fmt == "mov" else "mp4") as container:
        if title:
            container.metadata["title"] = title
        if comment:
            container.metadata["comment"] = comment
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, fps * 10)
        base = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        base[:] = color
        for i in range(int(seconds * fps)):
            frame_arr = base.copy()
            x = (i * 4) % max(1, size[0] - 8)
            frame_arr[:, x : x + 8] = 255 - np.array(color, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(frame_arr, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return _result(target)


def pdf(pages: Sequence[str], *, path: str | os.PathLike[str] | None = None) -> bytes:
    """A PDF whose page ``i`` carries the text ``pages[i]`` in its text layer (reportlab)."""
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfgen import canvas

    target = _target(path)
    doc = canvas.Canvas(target, pagesize=A6)
    for text in pages:
        y = 380
        for line in _wrap(text, 40):
            doc.drawString(20, y, line)
            y -= 14
        doc.showPage()
    doc.save()
    return _result(target)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


#: The demo corpus: (file name, description). Descriptions live in each file's metadata.
CORPUS = (
    ("red-fox.png", "a red fox running through snow in the forest"),
    ("lighthouse.jpg", "a white lighthouse on a rocky coast at sunset"),
    ("green-leaf.png", "a green leaf with water drops after rain"),
    ("birdsong.wav", "birdsong in a spring garden at dawn"),
    ("ocean-waves.mp4", "ocean waves breaking on a sandy beach"),
    ("solar-report.pdf", "annual report on solar panel energy output and battery storage"),
    ("bread-recipe.md", "a recipe for sourdough bread with flour water salt and starter"),
    ("volcano-notes.txt", "field notes about a volcano eruption lava and ash clouds"),
)


def write_corpus(folder: str | os.PathLike[str]) -> list[Path]:
    """Write the demo corpus (about 100 KB, CC0) into ``folder``; returns the paths."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    colors: dict[str, RGB] = {
        "red-fox.png": (200, 80, 20),
        "lighthouse.jpg": (240, 200, 160),
        "green-leaf.png": (40, 160, 60),
    }
    out: list[Path] = []
    for i, (name, desc) in enumerate(CORPUS):
        p = root / name
        if name.endswith(".png"):
            p.write_bytes(png(colors[name], description=desc, pattern=i, size=(96, 96)))
        elif name.endswith(".jpg"):
            p.write_bytes(jpeg(colors[name], description=desc, pattern=i, size=(96, 96)))
        elif name.endswith(".wav"):
            audio(3.0, freq=660.0, title=desc, comment=desc, path=p)
        elif name.endswith(".mp4"):
            video(4.0, title=desc, comment=desc, path=p)
        elif name.endswith(".pdf"):
            pdf(
                [
                    f"{desc}. Page one: solar panel output rose in the summer months.",
                    "Page two: battery storage smoothed the evening peak of energy demand.",
                ],
                path=p,
            )
        else:
            p.write_text(f"# {desc}\n\n{desc.capitalize()}.\n", encoding="utf-8")
        out.append(p)
    return out
