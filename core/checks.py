"""Measure inputs against ``ge2.limits`` before anything is sent.

A hard problem (unreadable, corrupt, unsupported, empty) raises ``InputError`` naming the
item, the limit and the fix. Going over a size limit is reported in ``Measure.over`` so the
embedder can split the input (``ge2.split``) or refuse it, as the caller chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import limits, media
from .errors import InputError
from .inputs import Audio, Image, Input, Media, Mixed, Pdf, Text, Video

#: Image types Pillow can re-encode to PNG when the API does not take them as they are.
CONVERTIBLE_IMAGE_MIME_TYPES = frozenset(
    {"image/webp", "image/bmp", "image/gif", "image/tiff", "image/x-icon"}
)


@dataclass
class Measure:
    """What one input costs against the model's per-input limits."""

    tokens: int = 0
    images: int = 0
    pdfs: int = 0
    pdf_pages: int = 0
    audio_seconds: float = 0.0
    video_seconds: float = 0.0
    bytes: int = 0
    modalities: dict[str, int] = field(default_factory=dict)
    #: Human-readable limit violations that splitting can fix.
    over: list[str] = field(default_factory=list)

    def add_modality(self, name: str) -> None:
        self.modalities[name] = self.modalities.get(name, 0) + 1


def _fail(part: Input, index: int | None, problem: str, fix: str | None = None) -> InputError:
    return InputError(problem, index=index, item=part.label, fix=fix)


def _check_type(part: Media, index: int | None) -> str:
    """The part's MIME type after content sniffing; raises if type and content disagree."""
    if part.uri is not None:
        if part.mime == "application/octet-stream":
            raise _fail(part, index, "unknown type of remote file", "pass mime=...")
        return part.mime
    try:
        head = part.head()
    except OSError as exc:
        raise _fail(
            part, index, f"unreadable file ({exc.strerror or exc})", "check the path"
        ) from exc
    if not head:
        raise _fail(part, index, "empty file", "remove it or pass a non-empty file")
    sniffed = media.sniff_mime(head)
    if sniffed is None:
        raise _fail(
            part,
            index,
            f"content is not a recognisable {part.modality}",
            "the file may be corrupt or truncated",
        )
    if media.modality_of(sniffed) != part.modality:
        raise _fail(
            part,
            index,
            f"content is {sniffed}, not {part.modality} (declared {part.mime})",
            f"use ge2.load(path), which picks the type from the content, or pass a {part.modality}",
        )
    if part.path is not None:
        claimed = media.mime_from_extension(part.path.name)
        if claimed is not None and media.modality_of(claimed) != media.modality_of(sniffed):
            raise _fail(
                part,
                index,
                f"the extension says {claimed} but the content is {sniffed}",
                "rename the file to match its content",
            )
    return sniffed


def _measure_media(part: Media, index: int | None, m: Measure, *, vertexai: bool) -> None:
    mime = _check_type(part, index)
    m.add_modality(part.modality)
    m.bytes += part.size
    remote = part.uri is not None
    if isinstance(part, Image):
        accepted = limits.IMAGE_MIME_TYPES | (
            limits.VERTEX_EXTRA_IMAGE_MIME_TYPES if vertexai else frozenset()
        )
        if mime not in accepted and (remote or mime not in CONVERTIBLE_IMAGE_MIME_TYPES):
            raise _fail(part, index, f"unsupported image type {mime}", "convert it to PNG or JPEG")
        if not remote:
            try:
                media.image_info(part.source())
            except ValueError as exc:
                raise _fail(part, index, str(exc), "re-save the image as PNG or JPEG") from exc
        m.images += 1
        m.tokens += limits.media_tokens("image")
    elif isinstance(part, Pdf):
        m.pdfs += 1
        pages = 1
        if not remote:
            try:
                pages = media.pdf_page_count(part.source())
            except ValueError as exc:
                raise _fail(part, index, str(exc)) from exc
        m.pdf_pages += pages
        m.tokens += limits.media_tokens("pdf", pages=pages)
    elif isinstance(part, Audio | Video):
        allowed = limits.AUDIO_MIME_TYPES if isinstance(part, Audio) else limits.VIDEO_MIME_TYPES
        if mime not in {media.normalize_mime(a) for a in allowed}:
            fix = "convert it to MP3 or WAV" if isinstance(part, Audio) else "convert it to MP4"
            raise _fail(part, index, f"unsupported {part.modality} type {mime}", fix)
        seconds = 0.0
        if not remote:
            try:
                seconds = media.media_duration(part.source())
            except ValueError as exc:
                raise _fail(part, index, str(exc), "the file may be corrupt or truncated") from exc
        if isinstance(part, Audio):
            m.audio_seconds += seconds
            m.tokens += limits.media_tokens("audio", seconds=seconds)
        else:
            m.video_seconds += seconds
            m.tokens += limits.media_tokens("video", seconds=seconds)


def measure(
    item: Input,
    index: int | None = None,
    *,
    vertexai: bool = False,
    max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
) -> Measure:
    """Validate ``item`` and measure it; hard problems raise ``InputError`` now."""
    m = Measure()
    parts = item.parts if isinstance(item, Mixed) else (item,)
    for part in parts:
        if isinstance(part, Text):
            if not part.text.strip() and len(parts) == 1:
                raise _fail(part, index, "empty text", "drop empty strings before embedding")
            m.add_modality("text")
            m.tokens += limits.estimate_text_tokens(part.text)
            m.bytes += len(part.text.encode("utf-8"))
        else:
            _measure_media(part, index, m, vertexai=vertexai)
    if m.tokens > limits.MAX_TOKENS_PER_INPUT:
        m.over.append(
            f"about {m.tokens} tokens > {limits.MAX_TOKENS_PER_INPUT} per input "
            "(the API would silently truncate)"
        )
    if m.images > limits.MAX_IMAGES_PER_INPUT:
        m.over.append(f"{m.images} images > {limits.MAX_IMAGES_PER_INPUT} per input")
    if m.pdfs > limits.MAX_PDFS_PER_INPUT:
        m.over.append(f"{m.pdfs} PDFs > {limits.MAX_PDFS_PER_INPUT} per input")
    if m.pdf_pages > limits.MAX_PDF_PAGES:
        m.over.append(f"{m.pdf_pages} PDF pages > {limits.MAX_PDF_PAGES} per input")
    if m.video_seconds > limits.MAX_VIDEO_SECONDS:
        m.over.append(f"{m.video_seconds:.1f} s of video > {limits.MAX_VIDEO_SECONDS:.0f} s")
    if m.audio_seconds > max_audio_seconds:
        m.over.append(f"{m.audio_seconds:.1f} s of audio > {max_audio_seconds:.0f} s")
    if m.bytes > limits.MAX_REQUEST_BYTES:
        m.over.append(f"{m.bytes} bytes > {limits.MAX_REQUEST_BYTES} bytes per request")
    return m


__all__ = ["CONVERTIBLE_IMAGE_MIME_TYPES", "Measure", "measure"]
