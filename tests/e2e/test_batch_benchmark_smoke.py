"""The batch benchmark stays runnable: ``python -m benchmarks.batch --n 40``, no timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_batch_benchmark_runs_and_reports_every_path(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.batch", "--n", "40", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "batch.json").read_text())
    assert [r["jobs"] for r in rows] == [0, 1, 1, 4]
    assert all(r["vectors"] == 40 and r["items"] == 40 for r in rows)
    online, *batches = rows
    for r in batches:
        assert r["cost_usd"] == pytest.approx(online["cost_usd"] / 2)
    assert "| online (embed) |" in (tmp_path / "BATCH.md").read_text()
