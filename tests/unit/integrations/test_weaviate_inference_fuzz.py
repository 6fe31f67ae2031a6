"""Fuzzing the inference service's request parsing: any body is a ``Parsed`` request or a 4xx.

``protocol.parse_request`` is pure (no socket, no embedding), so hypothesis can throw raw
bytes, arbitrary JSON and protocol-shaped bodies with hostile values at it. Whatever comes
in, the outcome is either a request whose inputs are valid (texts encode as UTF-8, the
answer serialises) or a ``BadRequest`` with a 4xx status and a message; never another
exception, which on the server would be a 500 or a dropped connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ge2
from ge2 import samples
from ge2.integrations.weaviate.asgi import BodyBudget
from ge2.integrations.weaviate.protocol import (
    BadRequest,
    Limits,
    Parsed,
    check_pixels,
    decode_json,
    parse_request,
)

# Images between Pillow's warning and error sizes warn on open; the check refuses them anyway.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

LIMITS = Limits(
    max_body_bytes=2**20, max_items=40, max_image_pixels=1_000_000, max_json_tokens=200_000
)
PATHS = st.sampled_from(["/vectorize", "/vectors", "/vectors/", "/meta", "/", "/t/x/vectorize"])
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def png_header(width: int, height: int) -> bytes:
    """A PNG of any claimed size that is only its header and a stub of pixel data: enough
    for Pillow to read the size, and nothing a decoder could finish."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    stub = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stub) + chunk(b"IEND", b"")


BLOBS = [
    samples.png(description="a fox"),
    samples.jpeg(description="a lighthouse"),
    samples.pdf(["a page"]),
    samples.audio(0.2),
    b"just some text",
    b"",
]

# Any code point, lone surrogates included (hypothesis leaves them out by default).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
blob = (
    st.sampled_from(BLOBS)
    | st.binary(max_size=64)
    | st.builds(png_header, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
    | st.builds(lambda b, n: b[:n], st.sampled_from(BLOBS), st.integers(0, 400))
)
media_value = st.builds(lambda b: base64.b64encode(b).decode(), blob) | any_text | json_value
media_list = st.lists(media_value, max_size=4) | json_value
shaped_body = st.fixed_dictionaries(
    {},
    optional={
        "texts": st.lists(any_text, max_size=6) | json_value,
        "images": media_list,
        "audio": media_list,
        "video": media_list,
        "imu": json_value,
        "thermal": json_value,
        "depth": json_value,
        "text": any_text | json_value,
        "config": st.fixed_dictionaries(
            {}, optional={"task_type": st.sampled_from(["passage", "query"]) | json_value}
        )
        | json_value,
        "dims": json_value,
    },
)


def encode(body: Any, ascii_only: bool) -> bytes:
    """JSON as a client would send it; non-ASCII mode writes lone surrogates as the
    invalid UTF-8 a careless client produces."""
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def parses_or_refuses(path: str, raw: bytes) -> Parsed | None:
    try:
        parsed = parse_request(path, raw, LIMITS, "raw")
    except BadRequest as exc:
        assert 400 <= exc.status < 500, exc.status
        assert str(exc)
        return None
    assert len(parsed.inputs) <= LIMITS.max_items
    for item in parsed.inputs:
        assert isinstance(item, ge2.Text | ge2.Image | ge2.Audio | ge2.Video | ge2.Pdf)
        if isinstance(item, ge2.Text):
            item.text.encode("utf-8")  # no lone surrogate got through
    fake = [[float(i)] for i in range(len(parsed.inputs))]
    json.dumps(parsed.answer(fake, 1), allow_nan=False)
    return parsed


@FUZZ
@given(PATHS, st.binary(max_size=600))
def test_any_bytes_parse_or_get_a_4xx(path: str, raw: bytes) -> None:
    parses_or_refuses(path, raw)


@FUZZ
@given(PATHS, json_value, st.booleans())
def test_any_json_parses_or_gets_a_4xx(path: str, body: Any, ascii_only: bool) -> None:
    parses_or_refuses(path, encode(body, ascii_only))


@FUZZ
@given(st.sampled_from(["/vectorize", "/vectors"]), shaped_body, st.booleans())
def test_protocol_shaped_bodies_parse_or_get_a_4xx(
    path: str, body: dict[str, Any], ascii_only: bool
) -> None:
    parses_or_refuses(path, encode(body, ascii_only))


@FUZZ
@given(st.integers(1, 3000), st.sampled_from(["[", '{"a":']))
def test_any_nesting_depth_parses_or_gets_a_4xx(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    parses_or_refuses("/vectorize", (opener * depth + "1" + closer * depth).encode())


def test_the_reported_crashes_are_4xx_with_clear_messages() -> None:
    cases: list[tuple[bytes, int, str]] = [
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        (b'{"texts": ["ok", "\\ud800"]}', 422, "texts[1]: holds a lone UTF-16 surrogate (U+D800)"),
        (b'{"texts": ["\xff"]}', 400, "not valid UTF-8"),
        (b'{"texts": ["\xed\xa0\x80"]}', 422, "texts[0]: holds a lone UTF-16 surrogate"),
        (b'{"dims": ' + b"9" * 5000 + b"}", 400, "not usable JSON"),
        (b"[]," * 150_000, 413, "commas and brackets"),
        (json.dumps({"texts": ["a"] * 41}).encode(), 422, "41 inputs in one request"),
        (b'"text"', 400, "must be a JSON object"),
    ]
    for raw, status, words in cases:
        with pytest.raises(BadRequest) as err:
            parse_request("/vectorize", raw, LIMITS, "raw")
        assert err.value.status == status and words in str(err.value), raw[:40]


def test_an_empty_body_is_an_empty_request() -> None:
    assert decode_json(b"") == {} and decode_json(b" \n") == {}
    parsed = parse_request("/vectorize", b"", LIMITS, "raw")
    assert parsed.inputs == [] and parsed.answer([], 8)["textVectors"] == []


def test_pixels_are_counted_from_the_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import ImageFile

    def no_decoding(self: object) -> None:
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(BadRequest) as err:
        check_pixels(png_header(12_000, 12_000), "images[2]", 50_000_000)
    assert err.value.status == 422
    message = str(err.value)
    assert message.startswith("images[2]: image of 12000x12000 = 144,000,000 pixels is over")
    assert "50,000,000" in message and message.endswith("raise --max-image-pixels")
    with pytest.raises(BadRequest, match=r"images\[0\]: image of 20000x20000 = 400,000,000"):
        check_pixels(png_header(20_000, 20_000), "images[0]", 50_000_000)
    check_pixels(png_header(5000, 5000), "images[0]", 50_000_000)  # under the limit: fine


async def test_the_body_budget_queues_then_refuses_then_frees() -> None:
    budget = BodyBudget(1000)
    assert await budget.acquire(600, timeout=1)
    assert not await budget.acquire(600, timeout=0.01)  # would go over: refused after waiting
    waiter = asyncio.ensure_future(budget.acquire(600, timeout=5))
    await asyncio.sleep(0)
    await budget.release(600)
    assert await waiter and budget.used == 600
    assert await budget.acquire(10**9, timeout=0.01) is False  # capped at the whole budget
    await budget.release(600)
    assert await budget.acquire(10**9, timeout=0.01) and budget.used == 1000
