"""The benchmark stays runnable: ``python -m benchmarks.run --smoke`` end to end, no timings.

It starts its own emulator process and one worker process per runner, so this runs in a
subprocess exactly as ``make bench`` does. Peers missing from this environment must be
reported as not installed rather than crash the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,  # two quota profiles; a loaded 2-core machine is slow to start workers
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_every_ge2_path_embeds_everything(smoke: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, results = smoke
    rows = [m for m in results["throughput"] if m["runner"].startswith("ge2-")]
    core = [m for m in rows if m["runner"] == "ge2-core"]
    assert {m["corpus"] for m in core} == {"text", "images"}
    for m in rows:
        if not m["available"]:  # an adapter whose framework is not installed here
            assert "not installed" in m["reason"], m
            continue
        assert m["error"] is None, m
        assert m["lost"] == 0, m
        assert m["requests"] >= 1
        assert m["distinct"] == m["inputs"]  # N inputs, N different vectors


def test_missing_peers_are_reported_not_fatal(smoke: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, results = smoke
    names = {m["runner"] for m in results["throughput"]}
    assert "google-genai-loop" in names
    for m in results["throughput"]:
        if not m["available"]:
            assert m["reason"]


def test_results_file_overhead_and_memory(smoke: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    out, results = smoke
    text = (out / "RESULTS.md").read_text()
    assert "ge2 core (Embedder.embed)" in text and "## Targets (issue 9)" in text
    summary = results["overhead"]["summary"]
    assert (
        summary["ge2-core@768"]["bytes_out_per_item"]
        < summary["ge2-core@3072"]["bytes_out_per_item"]
    )
    memory = results["memory"]["result"]
    assert memory["available"] and memory["lost"] == 0 and memory["rss_peak_mb"] > 0
    chart = out / "throughput.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not chart.exists()
    else:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
