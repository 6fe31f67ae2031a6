"""Request parsing for ``ge2 weaviate-inference``: bytes in, a ``Parsed`` request or a 4xx out.

Pure functions, no sockets and no embedding, so the parsing can be fuzzed: whatever a
client sends, the result is either a ``Parsed`` request or a ``BadRequest`` that carries
its HTTP status and a message naming the field, the limit and the fix. Nothing here
decodes an image: pixel counts are read from the image header (Pillow's lazy ``open``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import ge2

#: Request fields of the multi2vec-bind protocol and the response field each answers in.
MEDIA_FIELDS = {"images": "imageVectors", "audio": "audioVectors", "video": "videoVectors"}
UNSUPPORTED_FIELDS = {"imu": "imuVectors", "thermal": "thermalVectors", "depth": "depthVectors"}
#: Where the protocols POST: multi2vec-* at /vectorize, text2vec-transformers at /vectors.
POST_PATHS = ("/vectorize", "/vectors", "/vectors/")
#: text2vec-transformers ``config.task_type`` -> ge2 task.
TRANSFORMERS_TASKS = {"passage": "document", "query": "query"}

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Inputs (texts + media) in one request; Weaviate sends one object or one batch per call.
DEFAULT_MAX_ITEMS = 10_000
#: Pixels (width x height) of one image, read from its header before anything decodes it:
#: 50 megapixels covers a 48 MP phone photo; a decoded image costs 3-4 bytes per pixel.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
#: Commas and brackets in one body: an upper bound on the JSON values it can hold, which
#: bounds what ``json.loads`` builds in memory (a 64 MB body of ``[],`` would be 1.4 GB).
DEFAULT_MAX_JSON_TOKENS = 2_000_000

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadRequest(Exception):
    """A request this server refuses, with its HTTP status (always a 4xx).

    400: the body is not a JSON object; 413: the body is too large; 422: a field's value
    is unusable (wrong type, bad base64, not media, over a limit): its message names the
    field, the limit and the fix.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may hold; each is a command-line option of the service."""

    max_body_bytes: int = DEFAULT_MAX_BYTES
    max_items: int = DEFAULT_MAX_ITEMS
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_json_tokens: int = DEFAULT_MAX_JSON_TOKENS


@dataclass
class Parsed:
    """A request understood: what to embed, with which task, and how to shape the answer."""

    kind: Literal["vectorize", "vectors", "vector"]
    inputs: list[ge2.Input]
    task: str
    #: ``/vectorize`` only: response field -> the slice of ``inputs`` it answers.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def field(self, index: int) -> str:
        """The request field that input ``index`` came from (``images[2]``), for errors."""
        if self.kind == "vector":
            return "text"
        if self.kind == "vectors":
            return f"texts[{index}]"
        names = {"textVectors": "texts", **{a: n for n, a in MEDIA_FIELDS.items()}}
        for answer, (start, end) in self.spans.items():
            if start <= index < end:
                return f"{names[answer]}[{index - start}]"
        return f"input #{index}"

    def answer(self, vectors: list[list[float]], dimensions: int) -> dict[str, Any]:
        """The protocol's response body for the vectors of ``inputs`` (same order)."""
        if self.kind == "vectorize":
            out: dict[str, Any] = {a: vectors[s:e] for a, (s, e) in self.spans.items()}
            out.update({a: [] for a in UNSUPPORTED_FIELDS.values()})
            return out
        if self.kind == "vectors":
            return {"vectors": vectors, "dims": dimensions}
        text = self.inputs[0]
        assert isinstance(text, ge2.Text)
        return {"text": text.text, "vector": vectors[0], "dims": len(vectors[0])}


def check_post_path(path: str) -> None:
    """Refuse a POST to a path no protocol uses (before its body is read)."""
    if path not in POST_PATHS:
        raise BadRequest(404, f"POST {path} is not served here (try /vectorize or /vectors)")


def parse_request(path: str, raw: bytes | bytearray, limits: Limits, text_task: str) -> Parsed:
    """``POST path`` with body ``raw`` as a ``Parsed`` request, or ``BadRequest``."""
    check_post_path(path)
    body = decode_json(raw, limits)
    if path == "/vectorize":
        return parse_vectorize(body, limits, text_task)
    return parse_vectors(body, limits, text_task)


