"""Thumbnails for the result page: made once per file version and kept beside the store.

Images are shrunk (JPEG decoded at reduced size with Pillow's ``draft``, and a pixel
bound checked from the header first, so a huge image is never decoded whole), videos give
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
#: Images bigger than this (pixels) are not thumbnailed (the page shows an icon).
MAX_PIXELS = 100_000_000


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
            image = render()
            if image is None:
                return None
            self.folder.mkdir(parents=True, exist_ok=True)
            image = image.convert("RGB")
            image.thumbnail(SIZE)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            image.save(tmp, format="JPEG", quality=82)
            os.replace(tmp, target)
        return target


def _image(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as img:
        if img.width * img.height > MAX_PIXELS:
            return None
        img.draft("RGB", SIZE)  # JPEG: decode at a fraction of the size
        img.load()
        return img.copy()


def _pdf_page(path: Path, page: int) -> Any:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(pdf):
            page = 1
        p = pdf[page - 1]
        width = p.get_width() or 1.0
        return p.render(scale=SIZE[0] / width * 1.5).to_pil()
    finally:
        pdf.close()


def _video_frame(path: Path, at: float) -> Any:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if at > 0 and stream.time_base:
            container.seek(int(at / float(stream.time_base)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= at - 0.05:
                return frame.to_image()  # type: ignore[no-untyped-call]
    return None
