"""``ge2 index`` over a folder a stranger has: good files beside every kind of bad one.

Run as the user runs it (a subprocess, no logging configured), so what reaches the
terminal is what a user sees: each bad file named once with its reason and fix, counted,
the good ones stored, and no library's own warnings in between.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ge2 import samples
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e


def _run(*args: str, emu: Emulator) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env.update(GOOGLE_GEMINI_BASE_URL=emu.url, GEMINI_API_KEY="test-key", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "ge2.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_files_are_named_counted_and_quiet(ge2_emulator: Emulator, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "good.txt").write_text("a note about foxes\n")
    (root / "good.png").write_bytes(samples.png())
    pdf = samples.pdf(["page one", "page two"])
    (root / "good.pdf").write_bytes(pdf)
    (root / "cut.pdf").write_bytes(pdf[: len(pdf) // 2])
    (root / "empty.txt").write_bytes(b"")
    (root / "latin.txt").write_bytes("café crème\n".encode("latin-1"))
    (root / "latin.md").write_bytes("# café\n".encode("latin-1"))
    os.symlink(tmp_path / "gone.txt", root / "dangling.txt")

    proc = _run("index", str(root), "--store", str(tmp_path / "store"), "-d", "256", "--json",
                emu=ge2_emulator)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert summary["files_embedded"] == 3
    assert sorted(reasons) == ["cut.pdf", "dangling.txt", "empty.txt", "latin.md", "latin.txt"]
    assert reasons["empty.txt"].startswith("the file is empty (0 bytes); fix: ")
    assert reasons["latin.txt"].startswith("the text is not UTF-8: byte 0xE9 at offset 3")
    assert "iconv" in reasons["latin.md"]
    assert "not a readable PDF" in reasons["cut.pdf"] and "fix: " in reasons["cut.pdf"]
    assert "broken symbolic link" in reasons["dangling.txt"]
    # The terminal shows ge2's lines only: one warning per skipped file, nothing from pypdf.
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    noise = [line for line in lines if not line.startswith("ge2: ")]
    assert noise == [], noise
    assert sum("warning: skipped" in line for line in lines) == 5
