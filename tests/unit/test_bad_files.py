"""Files a stranger has lying around: empty, not UTF-8, a damaged PDF, a dangling link.

Each is refused with a ``ge2.InputError`` naming the file, the problem and the fix, before
any request (no socket here), and none lets a library's own noise onto the console.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import ge2
from ge2 import index, samples

LATIN1 = "café crème brûlée, un texte en français\n".encode("latin-1")


@pytest.fixture
def emb() -> ge2.Embedder:
    return ge2.Embedder(api_key="unit-test", dimensions=256)


@pytest.fixture
def pypdf_logger_untouched() -> Iterator[None]:
    """Run with the ``pypdf`` logger as an application that never configured it has it."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield
    logger.setLevel(level)


def test_an_empty_file_says_it_is_empty(tmp_path: Path, emb: ge2.Embedder) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ge2.InputError, match=r"empty\.txt: the file is empty \(0 bytes\)") as e:
        ge2.load(empty)
    assert e.value.fix and "remove it" in e.value.fix
    with pytest.raises(ge2.InputError, match=r"input #1 .*empty\.txt: the file is empty"):
        emb.embed(["fine", empty])
    with pytest.raises(ge2.InputError, match=r"the data is empty"):
        ge2.load(b"")


@pytest.mark.parametrize("name", ["notes.txt", "notes.md", "no-extension"])
def test_a_latin1_text_file_says_utf8_and_how_to_convert(
    tmp_path: Path, emb: ge2.Embedder, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(LATIN1)
    with pytest.raises(ge2.InputError) as e:
        ge2.load(path)
    assert name in str(e.value)
    assert e.value.problem.startswith("the text is not UTF-8: byte 0xE9 at offset 3")
    assert e.value.fix and "iconv" in e.value.fix
    with pytest.raises(ge2.InputError, match=rf"input #0 .*{name}: the text is not UTF-8"):
        emb.embed([path])


def test_a_short_file_with_a_bad_last_byte_is_not_utf8(tmp_path: Path) -> None:
    """The sniffer forgives a character cut at its 8 KB window, not at the end of a file."""
    path = tmp_path / "title.md"
    path.write_bytes("# café\n".encode("latin-1"))
    with pytest.raises(ge2.InputError, match=r"byte 0xE9 at offset 5") as e:
        ge2.load(path)
    assert e.value.fix and "UTF-8" in e.value.fix


def test_a_latin1_byte_past_the_sniff_window_is_named(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * 10_000 + LATIN1)
    with pytest.raises(ge2.InputError, match=r"byte 0xE9 at offset 10003") as e:
        ge2.load(path)
    assert e.value.fix and "iconv" in e.value.fix


def test_binary_junk_is_still_an_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ge2.InputError, match="unknown file type"):
        ge2.load(path)


def _damaged_pdfs() -> dict[str, bytes]:
    good = samples.pdf(["page one", "page two"])
    return {
        "truncated.pdf": good[: len(good) // 2],
        "tail-cut.pdf": good[:-40],
        "garbage.pdf": b"%PDF-1.7\n garbage garbage\n%%EOF",
    }


@pytest.mark.parametrize("name", sorted(_damaged_pdfs()))
def test_a_damaged_pdf_names_the_file_and_the_fix_quietly(
    tmp_path: Path,
    emb: ge2.Embedder,
    name: str,
    capfd: pytest.CaptureFixture[str],
    pypdf_logger_untouched: None,
) -> None:
    path = tmp_path / name
    path.write_bytes(_damaged_pdfs()[name])
    [error] = emb.check([ge2.load(path)])
    assert isinstance(error, ge2.InputError)
    assert name in str(error) and "not a readable PDF" in error.problem
    assert error.fix and "corrupt or truncated" in error.fix
    with pytest.raises(ge2.InputError, match=rf"{name}.*not a readable PDF.*Fix: "):
        ge2.Pdf(path).pages(1)
    out, err = capfd.readouterr()
    assert out == "" and err == "", "pypdf's warnings reached the console"


def test_an_application_that_set_the_pypdf_level_keeps_it(
    tmp_path: Path, emb: ge2.Embedder, pypdf_logger_untouched: None
) -> None:
    logging.getLogger("pypdf").setLevel(logging.INFO)
    path = tmp_path / "cut.pdf"
    path.write_bytes(_damaged_pdfs()["truncated.pdf"])
    emb.check([ge2.load(path)])
    assert logging.getLogger("pypdf").level == logging.INFO


def test_a_dangling_symlink_is_a_named_skip(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "ok.txt").write_text("fine")
    os.symlink(tmp_path / "gone.txt", root / "link.txt")
    problems: list[index.Skipped] = []
    found = index.walk([root], problems=problems)
    assert [Path(f.path).name for f in found] == ["ok.txt"]
    [skip] = problems
    assert Path(skip.path).name == "link.txt" and skip.kind == "file"
    assert "broken symbolic link" in skip.reason and "gone.txt" in skip.reason
