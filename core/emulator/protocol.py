"""Request parsing, limit enforcement and vector assembly for the embedding routes.

Both API surfaces are handled here, independent of HTTP: the Gemini Developer API
(``requests[].{content, taskType, outputDimensionality}``) and Vertex AI
(``content`` + ``embedContentConfig``). Field names are accepted in camelCase and
snake_case (protobuf JSON allows both, and google-genai itself mixes them:
``inline_data.mime_type`` on the Gemini API, ``inlineData.mime_type`` on Vertex).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from ge2 import limits, media

from . import media_meta, vectors

Api = Literal["gemini", "vertex"]

_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the served models."""

    multimodal: bool
    token_budget: int
    task_type_matters: bool


#: gemini-embedding-001 is text only with a 2,048-token input (its own limit, not in limits.py).
MODELS: dict[str, ModelSpec] = {
    "gemini-embedding-2": ModelSpec(True, limits.MAX_TOKENS_PER_INPUT, False),
    "gemini-embedding-001": ModelSpec(False, 2048, True),
}


class ApiError(Exception):
    """An error answer with the API's body: ``{"error": {"code", "message", "status"}}``."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body google-genai's ``errors.APIError`` parses."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str, field_path: str | None = None) -> ApiError:
    """400 INVALID_ARGUMENT, with a BadRequest field violation like the API adds."""
    details = None
    if field_path:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field_path, "description": message}],
            }
        ]
    return ApiError(400, "INVALID_ARGUMENT", message, details)


def resolve_model(name: str) -> str | None:
    """``models/gemini-embedding-2``, ``publishers/google/models/...`` or an alias of a served
    model (``limits.MODEL_ALIASES``: ``gemini-embedding-2-preview``) -> the served id."""
    model_id = limits.canonical_model(name)
    return model_id if model_id in MODELS else None


def served_ids() -> list[str]:
    """Every model id the emulator answers for: the served models and their aliases."""
    aliases = [a for a, model in limits.MODEL_ALIASES.items() if model in MODELS]
    return sorted([*MODELS, *aliases])


def _get(obj: dict[str, Any], camel: str) -> Any:
    """A protobuf-JSON field by its camelCase or snake_case name."""
    if camel in obj:
        return obj[camel]
    return obj.get(_CAMEL_RE.sub("_", camel).lower())


@dataclass
class Part:
    """One validated part of a content, ready to become a vector."""

    modality: media.Modality
    mime: str
    text: str = ""
    uri: str = ""
    tokens: int = 0
    vector: vectors.Vector | None = None


@dataclass
class Prepared:
    """One validated content (one future vector) with what the stats and log report."""

    index: int
    parts: list[Part]
    dimensions: int
    task_type: str | None
    title: str | None
    tokens: int = 0
    truncated: bool = False
    mimes: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _MediaFacts:
    vector: vectors.Vector
    seconds: float = 0.0
    pages: int = 0


class _MediaCache:
    """Decoded media by content hash: benchmarks and retries resend the same bytes."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], _MediaFacts] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> _MediaFacts | None:
        with self._lock:
            facts = self._items.get(key)
            if facts is not None:
                self._items.move_to_end(key)
            return facts

    def put(self, key: tuple[str, str], facts: _MediaFacts) -> None:
        with self._lock:
            self._items[key] = facts
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_MEDIA_CACHE = _MediaCache()

_ALL_AUDIO = frozenset(media.normalize_mime(m) for m in limits.AUDIO_MIME_TYPES)
_ALL_VIDEO = frozenset(media.normalize_mime(m) for m in limits.VIDEO_MIME_TYPES)
_HEIF_FAMILY = frozenset({"image/heic", "image/heif", "image/avif"})


def allowed_mime_types(api: Api) -> frozenset[str]:
    """Media types GE2 accepts on each surface (Vertex also takes WebP, BMP, HEIC, HEIF, AVIF)."""
    images = set(limits.IMAGE_MIME_TYPES)
    if api == "vertex":
        images |= limits.VERTEX_EXTRA_IMAGE_MIME_TYPES
    allowed: frozenset[str] = frozenset(images) | _ALL_AUDIO | _ALL_VIDEO | limits.PDF_MIME_TYPES
    return allowed


def decode_base64(data: str) -> bytes:
    """Standard or URL-safe base64, padded or not (google-genai sends URL-safe)."""
    cleaned = "".join(data.split()).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned, validate=True)


