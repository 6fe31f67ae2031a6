"""``ge2.Pdf.pages``: one page (or a range) of a PDF as its own input, with provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

import ge2
from ge2 import media, samples


def test_pages_keeps_only_the_asked_pages(tmp_path: Path) -> None:
    path = tmp_path / "three.pdf"
    samples.pdf(["alpha page", "bravo page", "charlie page"], path=path)
    page = ge2.Pdf(path).pages(2)
    assert media.pdf_page_count(page.source()) == 1
    assert "bravo" in media.pdf_text(page.source())
    assert "alpha" not in media.pdf_text(page.source())
    assert page.provenance == {"source": str(path), "page_start": 2, "page_end": 2}
    assert page.mime == "application/pdf"
    two = ge2.Pdf(path).pages(2, 3)
    assert media.pdf_page_count(two.source()) == 2
    assert two.provenance["page_end"] == 3


def test_pages_out_of_range_names_the_pdf_and_the_range() -> None:
    with pytest.raises(ge2.InputError, match=r"pages 4\.\.4 are outside this PDF's 1\.\.2"):
        ge2.Pdf(samples.pdf(["a", "b"])).pages(4)
    with pytest.raises(ge2.InputError, match="not a readable PDF"):
        ge2.Pdf(b"%PDF-1.4 garbage").pages(1)
