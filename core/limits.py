"""Gemini Embedding 2's limits, in one table.

Every check before a request (``ge2.inputs``), every split (``ge2.split``) and the
emulator's enforcement read these numbers, so the three can never disagree.
Sources: Google's Gemini Embedding 2 docs and model card (see FACTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

DEFAULT_MODEL = "gemini-embedding-2"

#: Other ids the API serves or has served for this same model, with the id they stand for.
#: The one list: the limits, the task logic (``ge2.tasks``) and the emulator all read it.
#: ``-preview`` (March 2026) is what the frameworks' docs still name; the Gemini API retired
#: it after the GA release (reported), so ge2 sends whatever id the caller chose unchanged.
MODEL_ALIASES: Mapping[str, str] = MappingProxyType({"gemini-embedding-2-preview": DEFAULT_MODEL})
#: Every id of this model: the canonical one first.
MODEL_IDS: tuple[str, ...] = (DEFAULT_MODEL, *MODEL_ALIASES)


def model_id(model: str) -> str:
    """The bare id of ``models/...`` or ``publishers/google/models/...`` (as the API routes)."""
    return model.rsplit("/", 1)[-1]


def canonical_model(model: str) -> str:
    """The id a model name stands for: an alias becomes its model, anything else its bare id."""
    bare = model_id(model)
    return MODEL_ALIASES.get(bare, bare)


def is_gemini_embedding_2(model: str) -> bool:
    """Whether these limits apply to ``model`` (any id or resource name of this model)."""
    return canonical_model(model) == DEFAULT_MODEL


#: Tokens per input (one Content), shared by all its parts. The API truncates past it silently.
MAX_TOKENS_PER_INPUT = 8192
#: Images per input.
MAX_IMAGES_PER_INPUT = 6
#: PDF files per input, and pages per PDF.
MAX_PDFS_PER_INPUT = 1
MAX_PDF_PAGES = 6
#: Video per input: seconds at the default 1 frame per second (120 frames).
MAX_VIDEO_SECONDS = 120.0
#: Audio per input, in seconds. Vertex GA documents 180 s; Google's cookbook and the preview 80 s.
MAX_AUDIO_SECONDS = 180.0
#: Requests (inputs) per batchEmbedContents call.
MAX_BATCH_REQUESTS = 100
#: Inline bytes per HTTP request on the Gemini API (about 100 MB); ge2 packs well below it.
MAX_REQUEST_BYTES = 100 * 1024 * 1024
#: ge2's own packing target per call: large media go in smaller calls so a retry is cheap.
PACK_REQUEST_BYTES = 20 * 1024 * 1024

#: Pixels (width x height) per image that ge2 will decode or send. Read from the header before
#: any decoding, so a small file that would inflate to gigabytes (a 20000x20000 PNG is a few
#: hundred KB) is refused; a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale to fit. 64 MP
#: takes the 48-50 MP photos of current phones as they are; the model sees far fewer pixels.
MAX_IMAGE_PIXELS = 64_000_000

#: Output sizes (Matryoshka). Any size in [MIN_DIMENSIONS, MAX_DIMENSIONS] is accepted.
MAX_DIMENSIONS = 3072
MIN_DIMENSIONS = 128
RECOMMENDED_DIMENSIONS = (3072, 1536, 768, 512, 256, 128)

#: Token costs used to estimate an input's budget before sending.
TOKENS_PER_IMAGE = 258
TOKENS_PER_PDF_PAGE = 258
TOKENS_PER_AUDIO_SECOND = 25
TOKENS_PER_VIDEO_FRAME = 66
VIDEO_FRAMES_PER_SECOND = 1.0
#: Rough characters per text token, for a tokenizer-free estimate (conservative for English).
CHARS_PER_TOKEN = 3.0

#: MIME types the Gemini API accepts for this model, by modality.
IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg"})
#: Vertex AI also takes these image types.
VERTEX_EXTRA_IMAGE_MIME_TYPES = frozenset(
    {"image/webp", "image/bmp", "image/heic", "image/heif", "image/avif"}
)
AUDIO_MIME_TYPES = frozenset({"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/wave"})
VIDEO_MIME_TYPES = frozenset({"video/mp4", "video/quicktime", "video/mov"})
PDF_MIME_TYPES = frozenset({"application/pdf"})

#: Prices in USD per 1M input tokens (standard tier, reported); the Batch API is about half.
PRICE_PER_MILLION_TOKENS = {"text": 0.20, "image": 0.45, "audio": 6.50, "video": 12.00, "pdf": 0.45}


@dataclass(frozen=True)
class Quota:
    """A rate tier that ge2 paces itself to, so a long job does not run into 429 storms.

    ``per="input"`` counts each embedded input as a request, as the Gemini API does;
    ``per="request"`` counts HTTP calls (some proxies and Vertex quotas do).
    """

    requests_per_minute: float
    tokens_per_minute: float | None = None
    requests_per_day: int | None = None
    per: str = "input"

    @classmethod
    def of(cls, value: Quota | Mapping[str, Any] | None) -> Quota | None:
        """A ``Quota`` from itself, a dict of its fields (a config file's form), or None."""
        if value is None or isinstance(value, Quota):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"quota must be a ge2.Quota or a dict of its fields, not {value!r}")
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown Quota field(s) {unknown}")
        return cls(**value)


#: Published tiers (reported); pass your own ``Quota`` for anything else.
FREE_TIER = Quota(requests_per_minute=100, tokens_per_minute=30_000, requests_per_day=1_000)
TIER_1 = Quota(requests_per_minute=3_000, tokens_per_minute=1_000_000)


def estimate_text_tokens(text: str) -> int:
    """Tokens a text costs, estimated without a tokenizer (Gemini's is not available offline).

    Conservative on purpose: over-estimating splits a little early, under-estimating lets the
    API truncate silently. The emulator counts with this same function.
    """
    if not text:
        return 0
    return max(1, -(-len(text.encode("utf-8")) // int(CHARS_PER_TOKEN)))


def media_tokens(modality: str, *, seconds: float = 0.0, pages: int = 0) -> int:
    """Tokens one media part costs: image 258, PDF page 258, audio 25/s, video 66/frame at 1 fps."""
    if modality == "image":
        return TOKENS_PER_IMAGE
    if modality == "pdf":
        return TOKENS_PER_PDF_PAGE * max(pages, 1)
    if modality == "audio":
        return round(TOKENS_PER_AUDIO_SECOND * seconds)
    if modality == "video":
        return round(TOKENS_PER_VIDEO_FRAME * max(1.0, seconds * VIDEO_FRAMES_PER_SECOND))
    raise ValueError(f"unknown modality {modality!r}")