def _sniff_agrees(declared: str, sniffed: str | None) -> bool:
    if sniffed is None:
        return False
    if sniffed == declared:
        return True
    if declared in _ALL_VIDEO and sniffed in _ALL_VIDEO:
        return True  # MP4 and MOV are the same ISO-BMFF family
    return declared in _HEIF_FAMILY and sniffed in _HEIF_FAMILY


def _analyse_media(data: bytes, mime: str, modality: str, where: str) -> _MediaFacts:
    """Decode once (cached): vector, duration or pages. Unreadable bytes are a 400."""
    key = (hashlib.sha256(data).hexdigest(), mime)
    cached = _MEDIA_CACHE.get(key)
    if cached is not None:
        return cached
    facts: _MediaFacts
    try:
        if modality == "image":
            facts = _MediaFacts(_image_vector(data, mime))
        elif modality == "pdf":
            pages = media.pdf_page_count(data)
            text = media.pdf_text(data, max_pages=limits.MAX_PDF_PAGES)
            extra = media_meta.pdf_metadata_text(data)
            vec = vectors.pdf_vector(f"{extra or ''} {text}", data)
            facts = _MediaFacts(vec, pages=pages)
        else:
            seconds = media.media_duration(data)
            vec = vectors.with_description(
                vectors.hash_vector(data, modality), media_meta.av_description(data)
            )
            facts = _MediaFacts(vec, seconds=seconds)
    except ValueError as exc:
        raise invalid(
            f"{where}: Unable to process input {modality}: the inline data is not a readable "
            f"{mime} ({exc}).",
            where,
        ) from exc
    _MEDIA_CACHE.put(key, facts)
    return facts


