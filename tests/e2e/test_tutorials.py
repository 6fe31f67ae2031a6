"""Tutorials are code: every ```python block of each docs/tutorials/*.md runs, in order.

Each tutorial runs in a fresh interpreter in an empty folder, with no API key, exactly as
a reader would paste it; it must start the emulator itself (``ge2.offline_unless_key()``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parents[2] / "docs" / "tutorials").glob("*.md"))
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: ``<!-- requires: ray -->``: a tutorial for a heavy extra that not every venv installs.
_REQUIRES = re.compile(r"<!-- requires: ([\w. ]+) -->")


def tutorial_code(path: Path) -> str:
    """The tutorial's Python blocks joined into one script."""
    return "\n\n".join(block for block in _BLOCK.findall(path.read_text(encoding="utf-8")))


@pytest.mark.e2e
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path: Path, tmp_path: Path) -> None:
    needs = _REQUIRES.search(path.read_text(encoding="utf-8"))
    for module in needs.group(1).split() if needs else ():
        pytest.importorskip(module, reason=f"{path.name} needs {module} (its own CI target)")
    code = tutorial_code(path)
    assert code.strip(), f"{path.name} has no ```python blocks"
    script = tmp_path / f"tutorial_{path.stem}.py"  # not "haystack.py": it would shadow the package
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
