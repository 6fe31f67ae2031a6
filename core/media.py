"""Media facts read from the bytes themselves: type by magic bytes, pages, duration.

Shared by input validation, splitting and the emulator, so every layer measures a file
the same way. Decoding uses the libraries made for it: filetype, Pillow, pypdf, PyAV.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import filetype

from . import limits
from .errors import InputError

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
        # A multi-byte character cut at the sniff boundary is still text; a shorter head
        # is the whole file, so a bad byte at its end is a bad byte.
        return len(head) >= SNIFF_BYTES and exc.start >= len(head) - 4
    return True


#: Bytes that do not occur in text in any 8-bit encoding (C0 controls but tab, newlines, FF).
_NOT_TEXT = bytes(range(0x00, 0x09)) + bytes(range(0x0E, 0x20)) + b"\x7f"


def utf8_problem(data: bytes) -> str | None:
    """Why ``data`` is not UTF-8 text (the byte and its offset), or None when it decodes."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"the text is not UTF-8: byte 0x{data[exc.start]:02X} at offset {exc.start} "
            "cannot be decoded (the file is probably Latin-1 or Windows-1252)"
        )
    return None


def looks_like_legacy_text(head: bytes) -> bool:
    """Text in an 8-bit encoding (Latin-1, Windows-1252): no control bytes, not UTF-8.

    Lets ``ge2.load`` say "re-save as UTF-8" instead of "unknown file type".
    """
    clean = head.translate(None, _NOT_TEXT) == head
    return bool(head) and clean and not _looks_like_text(head)


#: How to fix a text file that is not UTF-8.
UTF8_FIX = (
    "re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8), or decode it "
    "yourself and pass the str"
)


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

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _open_header(fh: BinaryIO) -> Any:
    """A lazily opened Pillow image (header only, nothing decoded), whatever its size.

    ``PIL.Image.open`` refuses or warns about large images (its decompression-bomb check);
    ge2 applies its own pixel limit after reading the header, so a too-large image becomes a
    clear ``InputError`` naming its size instead of Pillow's exception. Past Pillow's hard
    limit the format's own opener is called directly, which reads the header and stops.
    """
    import struct
    import warnings

    from PIL import Image as PILImage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            return PILImage.open(fh)
        except PILImage.DecompressionBombError:
            pass
    fh.seek(0)
    prefix = fh.read(16)
    for fmt in list(PILImage.ID):
        factory, accept = PILImage.OPEN[fmt]
        accepted = accept(prefix) if accept is not None else True
        if isinstance(accepted, str) or not accepted:
            continue
        fh.seek(0)
        try:
            return factory(fh, "")
        except (SyntaxError, IndexError, TypeError, ValueError, OSError, struct.error):
            continue
    raise ValueError("Pillow recognised the image but could not read its header")


def image_header(source: Source) -> ImageInfo:
    """Width, height and format from the header alone; ``ValueError`` if not an image.

    Never decodes pixels, so it is safe on any file, however large the image it describes.
    """
    from PIL import UnidentifiedImageError

    try:
        with _open(source) as fh, _open_header(fh) as img:
            return ImageInfo(img.width, img.height, str(img.format))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"not a readable image ({exc})") from exc


def image_info(source: Source) -> ImageInfo:
    """Size and format of an image, its structure verified (PNG chunk CRCs and the like).

    Raises ``ValueError`` if Pillow cannot read it. Pixels are not decoded: ``verify`` walks
    the file's structure, so this is bounded by the file's size, not the image's.
    """
    import struct

    from PIL import UnidentifiedImageError

    try:
        with _open(source) as fh, _open_header(fh) as img:
            info = ImageInfo(img.width, img.height, str(img.format))
            img.verify()
            return info
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise ValueError(f"not a readable image ({exc})") from exc


def pixel_problem(info: ImageInfo, max_pixels: int | None = None) -> str | None:
    """Why an image is too large to decode or send (naming its size and the limit), or None."""
    limit = limits.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    if info.pixels <= limit:
        return None
    named = " (ge2.limits.MAX_IMAGE_PIXELS)" if max_pixels is None else ""
    return (
        f"{info.width}x{info.height} = {info.pixels:,} pixels is over the limit of "
        f"{limit:,} pixels per image{named}"
    )


#: How to fix an image over the pixel limit.
PIXEL_FIX = (
    "downscale it (8000x8000 is 64 MP) and save it again; "
    "a JPEG up to 64 times the limit is downscaled by ge2 itself"
)


def check_image(
    source: Source, *, item: str | None = None, max_pixels: int | None = None
) -> ImageInfo:
    """Read an image's header and refuse it, before any decoding, if it is unusable.

    Raises ``ge2.InputError`` (naming ``item``, the problem, the limit and the fix) when the
    bytes are not a readable image or the image has more than ``max_pixels`` pixels
    (``limits.MAX_IMAGE_PIXELS`` by default). For anything that receives images from
    outside (a server, a loader) before handing them to Pillow or the embedder. Costs a
    header read and a structure check: a 20000x20000 PNG is refused without being inflated.
    """
    try:
        info = image_header(source)
    except ValueError as exc:
        raise InputError(str(exc), item=item, fix="re-save the image as PNG or JPEG") from exc
    problem = pixel_problem(info, max_pixels)
    if problem is not None:
        raise InputError(problem, item=item, fix=PIXEL_FIX)
    try:
        image_info(source)
    except ValueError as exc:
        raise InputError(str(exc), item=item, fix="re-save the image as PNG or JPEG") from exc
    return info


