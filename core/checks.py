"""Measure inputs against ``ge2.limits`` before anything is sent.

A hard problem (unreadable, corrupt, unsupported, empty) raises ``InputError`` naming the
item, the limit and the fix. Going over a size limit is reported in ``Measure.over`` so the
embedder can split the input (``ge2.split``) or refuse it, as the caller chose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import limits, media
from .errors import ConfigurationError, InputError
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


def check_dimensions(value: object) -> int:
    """An output size as an int in 128..3072, or ``ConfigurationError`` naming the allowed ones.

    A str such as ``"768"`` is refused rather than converted: a size read from a config file
    should be converted where it is read, so a typo there cannot pass silently.
    """
    allowed = (
        f"an int in {limits.MIN_DIMENSIONS}..{limits.MAX_DIMENSIONS} "
        f"(recommended: {', '.join(map(str, limits.RECOMMENDED_DIMENSIONS))})"
    )
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        hint = f"; write dimensions={value.strip()}" if isinstance(value, str) else ""
        raise ConfigurationError(
            f"dimensions={value!r} is a {type(value).__name__}; it must be {allowed}{hint}"
        )
    if not limits.MIN_DIMENSIONS <= value <= limits.MAX_DIMENSIONS:
        raise ConfigurationError(
            f"dimensions={int(value)} is outside {limits.MIN_DIMENSIONS}..{limits.MAX_DIMENSIONS}; "
            f"it must be {allowed}"
        )
    return int(value)


def dimension_sizes(value: object) -> list[int]:
    """The sizes asked for: one int, or a non-empty list of them (several sizes, one call)."""
    if (
        isinstance(value, int | np.integer)
        or not isinstance(value, Iterable)
        or (isinstance(value, str | bytes))
    ):
        return [check_dimensions(value)]
    sizes = [check_dimensions(d) for d in value]
    if not sizes:
        raise ConfigurationError("dimensions=[] asks for no vectors")
    return sizes


def input_list(inputs: object, method: str) -> Iterable[Any]:
    """The caller's inputs if they are a list (any iterable) of inputs, else a ``TypeError``.

    A bare str is iterable, so ``embed("abc")`` would otherwise embed three one-letter texts.
    """
    one = "aembed_one" if method.startswith("a") else "embed_one"
    if isinstance(inputs, str | bytes | bytearray | memoryview):
        unit = "character" if isinstance(inputs, str) else "byte"
        kind = "str" if isinstance(inputs, str) else type(inputs).__name__
        raise TypeError(
            f"{method}() takes a list of inputs, not a single {kind} (it would embed one "
            f"{unit} at a time); use {one}(x) for one input, or {method}([x])"
        )
    if not isinstance(inputs, Iterable):
        raise TypeError(
            f"{method}() takes a list of inputs (str, paths, bytes, PIL images or ge2 inputs), "
            f"not {type(inputs).__name__}; use {one}(x) for one input, or {method}([x])"
        )
    return inputs


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
    except (OSError, ValueError) as exc:  # ValueError: a path the OS cannot encode
        problem = getattr(exc, "strerror", None) or exc
        raise _fail(part, index, f"unreadable file ({problem})", "check the path") from exc
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
    try:
        m.bytes += part.size
    except (OSError, ValueError) as exc:
        raise _fail(part, index, f"unreadable file ({exc})", "check the path") from exc
    remote = part.uri is not None
    if isinstance(part, Image):
        accepted = limits.IMAGE_MIME_TYPES | (
            limits.VERTEX_EXTRA_IMAGE_MIME_TYPES if vertexai else frozenset()
        )
        if mime not in accepted and (remote or mime not in CONVERTIBLE_IMAGE_MIME_TYPES):
            raise _fail(part, index, f"unsupported image type {mime}", "convert it to PNG or JPEG")
        if not remote:
            # Header first: an image over the pixel limit is refused before Pillow decodes it.
            try:
                media.check_image(part.source(), item=part.label)
            except InputError as exc:
                raise _fail(part, index, exc.problem, exc.fix) from exc
        m.images += 1
        m.tokens += limits.media_tokens("image")
    elif isinstance(part, Pdf):
        m.pdfs += 1
        pages = 1
        if not remote:
            try:
                pages = media.pdf_page_count(part.source())
            except ValueError as exc:
                fix = "qpdf --decrypt in.pdf out.pdf" if "encrypted" in str(exc) else media.PDF_FIX
                raise _fail(part, index, str(exc), fix) from exc
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


__all__ = [
    "CONVERTIBLE_IMAGE_MIME_TYPES",
    "Measure",
    "check_dimensions",
    "dimension_sizes",
    "input_list",
    "measure",
]
