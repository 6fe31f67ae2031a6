"""Generated inputs against the core's input parsing: a valid input or a ge2 error, nothing else.

Whatever a caller hands over (arbitrary or damaged bytes, strings with lone surrogates and
NULs, nested lists, odd PIL images, objects that merely look like them, odd paths), the
public entry points either produce an ``Input`` or raise ``ge2.InputError``, ``TypeError``
or ``ge2.ConfigurationError`` with a message. Example counts are kept small so the whole
module runs in seconds; each run explores different cases. For a deeper search run it with
``GE2_FUZZ_EXAMPLES=2000``.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

import ge2
from ge2 import samples

pytestmark = pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")

#: Errors that say "this input is unusable" in ge2's words.
EXPECTED = (ge2.InputError, TypeError, ge2.ConfigurationError)
FUZZ = settings(
    max_examples=int(os.environ.get("GE2_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_TEXT_ALPHABET = [
    "a",
    "Z",
    " ",
    "\n",
    "\x00",
    "é",
    "字",
    "😀",
    "\ud800",
    "\udbff",
    "\udc80",
    "\udfff",
]
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(_TEXT_ALPHABET), max_size=40),
)


def _valid_media() -> list[bytes]:
    return [
        samples.png(size=(8, 6), description="a small red square"),
        samples.jpeg(size=(8, 6), description="a small blue square"),
        samples.webp(size=(8, 6)),
        samples.pdf(["page one", "page two"]),
        samples.audio(0.5),
        samples.video(1.0, size=(16, 16)),
    ]


VALID = _valid_media()
_MAGIC = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"%PDF-1.7\n",
    b"ID3\x03\x00",
    b"\x00\x00\x00\x18ftypmp42",
    b"BM",
]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid sample with bytes flipped, cut or spliced: reaches deep into the decoders."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


blobs = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda m, t: m + t, st.sampled_from(_MAGIC), st.binary(max_size=256)),
    damaged(),
    st.sampled_from(VALID),
)


class _FakeImage:
    """Looks like a PIL image from afar (size, mode, save) but is not one."""

    size = (4, 4)
    mode = "RGB"
    width = height = 4

    def save(self, fp: Any, format: str | None = None) -> None:
        fp.write(b"not an image")


pil_images = st.builds(
    lambda mode, w, h: PILImage.new(mode, (w, h)),
    st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F", "I;16"]),
    st.integers(0, 12),
    st.integers(0, 12),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    texts,
    blobs,
    st.builds(bytearray, st.binary(max_size=64)),
    st.builds(memoryview, st.binary(max_size=64)),
    pil_images,
    st.just(_FakeImage()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([object(), ..., 1j, {1, 2}, range(3)]),
)
nested = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner), max_leaves=6
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ge2-fuzz-") as name:
        yield Path(name)


_counter = itertools.count()


def _write(folder: Path, data: bytes, suffix: str) -> Path:
    path = folder / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def emb() -> ge2.Embedder:
    return ge2.Embedder(api_key="unit-test", dimensions=256)


def _is_input(value: object) -> None:
    assert isinstance(value, ge2.Text | ge2.Media | ge2.Mixed)
    assert isinstance(value.label, str)
    if isinstance(value, ge2.Media):
        assert isinstance(value.mime, str)


def _message(exc: BaseException) -> None:
    assert str(exc), f"{type(exc).__name__} without a message"


@FUZZ
@given(value=nested)
def test_as_input_gives_an_input_or_a_ge2_error(value: Any) -> None:
    try:
        result = ge2.as_input(value)
    except EXPECTED as exc:
        _message(exc)
    else:
        _is_input(result)


@FUZZ
@given(data=blobs, mime=st.one_of(st.none(), st.sampled_from(["image/png", "text/plain", "x"])))
def test_load_of_bytes_gives_an_input_or_a_ge2_error(data: bytes, mime: str | None) -> None:
    try:
        result = ge2.load(data, mime)
    except EXPECTED as exc:
        _message(exc)
    else:
        _is_input(result)


@FUZZ
@given(
    data=blobs,
    suffix=st.sampled_from(["", ".png", ".jpg", ".txt", ".pdf", ".mp4", ".wav", ".bin"]),
    name=st.one_of(st.none(), texts),
)
def test_load_of_files_and_odd_paths(folder: Path, data: bytes, suffix: str, name: Any) -> None:
    path = _write(folder, data, suffix) if name is None else folder / name.replace("/", "_")
    for source in (path, str(path)):
        try:
            result = ge2.load(source)
        except EXPECTED as exc:
            _message(exc)
        else:
            _is_input(result)


@FUZZ
@given(
    kind=st.sampled_from([ge2.Image, ge2.Audio, ge2.Video, ge2.Pdf]),
    source=st.one_of(blobs, texts, scalars),
    mime=st.one_of(st.none(), st.integers(), texts),
)
def test_media_constructors(kind: type[ge2.Media], source: Any, mime: Any) -> None:
    try:
        result = kind(source, mime)
    except EXPECTED as exc:
        _message(exc)
    else:
        _is_input(result)


@FUZZ
@given(text=st.one_of(texts, scalars), title=st.one_of(st.none(), texts, st.integers()))
def test_text_constructor(text: Any, title: Any) -> None:
    try:
        result = ge2.Text(text, title)
    except EXPECTED as exc:
        _message(exc)
    else:
        _is_input(result)
        result.text.encode("utf-8")  # whatever was accepted can be sent


@FUZZ
@given(parts=nested)
def test_mixed_constructor(parts: Any) -> None:
    try:
        result = ge2.Mixed(parts)
    except EXPECTED as exc:
        _message(exc)
    else:
        _is_input(result)


@FUZZ
@given(inputs=st.one_of(nested, st.lists(st.one_of(blobs, texts, pil_images), max_size=4)))
def test_check_reports_per_input_or_refuses_the_call(emb: ge2.Embedder, inputs: Any) -> None:
    try:
        result = emb.check(inputs)
    except EXPECTED as exc:
        _message(exc)
        return
    assert isinstance(result, list)
    for index, error in enumerate(result):
        assert error is None or (isinstance(error, ge2.InputError) and error.index == index)


@FUZZ
@given(files=st.lists(st.tuples(blobs, st.sampled_from(["", ".png", ".mp4", ".txt"])), max_size=3))
def test_check_of_files_on_disk(emb: ge2.Embedder, folder: Path, files: list[Any]) -> None:
    paths = [_write(folder, data, suffix) for data, suffix in files]
    result = emb.check(paths)
    assert len(result) == len(paths)
    assert all(e is None or isinstance(e, ge2.InputError) for e in result)


@FUZZ
@given(dimensions=st.one_of(scalars, st.lists(st.one_of(st.integers(), texts), max_size=3)))
def test_dimensions_are_an_int_in_range_or_a_configuration_error(dimensions: Any) -> None:
    try:
        emb = ge2.Embedder(api_key="k", dimensions=dimensions)
    except ge2.ConfigurationError as exc:
        _message(exc)
    else:
        assert 128 <= emb.dimensions <= 3072