def _image_vector(data: bytes, mime: str) -> vectors.Vector:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (64, 64))
            img.load()
            signature = vectors.image_signature(img)
            description = media_meta.image_description(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if mime in _HEIF_FAMILY:  # no decoder here; the bytes were sniffed as this type
            return vectors.hash_vector(data, "image")
        raise ValueError(f"not a readable image ({exc})") from exc
    vec = vectors.image_vector(signature)
    return vectors.with_description(vec, description)


def parse_requests(body: Any, method: str) -> list[tuple[str, dict[str, Any]]]:
    """The embedding requests of a body, each with the field path errors should name."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    if method == "embedContent":
        return [("content", body)]
    requests = _get(body, "requests")
    if not isinstance(requests, list):
        raise invalid("Invalid JSON payload received. 'requests' must be a list.", "requests")
    if not requests:
        raise invalid(
            "* BatchEmbedContentsRequest.requests: requests must not be empty", "requests"
        )
    if len(requests) > limits.MAX_BATCH_REQUESTS:
        raise invalid(
            f"* BatchEmbedContentsRequest.requests: at most {limits.MAX_BATCH_REQUESTS} requests "
            f"can be in one batch (got {len(requests)})",
            "requests",
        )
    out = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict):
            raise invalid(f"requests[{i}]: must be an object", f"requests[{i}]")
        out.append((f"requests[{i}]", req))
    return out


def _settings(req: dict[str, Any]) -> dict[str, Any]:
    """taskType/title/outputDimensionality/autoTruncate, top-level or in embedContentConfig."""
    merged: dict[str, Any] = {}
    nested = _get(req, "embedContentConfig")
    for source in (req, nested if isinstance(nested, dict) else {}):
        for name in ("taskType", "title", "outputDimensionality", "autoTruncate"):
            value = _get(source, name)
            if value is not None:
                merged[name] = value
    return merged


def prepare(
    index: int,
    where: str,
    req: dict[str, Any],
    *,
    model: str,
    api: Api,
    max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
) -> Prepared:
    """Validate one request against the model's limits; raise ``ApiError`` naming ``where``."""
    spec = MODELS[model]
    req_model = _get(req, "model")
    if isinstance(req_model, str) and req_model and resolve_model(req_model) != model:
        raise invalid(
            f"{where}.model: '{req_model}' does not match the model in the URL ('models/{model}').",
            f"{where}.model",
        )
    settings = _settings(req)
    dimensions = _dimensions(settings.get("outputDimensionality"), where)
    task_type = settings.get("taskType")
    task_type = str(task_type) if task_type not in (None, "", "TASK_TYPE_UNSPECIFIED") else None
    title = settings.get("title")
    content = _get(req, "content")
    if not isinstance(content, dict):
        raise invalid(f"{where}.content: content is required.", f"{where}.content")
    raw_parts = _get(content, "parts")
    if not isinstance(raw_parts, list) or not raw_parts:
        raise invalid(
            f"{where}.content: content must not be empty (it has no parts).", f"{where}.content"
        )

    parts: list[Part] = []
    counts = {"image": 0, "pdf": 0}
    for j, raw in enumerate(raw_parts):
        part_where = f"{where}.content.parts[{j}]"
        part = _parse_part(raw, part_where, spec, api, model, max_audio_seconds)
        if part.modality in counts:
            counts[part.modality] += 1
        parts.append(part)
    if counts["image"] > limits.MAX_IMAGES_PER_INPUT:
        raise invalid(
            f"{where}.content: at most {limits.MAX_IMAGES_PER_INPUT} images are allowed in one "
            f"content (got {counts['image']}).",
            f"{where}.content",
        )
    if counts["pdf"] > limits.MAX_PDFS_PER_INPUT:
        raise invalid(
            f"{where}.content: at most {limits.MAX_PDFS_PER_INPUT} PDF is allowed in one content "
            f"(got {counts['pdf']}).",
            f"{where}.content",
        )
    if all(p.modality == "text" and not p.text.strip() for p in parts):
        raise invalid(
            f"{where}.content: content must not be empty (no text and no media).",
            f"{where}.content",
        )

    prepared = Prepared(
        index=index,
        parts=parts,
        dimensions=dimensions,
        task_type=task_type,
        title=str(title) if title else None,
        mimes=[p.mime for p in parts],
        texts=[p.text[:80] for p in parts if p.modality == "text"],
    )
    _apply_token_budget(prepared, spec.token_budget)
    if prepared.truncated and settings.get("autoTruncate") is False:
        total = sum(p.tokens for p in parts)
        raise invalid(
            f"{where}.content: the input has about {total} tokens, more than the model's "
            f"{spec.token_budget}, and autoTruncate is false.",
            f"{where}.content",
        )
    return prepared


def _dimensions(value: Any, where: str) -> int:
    full: int = limits.MAX_DIMENSIONS
    if value is None:
        return full
    try:
        dims = int(value)
    except (TypeError, ValueError):
        raise invalid(
            f"{where}.outputDimensionality: invalid value {value!r}, expected an integer.",
            f"{where}.output_dimensionality",
        ) from None
    if dims == 0:
        return full  # proto3 default: unset
    if not limits.MIN_DIMENSIONS <= dims <= limits.MAX_DIMENSIONS:
        raise invalid(
            f"{where}.outputDimensionality: {dims} is out of range; it must be between "
            f"{limits.MIN_DIMENSIONS} and {limits.MAX_DIMENSIONS}.",
            f"{where}.output_dimensionality",
        )
    return dims


def _parse_part(
    raw: Any, where: str, spec: ModelSpec, api: Api, model: str, max_audio_seconds: float
) -> Part:
    if not isinstance(raw, dict):
        raise invalid(f"{where}: a part must be an object.", where)
    text = raw.get("text")
    if isinstance(text, str):
        tokens = limits.estimate_text_tokens(text)
        return Part("text", "text/plain", text=text, tokens=tokens)
    inline = _get(raw, "inlineData")
    file_data = _get(raw, "fileData")
    blob = (
        inline if isinstance(inline, dict) else file_data if isinstance(file_data, dict) else None
    )
    if blob is None:
        raise invalid(
            f"{where}: unsupported part; embedding takes text, inline_data or file_data.", where
        )
    kind = "inline_data" if blob is inline else "file_data"
    declared = _get(blob, "mimeType")
    if not isinstance(declared, str) or not declared.strip():
        raise invalid(f"{where}.{kind}.mime_type: a MIME type is required.", f"{where}.{kind}")
    mime = media.normalize_mime(declared)
    modality = media.modality_of(mime)
    if not spec.multimodal:
        raise invalid(
            f"{where}: {model} embeds text only; got a {kind} part of type {declared}.", where
        )
    if modality is None or modality == "text" or mime not in allowed_mime_types(api):
        surface = "Vertex AI" if api == "vertex" else "the Gemini API"
        raise invalid(
            f"{where}.{kind}.mime_type: Unsupported MIME type: {declared} ({model} on {surface} "
            f"accepts {', '.join(sorted(allowed_mime_types(api)))}).",
            f"{where}.{kind}.mime_type",
        )
    if kind == "file_data":
        uri = _get(blob, "fileUri")
        if not isinstance(uri, str) or not uri:
            raise invalid(f"{where}.file_data.file_uri: a file URI is required.", where)
        tokens = limits.media_tokens(modality, pages=1)
        return Part(
            modality, mime, uri=uri, tokens=tokens, vector=vectors.file_uri_vector(uri, mime)
        )

    data_field = _get(blob, "data")
    if not isinstance(data_field, str) or not data_field:
        raise invalid(f"{where}.inline_data.data: the data is empty.", f"{where}.inline_data.data")
    try:
        data = decode_base64(data_field)
    except (binascii.Error, ValueError):
        raise invalid(
            f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed.",
            f"{where}.inline_data.data",
        ) from None
    sniffed = media.sniff_mime(data[: media.SNIFF_BYTES])
    if not _sniff_agrees(mime, sniffed):
        raise invalid(
            f"{where}.inline_data: Unable to process input {modality}: the bytes are not "
            f"{declared} (they look like {sniffed or 'unknown data'}).",
            f"{where}.inline_data",
        )
    facts = _analyse_media(data, mime, modality, f"{where}.inline_data")
    if modality == "pdf" and facts.pages > limits.MAX_PDF_PAGES:
        raise invalid(
            f"{where}.inline_data: the PDF has {facts.pages} pages; at most "
            f"{limits.MAX_PDF_PAGES} pages are allowed.",
            f"{where}.inline_data",
        )
    if modality == "video" and facts.seconds > limits.MAX_VIDEO_SECONDS:
        raise invalid(
            f"{where}.inline_data: the video is {facts.seconds:.1f} s long; at most "
            f"{limits.MAX_VIDEO_SECONDS:g} s are allowed.",
            f"{where}.inline_data",
        )
    if modality == "audio" and facts.seconds > max_audio_seconds:
        raise invalid(
            f"{where}.inline_data: the audio is {facts.seconds:.1f} s long; at most "
            f"{max_audio_seconds:g} s are allowed.",
            f"{where}.inline_data",
        )
    tokens = limits.media_tokens(modality, seconds=facts.seconds, pages=facts.pages)
    return Part(modality, mime, tokens=tokens, vector=facts.vector)


def _apply_token_budget(prepared: Prepared, budget: int) -> None:
    """Past the budget the API truncates silently: cut the text, drop the later parts."""
    remaining = budget
    kept: list[Part] = []
    for part in prepared.parts:
        if part.tokens <= remaining:
            kept.append(part)
            remaining -= part.tokens
            continue
        prepared.truncated = True
        if part.modality == "text" and remaining > 0:
            cut = part.text.encode("utf-8")[: int(remaining * limits.CHARS_PER_TOKEN)]
            text = cut.decode("utf-8", errors="ignore")
            kept.append(Part("text", "text/plain", text=text, tokens=remaining))
            remaining = 0
        break
    if not kept:  # a first part larger than the whole budget still yields a vector
        kept = prepared.parts[:1]
    prepared.tokens = sum(p.tokens for p in kept)
    prepared.parts = kept


def content_vector(prepared: Prepared, model: str) -> vectors.Vector:
    """The full-size vector of one validated content (before Matryoshka truncation)."""
    spec = MODELS[model]
    part_vectors = []
    for part in prepared.parts:
        if part.modality == "text":
            if not part.text.strip():
                continue
            part_vectors.append(vectors.text_vector(part.text))
        elif part.vector is not None:
            part_vectors.append(part.vector)
    if spec.task_type_matters and prepared.title and prepared.task_type == "RETRIEVAL_DOCUMENT":
        part_vectors.append(vectors.text_vector(prepared.title))
    vec = vectors.combine(part_vectors)
    if spec.task_type_matters and prepared.task_type:
        vec = vectors.task_type_shift(vec, prepared.task_type)
    return vec


def embed_content_vector(
    content: dict[str, Any] | str,
    model: str = "gemini-embedding-2",
    dimensions: int = limits.MAX_DIMENSIONS,
    *,
    task_type: str | None = None,
    api: Api = "gemini",
) -> list[float]:
    """The values the emulator would answer for one content (for tests; same code path).

    ``content`` is a Content dict (``{"parts": [...]}``) or a plain string. Values are
    rounded exactly as the server writes them, so they compare equal to what the SDK returns.
    """
    resolved = resolve_model(model)
    if resolved is None:
        raise ValueError(f"unknown model {model!r}; the emulator serves {served_ids()}")
    if isinstance(content, str):
        content = {"parts": [{"text": content}]}
    req: dict[str, Any] = {"content": content, "outputDimensionality": dimensions}
    if task_type:
        req["taskType"] = task_type
    prepared = prepare(0, "content", req, model=resolved, api=api)
    vec = vectors.truncate(content_vector(prepared, resolved), prepared.dimensions)
    return [float(x) for x in vectors.to_json_array(vec)[1:-1].split(",")]
