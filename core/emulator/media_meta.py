"""Text that media files carry about themselves (titles, descriptions, comments).

The emulator pulls a media vector toward this text so an offline text query can find the
right image, clip or page. ``ge2.media`` measures files; these helpers only read their tags,
and every one returns None rather than failing: a missing tag is normal.
"""

from __future__ import annotations

import io
import re

from ge2 import media

#: Metadata keys (lower-cased) whose values describe the content.
DESCRIPTIVE_KEYS = ("title", "description", "comment", "subject", "caption", "keywords", "synopsis")

_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_XP_TITLE = 0x9C9B
_EXIF_XP_COMMENT = 0x9C9C
_XMP_FIELD_RE = re.compile(
    rb"<dc:(?:description|title|subject)\b[^>]*>(.*?)</dc:(?:description|title|subject)>", re.S
)
_XMP_LI_RE = re.compile(rb"<rdf:li\b[^>]*>(.*?)</rdf:li>", re.S)
_TAG_RE = re.compile(rb"<[^>]+>")


def _join(values: list[str]) -> str | None:
    seen: list[str] = []
    for value in values:
        value = value.strip().strip("\x00").strip()
        if value and value not in seen:
            seen.append(value)
    return " ".join(seen) or None


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        if value.startswith(b"\xff\xfe") or value.endswith(b"\x00\x00"):
            return value.decode("utf-16-le", errors="ignore")
        return value.decode("utf-8", errors="ignore")
    return None


def xmp_description(xmp: bytes) -> str | None:
    """dc:description / dc:title / dc:subject values from an XMP packet."""
    values: list[str] = []
    for block in _XMP_FIELD_RE.findall(xmp):
        items = _XMP_LI_RE.findall(block) or [block]
        for item in items:
            values.append(_TAG_RE.sub(b" ", item).decode("utf-8", errors="ignore"))
    return _join(values)


def image_description(img: object) -> str | None:
    """PNG tEXt/iTXt/zTXt, JPEG COM, EXIF ImageDescription/XP tags and XMP descriptions."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    values: list[str] = []
    for key, value in img.info.items():
        if not isinstance(key, str):
            continue
        if key.lower() in DESCRIPTIVE_KEYS:
            text = _as_text(value)
            if text:
                values.append(text)
        elif key.lower() in ("xmp", "xml:com.adobe.xmp"):
            raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
            text = xmp_description(raw)
            if text:
                values.append(text)
    try:
        exif = img.getexif()
    except Exception:  # a broken EXIF block is not our concern
        exif = None
    if exif:
        for tag in (_EXIF_IMAGE_DESCRIPTION, _EXIF_XP_TITLE, _EXIF_XP_COMMENT):
            raw_value = exif.get(tag)
            if isinstance(raw_value, tuple | list):
                raw_value = bytes(raw_value)
            text = _as_text(raw_value)
            if text:
                values.append(text)
    return _join(values)


def av_description(data: bytes) -> str | None:
    """ID3, MP4/MOV and WAV INFO title/comment tags, as PyAV (FFmpeg) reports them."""
    import av

    values: list[str] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            tags = [dict(container.metadata)]
            tags.extend(dict(stream.metadata) for stream in container.streams)
    except Exception:  # unreadable tags: no description
        return None
    for mapping in tags:
        for key, value in mapping.items():
            if key.lower() in DESCRIPTIVE_KEYS and isinstance(value, str):
                values.append(value)
    return _join(values)


def pdf_metadata_text(data: bytes) -> str | None:
    """A PDF's document-information title and subject."""
    from pypdf import PdfReader

    media.quiet_pypdf()
    try:
        info = PdfReader(io.BytesIO(data)).metadata
    except Exception:  # unreadable info dictionary: no description
        return None
    if info is None:
        return None
    return _join([str(v) for v in (info.title, info.subject) if v])
