"""Deterministic, content-derived vectors: a stand-in for the model's semantics, not the model.

Every vector is a pure function of the bytes or words it comes from, so two runs (or two
machines) give identical answers and tests can assert exact values. Text is lexical (shared
words raise cosine), images carry a small perceptual signature, PDFs use their text layer,
audio and video a content hash; media that describe themselves in their metadata are pulled
toward that description in the same lexical space, so a text query can find them.

Directions come from SHAKE-256 (hashlib), never ``hash()`` or a global RNG, so they do not
depend on PYTHONHASHSEED or the numpy version.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ge2 import limits

Vector = npt.NDArray[np.float32]

#: Every vector is computed at full size; smaller sizes are re-normalised prefixes.
FULL_DIMENSIONS = limits.MAX_DIMENSIONS

#: Weight of a media item's own signal vs. the text its metadata describes it with.
CONTENT_WEIGHT = 0.6
DESCRIPTION_WEIGHT = 0.8
#: How far a task type moves a gemini-embedding-001 vector (GE2 ignores task types).
TASK_TYPE_WEIGHT = 0.15

_WORD_RE = re.compile(r"\w+", re.UNICODE)

#: Function words get a small weight so "the" does not make unrelated texts look alike.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    }
)
_STOPWORD_WEIGHT = 0.2

_QUERY_TASKS = (
    "search result",
    "question answering",
    "fact checking",
    "code retrieval",
    "classification",
    "clustering",
    "sentence similarity",
)
_QUERY_PREFIX_RE = re.compile(
    r"^\s*task:\s*(?:" + "|".join(re.escape(t) for t in _QUERY_TASKS) + r")\s*\|\s*query:\s*",
    re.IGNORECASE,
)
_DOC_PREFIX_RE = re.compile(r"^\s*title:\s*(?P<title>.*?)\s*\|\s*text:\s*", re.IGNORECASE | re.S)


def _gaussian_from_seed(seed: bytes, n: int = FULL_DIMENSIONS) -> Vector:
    """A unit Gaussian direction fixed by ``seed`` (Box-Muller over SHAKE-256 output)."""
    half = (n + 1) // 2
    raw = hashlib.shake_256(seed).digest(half * 2 * 4)
    u = np.frombuffer(raw, dtype="<u4").astype(np.float64).reshape(2, half)
    u1 = (u[0] + 0.5) / 4294967296.0
    u2 = u[1] / 4294967296.0
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * math.pi * u2
    vec = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]
    return normalize(vec.astype(np.float32))


@lru_cache(maxsize=4096)
def word_direction(word: str) -> Vector:
    """The fixed direction of one lower-case word (cached: vocabularies repeat)."""
    vec = _gaussian_from_seed(b"ge2-emulator/word/" + word.encode("utf-8"))
    vec.setflags(write=False)
    return vec


def hash_vector(data: bytes, namespace: str = "bytes") -> Vector:
    """A unit vector seeded by a content hash: identical bytes, identical vector."""
    digest = hashlib.sha256(data).digest()
    return _gaussian_from_seed(b"ge2-emulator/" + namespace.encode() + b"/" + digest)


def normalize(vec: npt.NDArray[np.floating]) -> Vector:
    """Unit L2 norm (a zero vector stays zero)."""
    arr = np.asarray(vec, dtype=np.float32)
    norm = float(np.linalg.norm(arr))
    if norm == 0.0 or not math.isfinite(norm):
        return arr
    return (arr / norm).astype(np.float32)


def strip_instruction(text: str) -> str:
    """Drop GE2's task instruction prefixes so queries and documents share their words.

    ``task: search result | query: red fox`` -> ``red fox``;
    ``title: none | text: the red fox`` -> ``the red fox``; a real title is kept as words.
    """
    match = _QUERY_PREFIX_RE.match(text)
    if match:
        return text[match.end() :]
    match = _DOC_PREFIX_RE.match(text)
    if match:
        title = match.group("title")
        body = text[match.end() :]
        if title.strip().lower() in ("", "none"):
            return body
        return f"{title} {body}"
    return text


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD_RE.findall(text.lower())


def lexical_vector(text: str) -> Vector | None:
    """Sum of word directions with sqrt term-frequency weights; None if the text has no words."""
    counts = Counter(words(strip_instruction(text)))
    if not counts:
        return None
    vocab = list(counts)
    weights = np.array(
        [math.sqrt(counts[w]) * (_STOPWORD_WEIGHT if w in _STOPWORDS else 1.0) for w in vocab],
        dtype=np.float32,
    )
    directions = np.stack([word_direction(w) for w in vocab])
    return normalize(weights @ directions)


def text_vector(text: str) -> Vector:
    """Vector of a text part; text without words falls back to a hash of the text."""
    vec = lexical_vector(text)
    if vec is None:
        return hash_vector(text.encode("utf-8"), "text")
    return vec


def with_description(content: Vector, description: str | None) -> Vector:
    """Pull a media vector toward the text its own metadata describes it with."""
    if not description:
        return content
    lexical = lexical_vector(description)
    if lexical is None:
        return content
    return normalize(CONTENT_WEIGHT * content + DESCRIPTION_WEIGHT * lexical)


@lru_cache(maxsize=1)
def _image_projection() -> npt.NDArray[np.float32]:
    """Fixed random projection from the 128-d image signature to the full vector size."""
    rows = [_gaussian_from_seed(b"ge2-emulator/image-projection/%d" % i) for i in range(128)]
    matrix = np.stack(rows)
    matrix.setflags(write=False)
    return matrix


def image_signature(img: object) -> npt.NDArray[np.float32]:
    """128 numbers that survive re-encoding and resizing: 8x8 grey layout + 4x4x4 colours."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    rgb = img.convert("RGB")
    grey = np.asarray(rgb.convert("L").resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
    grey = grey.ravel() - float(grey.mean())
    gnorm = float(np.linalg.norm(grey))
    grey = grey / gnorm if gnorm > 1e-3 else np.zeros(64, dtype=np.float32)
    small = np.asarray(rgb.resize((16, 16), Image.Resampling.BOX), dtype=np.int32)
    bins = (small // 64).reshape(-1, 3)
    index = bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2]
    hist = np.sqrt(np.bincount(index, minlength=64).astype(np.float32))
    hist = hist / float(np.linalg.norm(hist))
    return np.concatenate([grey, hist]).astype(np.float32)


def image_vector(signature: npt.NDArray[np.float32]) -> Vector:
    """Project an ``image_signature`` into the embedding space (close images stay close)."""
    return normalize(signature @ _image_projection())


def pdf_vector(text: str, data: bytes) -> Vector:
    """A PDF is its text layer; a PDF without one (a scan) falls back to its content hash."""
    vec = lexical_vector(text)
    if vec is None:
        return hash_vector(data, "pdf")
    return vec


def file_uri_vector(uri: str, mime: str) -> Vector:
    """The emulator cannot fetch ``gs://`` or https URIs: the URI and MIME type stand in."""
    return hash_vector(f"{mime}\n{uri}".encode(), "file-uri")


def task_type_shift(vec: Vector, task_type: str) -> Vector:
    """gemini-embedding-001 conditions on the task type: a small fixed, deterministic nudge."""
    direction = _gaussian_from_seed(b"ge2-emulator/task/" + task_type.upper().encode())
    return normalize(vec + TASK_TYPE_WEIGHT * direction)


def combine(parts: Iterable[Vector]) -> Vector:
    """Several parts of ONE content give ONE vector: the normalised sum of the part vectors."""
    vectors = list(parts)
    if not vectors:
        raise ValueError("a content needs at least one part")
    if len(vectors) == 1:
        return vectors[0]
    return normalize(np.sum(np.stack(vectors), axis=0))


def truncate(vec: Vector, dimensions: int) -> Vector:
    """Matryoshka: the first ``dimensions`` values, re-normalised to unit length."""
    return normalize(vec[:dimensions])


def to_json_array(vec: Vector) -> str:
    """A JSON array of the values at 8 decimal places (6-7 significant digits at typical sizes).

    Written as integer mantissas with an exponent (``3612345e-8``, valid JSON that every
    parser reads as 0.03612345): formatting ints is about 2.5x faster than formatting floats,
    and serialisation dominates the emulator's cost per item.
    """
    scaled = np.rint(vec.astype(np.float64) * 1e8).astype(np.int64)
    if scaled.size == 0:
        return "[]"
    return "[" + "e-8,".join(map(str, scaled.tolist())) + "e-8]"