def jpeg_draft_scale(info: ImageInfo, max_pixels: int | None = None) -> int | None:
    """The JPEG decoding scale (2, 4 or 8) that brings an image under the limit, or None.

    JPEG can be decoded at 1/2, 1/4 or 1/8 size without decoding the full image first
    (Pillow's ``draft``), so memory stays bounded by the smaller image.
    """
    limit = limits.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    for scale in (2, 4, 8):
        if -(-info.width // scale) * -(-info.height // scale) <= limit:
            return scale
    return None


def downscale_jpeg(source: Source, max_pixels: int | None = None) -> tuple[bytes, ImageInfo]:
    """A JPEG over the pixel limit, decoded at reduced scale and re-encoded (EXIF, XMP and
    ICC profile kept); ``ValueError`` if it cannot be brought under the limit that way."""
    from PIL import JpegImagePlugin

    limit = limits.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    with _open(source) as fh:
        try:
            img = JpegImagePlugin.JpegImageFile(fh)
        except (SyntaxError, OSError, ValueError) as exc:
            raise ValueError(f"not a readable JPEG ({exc})") from exc
        with img:
            info = ImageInfo(img.width, img.height, "JPEG")
            scale = jpeg_draft_scale(info, limit)
            if scale is None:
                raise ValueError(pixel_problem(info, limit) or "too large")
            mode = "L" if img.mode == "L" else ("CMYK" if img.mode == "CMYK" else "RGB")
            img.draft(mode, (info.width // scale, info.height // scale))
            if img.width * img.height > limit:  # pragma: no cover - draft always reaches scale
                raise ValueError(pixel_problem(info, limit) or "too large")
            extra = {
                key: img.info[key] for key in ("exif", "icc_profile", "xmp") if img.info.get(key)
            }
            try:
                img.load()
                buf = io.BytesIO()
                img.save(buf, format="JPEG", quality=90, **extra)
            except (OSError, ValueError, SyntaxError) as exc:
                raise ValueError(f"cannot decode the JPEG ({exc})") from exc
            return buf.getvalue(), ImageInfo(img.width, img.height, "JPEG")


def quiet_pypdf() -> None:
    """Keep pypdf's own warnings about a damaged PDF off the user's console.

    pypdf logs what it repairs or cannot read ("EOF marker not found", "incorrect startxref
    pointer") on the ``pypdf`` logger; with no logging configured Python prints those to
    stderr, in the middle of ``ge2 index``'s progress, for a file ge2 then skips with its
    own message naming the file and the fix. So before ge2 reads a PDF, the ``pypdf``
    logger is set to ERROR, unless the application has set a level on it already.
    """
    pypdf_logger = logging.getLogger("pypdf")
    if pypdf_logger.level == logging.NOTSET:
        pypdf_logger.setLevel(logging.ERROR)


#: How to fix a PDF that pypdf cannot read.
PDF_FIX = (
    "the file may be corrupt or truncated: open it in a PDF viewer and save or print it "
    "to a new PDF (or re-download it)"
)


def decode_for_display(source: Source, size: tuple[int, int], max_pixels: int | None = None) -> Any:
    """The image decoded for showing at about ``size`` (a PIL image), memory bounded.

    The header is read first: a JPEG is decoded at 1/2, 1/4 or 1/8 scale when that still
    covers ``size`` (Pillow's ``draft``); any image whose decoded size would still be over
    ``max_pixels`` (``limits.MAX_IMAGE_PIXELS`` by default) is refused with ``ValueError``
    before a pixel is decoded, as are files that are not readable images.
    """
    import struct
    import warnings

    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    limit = limits.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with _open(source) as fh, _open_header(fh) as img:
            if img.format == "JPEG":
                img.draft("RGB", size)
            if img.width * img.height > limit:
                info = ImageInfo(img.width, img.height, str(img.format))
                raise ValueError(pixel_problem(info, limit) or "too many pixels")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
                img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, struct.error, EOFError) as exc:
        raise ValueError(f"not a readable image ({exc})") from exc


def pdf_page_count(source: Source) -> int:
    """Number of pages; raises ``ValueError`` for a corrupt or encrypted PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    quiet_pypdf()
    with _open(source) as fh:
        try:
            reader = PdfReader(fh)
            if reader.is_encrypted:
                raise ValueError("the PDF is encrypted; decrypt it first")
            return len(reader.pages)
        except (PdfReadError, OSError) as exc:
            raise ValueError(f"not a readable PDF ({exc})") from exc
        except (KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
            # pypdf walking a damaged object graph
            raise ValueError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc


def pdf_text(source: Source, max_pages: int | None = None) -> str:
    """The text layer of a PDF (empty for scanned pages)."""
    from pypdf import PdfReader

    quiet_pypdf()
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
