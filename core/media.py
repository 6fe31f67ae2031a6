"""Media facts read from the bytes themselves: type by magic bytes, pages, duration.

Shared by input validation, splitting and the emulator, so every layer measures a file
the same way. Decoding uses the libraries made for it: filetype, Pillow, pypdf, PyAV.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO, Literal

import filetype

Modality = Literal["text", "image", "audio", "video", "pdf"]

#: Canonical names for MIME aliases seen in the wild.
_MIME_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "video/mov": "video/quicktime",
    "image/jpg": "image/jpeg",
    "audio/x-flac": "audio/flac",
}

_EXTENSION_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
}

#: Bytes read from a file's head to sniff its type.
SNIFF_BYTES = 8192


def normalize_mime(mime: str) -> str:
    """Lower-case a MIME type, drop parameters and map aliases (audio/x-wav -> audio/wav)."""
    base = mime.split(";", 1)[0].strip().lower()
    return _MIME_ALIASES.get(base, base)


def mime_from_extension(name: str) -> str | None:
    """The MIME type a file name's extension claims, if known."""
    return _EXTENSION_MIME.get(os.path.splitext(name)[1].lower())


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is still text.
        return exc.start >= len(head) - 4
    return True


def sniff_mime(head: bytes) -> str | None:
    """The MIME type of some bytes by their content (magic bytes), or None if unknown.

    Text is recognised as valid UTF-8 without NUL bytes and reported as ``text/plain``.
    """
    kind = filetype.guess(head)
    if kind is not None:
        return normalize_mime(kind.mime)
    if head.lstrip().startswith(b"%PDF"):
        return "application/pdf"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if _looks_like_text(head):
        return "text/plain"
    return None


def modality_of(mime: str) -> Modality | None:
    """The modality a MIME type belongs to, or None if GE2 has no such modality."""
    mime = normalize_mime(mime)
    if mime == "application/pdf":
        return "pdf"
    major = mime.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major  # type: ignore[return-value]
    if major == "text" or mime in ("application/json", "application/xml"):
        return "text"
    return None


Source = bytes | str | os.PathLike[str]


def _open(source: Source) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return open(source, "rb")


@dataclass(frozen=True)
class ImageInfo:
    """What Pillow reads from an image header."""

    width: int
    height: int
    format: str


def image_info(source: Source) -> ImageInfo:
    """Size and format of an image; raises ``ValueError`` if Pillow cannot decode it."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    with _open(source) as fh:
        try:
            with PILImage.open(fh) as img:
                img.verify()
                return ImageInfo(img.width, img.height, str(img.format))
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ValueError(f"not a readable image ({exc})") from exc


def pdf_page_count(source: Source) -> int:
    """Number of pages; raises ``ValueError`` for a corrupt or encrypted PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    with _open(source) as fh:
        try:
            reader = PdfReader(fh)
            if reader.is_encrypted:
                raise ValueError("the PDF is encrypted; decrypt it first")
            return len(reader.pages)
        except (PdfReadError, OSError) as exc:
            raise ValueError(f"not a readable PDF ({exc})") from exc


def pdf_text(source: Source, max_pages: int | None = None) -> str:
    """The text layer of a PDF (empty for scanned pages)."""
    from pypdf import PdfReader

    with _open(source) as fh:
        reader = PdfReader(fh)
        pages = reader.pages if max_pages is None else reader.pages[:max_pages]
        return "\n".join(page.extract_text() or "" for page in pages)


def truncation(source: Source) -> str | None:
    """Why a container's own size fields say the file was cut short, or None.

    FFmpeg reads a truncated MP4/MOV whose index comes first, or a WAV missing its tail,
    without complaint; the box and chunk sizes in the file show it. Reads a few headers only.
    """
    import struct

    with _open(source) as fh:
        fh.seek(0, os.SEEK_END)
        total = fh.tell()
        fh.seek(0)
        head = fh.read(12)
        if head[4:8] == b"ftyp":
            pos = 0
            for _ in range(100_000):
                if pos >= total:
                    return None
                fh.seek(pos)
                header = fh.read(16)
                if len(header) < 8:
                    return f"the file ends inside a box header at byte {pos}"
                size, kind = struct.unpack(">I4s", header[:8])
                if size == 1 and len(header) >= 16:
                    size = struct.unpack(">Q", header[8:16])[0]
                elif size == 0:
                    return None  # the last box runs to the end of the file
                if size < 8:
                    return f"a broken box size at byte {pos}"
                if pos + size > total:
                    name = kind.decode("latin-1", errors="replace")
                    return f"its '{name}' box needs {pos + size} bytes but the file has {total}"
                pos += size
            return None
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            declared = struct.unpack("<I", head[4:8])[0] + 8
            if declared not in (8, 0xFFFFFFFF + 8) and declared > total + 1:
                return f"its header declares {declared} bytes but the file has {total}"
    return None


def media_duration(source: Source) -> float:
    """Duration in seconds of an audio or video file (PyAV); ``ValueError`` if unreadable
    or truncated (see ``truncation``)."""
    import av

    cut = truncation(source)
    if cut is not None:
        raise ValueError(f"truncated audio/video file: {cut}")
    try:
        opened = av.open(source if not isinstance(source, bytes) else io.BytesIO(source), "r")
        with opened as container:
            if container.duration is not None:
                return float(container.duration) / 1_000_000
            longest = 0.0
            for stream in container.streams:
                if stream.duration is not None and stream.time_base is not None:
                    longest = max(longest, float(stream.duration * stream.time_base))
            if longest:
                return longest
            # No header duration (raw MP3 streams): decode timestamps.
            end = 0.0
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return end
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"not a readable audio/video file ({exc})") from exc
