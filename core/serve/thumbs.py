"""Thumbnails for the result page: made once per file version and kept beside the store.

Images are shrunk (JPEG decoded at reduced size with Pillow's ``draft``, and a pixel
bound checked from the header first, so a huge image is never decoded whole; a file that
cannot be rendered raises ``ThumbnailError`` with the reason), videos give
the frame at the matched second (PyAV), PDFs the matched page rendered with pypdfium2
(Chromium's PDF engine: wheels with no system libraries, Apache/BSD licensed; pdf2image
needs poppler binaries, PyMuPDF is AGPL). Audio and text have no thumbnail.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (320, 320)
#: Decoded pixels a thumbnail may cost (a JPEG counts at the reduced scale it is decoded
#: at); past it the page shows an icon. Checked from the header, before decoding.
MAX_PIXELS = 64_000_000


class Thumbnails:
    """``make`` renders and caches; ``url`` says which thumbnail a result row shows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def url(self, row: dict[str, Any]) -> str | None:
        kind = row.get("modality")
        fid = row.get("file_id")
        if kind == "image":
            return f"/thumbs/{fid}"
        if kind == "pdf":
            return f"/thumbs/{fid}?page={int(row.get('page_start') or 1)}"
        if kind == "video":
            return f"/thumbs/{fid}?t={float(row.get('start_s') or 0):g}"
        return None

    def make(self, row: dict[str, Any], path: Path, page: int, at: float) -> Path | None:
        """The thumbnail's file, or None for a kind that has none (audio, text).

        Raises ``ThumbnailError`` naming the problem when the file cannot be rendered (a
        damaged image, PDF or video, or an image too large to decode): the page shows its
        icon instead, and the server goes on.
        """
        kind = str(row.get("mime") or "")
        version = f"{row.get('sha256', '')[:16]}-{row.get('size', 0)}"
        render: Callable[[], Any]
        if kind.startswith("image/"):
            name, render = f"{version}.jpg", lambda: _image(path)
        elif kind == "application/pdf":
            name, render = f"{version}-p{page}.jpg", lambda: _pdf_page(path, page)
        elif kind.startswith("video/"):
            name, render = f"{version}-t{at:g}.jpg", lambda: _video_frame(path, at)
        else:
            return None
        target = self.folder / name
        if target.is_file():
            return target
        with self._lock:
            if target.is_file():
                return target
            try:
                image = render()
                if image is None:
                    raise ThumbnailError("no frame to show")
                image = image.convert("RGB")
                image.thumbnail(SIZE)
            except ThumbnailError:
                raise
            except Exception as exc:  # Pillow, pypdfium2 and PyAV each raise their own
                text = " ".join(str(exc).split())[:200]
                raise ThumbnailError(f"cannot render it ({type(exc).__name__}: {text})") from exc
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            image.save(tmp, format="JPEG", quality=82)
            os.replace(tmp, target)
        return target


class ThumbnailError(Exception):
    """A file that has no thumbnail because it cannot be rendered; the message says why."""


def _image(path: Path) -> Any:
    from ge2 import media

    try:
        return media.decode_for_display(path, SIZE, MAX_PIXELS)
    except ValueError as exc:
        raise ThumbnailError(str(exc)) from exc


def _pdf_page(path: Path, page: int) -> Any:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(pdf):
            page = 1
        p = pdf[page - 1]
        # Scaled by the longer side, so a page of odd proportions stays small too.
        longest = max(p.get_width(), p.get_height(), 1.0)
        return p.render(scale=SIZE[0] * 1.5 / longest).to_pil()
    finally:
        pdf.close()


def _video_frame(path: Path, at: float) -> Any:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ThumbnailError("it has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        if width * height > MAX_PIXELS:
            raise ThumbnailError(f"its frames are {width}x{height}, too large to decode here")
        if at > 0 and stream.time_base:
            container.seek(int(at / float(stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= at - 0.05:
                return frame.to_image()  # type: ignore[no-untyped-call]
    return None
