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
from collections.abc import Callable, Sequence
from fractions import Fraction
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


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of any pixel size, written row by row without holding its pixels.

    20000x20000 is about 50 KB here and 50 MB to 1.2 GB once decoded: the file a pixel
    limit has to refuse from its header (a "decompression bomb").
    """
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = [comp.compress(row * 64) for _ in range(height // 64)]
    body += [comp.compress(row * (height % 64)), comp.flush()]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(body))
        + chunk(b"IEND", b"")
    )


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
    keyframe_seconds: float | None = None,
) -> bytes:
    """A small silent video (MPEG-4 part 2 in MP4 or MOV), one frame per second by default.

    With ``path`` frames are encoded and written one at a time, so a long video never sits
    in memory. By default a keyframe comes every 10 s and at scene changes; with
    ``keyframe_seconds`` keyframes come exactly that often and nowhere else.
    """
    import av

    target = _target(path)
    with av.open(target, "w", format="mov" if fmt == "mov" else "mp4") as container:
        if title:
            container.metadata["title"] = title
        if comment:
            container.metadata["comment"] = comment
        # A fixed GOP when asked: no extra keyframes at scene changes.
        exact = {"sc_threshold": "1000000000"} if keyframe_seconds is not None else {}
        stream = container.add_stream("mpeg4", rate=fps, options=exact)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, int(fps * (keyframe_seconds or 10)))
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


def _pdf_string(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def long_pdf(
    path: str | os.PathLike[str],
    pages: int,
    *,
    page_text: Callable[[int], str] | None = None,
    title: str | None = None,
    image_bytes: int = 0,
) -> Path:
    """A PDF of ``pages`` pages written page by page to ``path`` (never held in memory).

    Page ``i`` (0-based) carries ``page_text(i)`` in its text layer (default "page i+1 of N").
    ``image_bytes`` > 0 adds a noise image of about that size to every page, for files big
    enough to measure memory on. Plain PDF 1.4 with the standard Helvetica font.
    """
    text_of = page_text or (lambda i: f"page {i + 1} of {pages}")
    offsets: list[int] = []
    rng = np.random.default_rng(7)
    side = int(image_bytes**0.5) if image_bytes > 0 else 0
    with open(path, "wb") as fh:

        def obj(body: bytes, stream: bytes | None = None) -> int:
            offsets.append(fh.tell())
            num = len(offsets)
            fh.write(b"%d 0 obj\n" % num + body)
            if stream is not None:
                fh.write(b"\nstream\n" + stream + b"\nendstream")
            fh.write(b"\nendobj\n")
            return num

        fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        font = obj(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
        )
        # The page tree is object N+1 after all pages; its number is known up front.
        per_page = 3 if side else 2
        tree = font + pages * per_page + 1
        kids: list[int] = []
        for i in range(pages):
            lines = _wrap(text_of(i), 40) or [""]
            ops = [b"BT /F1 10 Tf 14 TL 20 400 Td"]
            ops += [_pdf_string(line) + b" Tj T*" for line in lines]
            ops.append(b"ET")
            resources = b"/Font << /F1 %d 0 R >>" % font
            if side:
                noise = rng.integers(0, 256, side * side, dtype=np.uint8).tobytes()
                img = obj(
                    b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>"
                    % (side, side, len(noise)),
                    noise,
                )
                resources += b" /XObject << /Im1 %d 0 R >>" % img
                ops.insert(0, b"q 120 0 0 120 89 40 cm /Im1 Do Q")
            content = b"\n".join(ops)
            c = obj(b"<< /Length %d >>" % len(content), content)
            kids.append(
                obj(
                    b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 298 420] "
                    b"/Resources << %s >> /Contents %d 0 R >>" % (tree, resources, c)
                )
            )
        assert len(offsets) + 1 == tree
        obj(
            b"<< /Type /Pages /Count %d /Kids [%s] >>"
            % (pages, b" ".join(b"%d 0 R" % k for k in kids))
        )
        info = obj(b"<< /Title %s >>" % _pdf_string(title)) if title else None
        catalog = obj(b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
        xref = fh.tell()
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for off in offsets:
            fh.write(b"%010d 00000 n \n" % off)
        trailer = b"<< /Size %d /Root %d 0 R" % (len(offsets) + 1, catalog)
        if info:
            trailer += b" /Info %d 0 R" % info
        fh.write(b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return Path(path)


def large_video(
    path: str | os.PathLike[str],
    target_bytes: int,
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    keyframe_seconds: float = 2.0,
) -> Path:
    """An MP4 of about ``target_bytes`` written fast: one GOP of noise is encoded once and its
    packets are muxed again and again with rising timestamps (for memory benchmarks).
    """
    import av

    gop = max(1, int(fps * keyframe_seconds))
    rng = np.random.default_rng(3)
    scratch = io.BytesIO()
    with av.open(scratch, "w", format="mp4") as container:
        enc: Any = container.add_stream("mpeg4", rate=fps)
        enc.width, enc.height = size
        enc.pix_fmt = "yuv420p"
        enc.codec_context.gop_size = gop
        enc.codec_context.bit_rate = 20_000_000
        noise = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        for i in range(gop):
            frame = av.VideoFrame.from_ndarray(np.roll(noise, i * 8, axis=1), format="rgb24")
            for packet in enc.encode(frame):
                container.mux(packet)
        for packet in enc.encode(None):
            container.mux(packet)
    scratch.seek(0)
    source: Any
    with av.open(scratch) as source, av.open(str(path), "w", format="mp4") as out:
        template = source.streams.video[0]
        encoded = [(bytes(p), bool(p.is_keyframe)) for p in source.demux(template) if p.size]
        stream = out.add_stream_from_template(template)
        tick = Fraction(1, fps)
        written, n = 0, 0
        while written < target_bytes:
            for data, key in encoded:
                packet = av.Packet(data)
                packet.pts = packet.dts = n
                packet.duration = 1
                packet.time_base = tick
                packet.is_keyframe = key
                packet.stream = stream
                out.mux(packet)
                written += len(data)
                n += 1
    return Path(path)


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
