"""Over-limit input -> several in-limit inputs, each carrying its provenance.

Text by token windows with overlap; image sets in groups of at most 6. (PDF page windows
and audio/video time windows: see the media-splitting work.)
"""

from __future__ import annotations

from dataclasses import dataclass

from . import limits
from .errors import InputError
from .inputs import Image, Input, Media, Mixed, Text


@dataclass(frozen=True)
class SplitOptions:
    """Window sizes and overlaps for splitting; defaults fill each piece to the model's limit."""

    text_tokens: int = limits.MAX_TOKENS_PER_INPUT
    text_overlap_tokens: int = 256
    pdf_pages: int = limits.MAX_PDF_PAGES
    pdf_overlap_pages: int = 0
    video_seconds: float = limits.MAX_VIDEO_SECONDS
    audio_seconds: float | None = None
    media_overlap_seconds: float = 0.0
    images_per_piece: int = limits.MAX_IMAGES_PER_INPUT


def split_text(item: Text, options: SplitOptions) -> list[Input]:
    """Character windows sized from the token estimate, cut at whitespace where possible."""
    chars = int(options.text_tokens * limits.CHARS_PER_TOKEN) - 16
    overlap = int(options.text_overlap_tokens * limits.CHARS_PER_TOKEN)
    text = item.text
    pieces: list[Input] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + chars)
        while limits.estimate_text_tokens(text[start:end]) > options.text_tokens:
            end -= max(1, (end - start) // 20)
        if end < len(text):
            cut = text.rfind(" ", start + chars // 2, end)
            end = cut if cut > start else end
        src = dict(item.provenance)
        pieces.append(
            Text(text[start:end], item.title, provenance={**src, "char_start": start,
                                                           "char_end": end})
        )
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return pieces


def split(
    item: Input, options: SplitOptions | None = None, *,
    max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
) -> list[Input]:
    """In-limit pieces of ``item`` (the item itself if it needs no split)."""
    options = options or SplitOptions()
    if isinstance(item, Text):
        return split_text(item, options)
    if isinstance(item, Mixed):
        images = [p for p in item.parts if isinstance(p, Image)]
        others = [p for p in item.parts if not isinstance(p, Image)]
        if len(images) > limits.MAX_IMAGES_PER_INPUT and all(
            isinstance(p, Text) for p in others
        ):
            n = options.images_per_piece
            return [
                Mixed([*others, *images[i : i + n]], provenance={"images": [i, i + len(images[i : i + n])]})
                for i in range(0, len(images), n)
            ]
    label = item.label if isinstance(item, Media | Mixed) else "input"
    raise InputError(
        "over the model's limits and ge2 cannot split this kind of input yet",
        item=label,
        fix="split it yourself, or pass overflow='error' to fail fast",
    )