def decode_json(raw: bytes | bytearray, limits: Limits = Limits()) -> dict[str, Any]:
    """The body as a JSON object; every way it can be malformed is a 400 or a 413."""
    if len(raw) > limits.max_body_bytes:
        raise BadRequest(
            413,
            f"request body of {len(raw)} bytes is over the limit of {limits.max_body_bytes} "
            "bytes; send fewer items per request or raise --max-request-mb",
        )
    tokens = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if tokens > limits.max_json_tokens:
        raise BadRequest(
            413,
            f"the body holds {tokens} commas and brackets, over the limit of "
            f"{limits.max_json_tokens}; send fewer items per request",
        )
    if not raw or raw.isspace():
        return {}
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            400, f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise BadRequest(
            400,
            "the body's JSON is nested too deeply; Weaviate's requests are an object of "
            "lists of strings",
        ) from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise BadRequest(400, f"the body is not usable JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return body


def parse_vectorize(body: dict[str, Any], limits: Limits, text_task: str) -> Parsed:
    """``POST /vectorize`` (multi2vec-bind and multi2vec-clip)."""
    for name in UNSUPPORTED_FIELDS:
        if body.get(name):
            raise BadRequest(
                422,
                f"{name}: Gemini Embedding 2 does not embed {name} data; leave {name} out "
                "(texts, images, audio and video are embedded)",
            )
    fields = {name: strings(body, name) for name in ("texts", *MEDIA_FIELDS)}
    _check_count(sum(len(v) for v in fields.values()), limits)
    inputs: list[ge2.Input] = [ge2.Text(t) for t in fields["texts"]]
    spans = {"textVectors": (0, len(inputs))}
    for name, answer in MEDIA_FIELDS.items():
        start = len(inputs)
        inputs.extend(media(v, f"{name}[{i}]", limits) for i, v in enumerate(fields[name]))
        spans[answer] = (start, len(inputs))
    return Parsed("vectorize", inputs, text_task, spans)


def parse_vectors(body: dict[str, Any], limits: Limits, text_task: str) -> Parsed:
    """``POST /vectors`` (text2vec-transformers), single or batched."""
    config = body.get("config")
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise BadRequest(
            422,
            f"config: expected an object, got {_json_type(config)}; send "
            '"config": {"task_type": "query"} or leave it out',
        )
    task_type = config.get("task_type")
    task = TRANSFORMERS_TASKS.get(task_type, text_task) if isinstance(task_type, str) else text_task
    if "texts" in body:
        texts = strings(body, "texts")
        _check_count(len(texts), limits)
        return Parsed("vectors", [ge2.Text(t) for t in texts], task)
    text = body.get("text")
    if not isinstance(text, str) or not text:
        got = "an empty string" if text == "" else _json_type(text)
        raise BadRequest(
            422,
            f'text: expected a non-empty string, got {got}; send {{"text": "..."}}, or '
            '{"texts": ["...", ...]} for several',
        )
    _check_unicode(text, "text")
    return Parsed("vector", [ge2.Text(text)], task)


def strings(body: dict[str, Any], name: str) -> list[str]:
    """A list-of-strings field (absent means empty), each string valid Unicode."""
    value = body.get(name)
    if value is None:
        return []
    what = "texts" if name == "texts" else "base64 strings (one per file)"
    if not isinstance(value, list):
        raise BadRequest(
            422,
            f"{name}: expected a list of {what}, got {_json_type(value)}; send "
            f'"{name}": ["..."] even for one item',
        )
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise BadRequest(
                422,
                f"{name}[{i}]: expected a string, got {_json_type(v)}; {name} is a list of {what}",
            )
    for i, v in enumerate(value):
        _check_unicode(v, f"{name}[{i}]")
    return value


def media(value: str, where: str, limits: Limits) -> ge2.Input:
    """A base64 blob as the ge2 input its content says it is (a PDF stays a PDF)."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            422,
            f"{where}: not valid base64; send the file's bytes base64-encoded (standard "
            "alphabet with padding, no data: prefix or line breaks)",
        ) from None
    try:
        item = ge2.load(data)
    except ge2.InputError as exc:
        fix = exc.fix or "send a PNG, JPEG, MP3, WAV, MP4, MOV or PDF file"
        raise BadRequest(422, f"{where}: {exc.problem}; {fix}") from exc
    if isinstance(item, ge2.Text):
        raise BadRequest(422, f"{where}: holds text, not media; send it in texts")
    if isinstance(item, ge2.Image):
        check_pixels(data, where, limits.max_image_pixels)
    return item


def check_pixels(data: bytes, where: str, max_pixels: int) -> None:
    """Refuse an image whose header says it has more than ``max_pixels`` pixels.

    The core's header reader (``ge2.media.image_header``) decodes nothing. An image it
    cannot read is left to the embedder, which names the problem.
    """
    from ge2 import media

    try:
        info = media.image_header(data)
    except ValueError:
        return
    problem = media.pixel_problem(info, max_pixels)
    if problem is not None:
        raise BadRequest(
            422, f"{where}: image of {problem}; downscale it, or raise --max-image-pixels"
        )


def _check_unicode(text: str, where: str) -> None:
    found = _SURROGATE.search(text)
    if found:
        raise BadRequest(
            422,
            f"{where}: holds a lone UTF-16 surrogate (U+{ord(found.group()):04X}) at character "
            f"{found.start()}, which is not valid Unicode; send it as a surrogate pair or "
            "replace it",
        )


def _json_type(value: object) -> str:
    """What a JSON value is, as a client would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_items:
        raise BadRequest(
            422,
            f"{count} inputs in one request, over the limit of {limits.max_items}; "
            "send fewer items per request, or raise --max-items",
        )
