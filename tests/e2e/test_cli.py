"""The ``ge2`` command driven as a user would: subprocesses, real SDK, real HTTP, the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ge2 import cli, samples
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e

_KEY_VARS = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
)


def _env(emu: Emulator | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _KEY_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    if emu is not None:
        env["GOOGLE_GEMINI_BASE_URL"] = emu.url
        env["GEMINI_API_KEY"] = "test-key"
    return env


def ge2(
    *args: str, emu: Emulator | None, cwd: Path | None = None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ge2.cli", *args],
        env=_env(emu),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _index(folder: Path, store: Path, emu: Emulator, *extra: str) -> dict[str, Any]:
    proc = ge2("index", str(folder), "--store", str(store), "-d", "256", "--json", *extra, emu=emu)
    return json.loads(proc.stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The sample corpus plus notes in a subfolder, a corrupt image and an unknown binary."""
    root = tmp_path / "media"
    samples.write_corpus(root)
    (root / "notes").mkdir()
    (root / "notes" / "garden.md").write_text("# Garden\n\nTomatoes and basil in pots.\n")
    (root / "notes" / "trip.txt").write_text("A trip to the mountains with a tent.\n")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    return root


def test_index_search_and_reindex(folder: Path, tmp_path: Path, ge2_emulator: Emulator) -> None:
    store = tmp_path / "store"
    proc = ge2("index", str(folder), "--store", str(store), "-d", "256", emu=ge2_emulator)
    # Unreadable files are named in a warning and counted in the summary.
    assert "warning: skipped" in proc.stderr and "broken.png" in proc.stderr
    assert "data.bin" in proc.stderr
    assert "10 new, 0 changed, 0 unchanged, 0 deleted, 2 skipped, 0 failed" in proc.stdout
    assert (
        "embedded 10 files as 10 pieces (audio 1, image 3, pdf 1, text 4, video 1)" in proc.stdout
    )
    assert ge2_emulator.stats["items"] == 10

    # Search by text: a table, best hit first.
    proc = ge2(
        "search", "a red fox in the snow", "--store", str(store), "-k", "3", emu=ge2_emulator
    )
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["#", "score", "modality", "where", "path"]
    assert lines[1].split()[2:] == ["image", str(folder / "red-fox.png")]
    assert len(lines) == 4

    # Search by image, as JSON for scripts.
    proc = ge2(
        "search",
        "--image",
        str(folder / "lighthouse.jpg"),
        "--store",
        str(store),
        "--json",
        emu=ge2_emulator,
    )
    hits = json.loads(proc.stdout)
    assert hits[0]["path"] == str(folder / "lighthouse.jpg")
    assert hits[0]["modality"] == "image" and hits[0]["mime"] == "image/jpeg"
    assert hits[0]["score"] > 0.99 and hits[0]["rank"] == 1
    assert {"sha256", "size", "mtime_ns", "piece", "pieces"} <= set(hits[0])
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    # Audio, video and PDF queries work too (text + file makes one query).
    proc = ge2(
        "search",
        "waves",
        "--video",
        str(folder / "ocean-waves.mp4"),
        "--store",
        str(store),
        "--json",
        "-k",
        "1",
        emu=ge2_emulator,
    )
    assert json.loads(proc.stdout)[0]["path"].endswith("ocean-waves.mp4")

    # A second run over the unchanged folder: zero API calls.
    ge2_emulator.reset_stats()
    summary = _index(folder, store, ge2_emulator)
    assert ge2_emulator.stats["requests"] == 0
    assert summary["usage"]["requests"] == 0 and summary["files_embedded"] == 0
    assert summary["unchanged"] == 10 and len(summary["skipped"]) == 2

    # Edit one file, delete one, touch one (same content): only the edited one is sent.
    (folder / "notes" / "garden.md").write_text("# Garden\n\nCucumbers climbing a trellis.\n")
    (folder / "notes" / "trip.txt").unlink()
    volcano = folder / "volcano-notes.txt"
    os.utime(volcano, ns=(time.time_ns(), time.time_ns() + 10**9))
    ge2_emulator.reset_stats()
    summary = _index(folder, store, ge2_emulator)
    assert (summary["new"], summary["changed"], summary["deleted"]) == (0, 1, 1)
    assert summary["unchanged"] == 8 and summary["files_embedded"] == 1
    assert ge2_emulator.stats["items"] == 1
    assert summary["store_files"] == 9 and summary["store_pieces"] == 9
    hits = json.loads(
        ge2(
            "search",
            "cucumbers trellis",
            "--store",
            str(store),
            "--json",
            "-k",
            "20",
            emu=ge2_emulator,
        ).stdout
    )
    assert hits[0]["path"].endswith("garden.md") and "Cucumbers" in hits[0]["snippet"]
    assert not any(h["path"].endswith("trip.txt") for h in hits)

    # The store keeps its size: a different --dimensions is refused, clearly.
    proc = ge2("index", str(folder), "--store", str(store), "-d", "512", emu=ge2_emulator, check=1)
    assert "256-dimension vectors, you asked for 512" in proc.stderr


def test_rebuilt_store_costs_nothing_thanks_to_its_cache(
    folder: Path, tmp_path: Path, ge2_emulator: Emulator
) -> None:
    store = tmp_path / "store"
    _index(folder, store, ge2_emulator)
    import shutil

    shutil.rmtree(store / "lance")  # the vectors are gone; the store's cache is not
    ge2_emulator.reset_stats()
    summary = _index(folder, store, ge2_emulator)
    assert summary["files_embedded"] == 10 and summary["usage"]["cache_hits"] == 10
    assert ge2_emulator.stats["requests"] == 0


def test_interrupted_run_resumes_without_paying_twice(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    n = 24
    for i in range(n):
        (folder / f"doc{i:02d}.txt").write_text(f"document number {i} about topic {i * 7}\n")
    store = tmp_path / "store"
    # One call in flight, each answered after 1 s: once the 3rd call arrives the run has
    # at least that long before it could finish, so a late-landing Ctrl-C still interrupts.
    ge2_emulator.configure(latency_ms=1000)
    cmd = [
        sys.executable,
        "-m",
        "ge2.cli",
        "index",
        str(folder),
        "--store",
        str(store),
        "-d",
        "256",
        "--commit-every",
        "3",
        "--concurrency",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, env=_env(ge2_emulator), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while ge2_emulator.stats["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Interrupted" in out and "run the same command again" in out
    first_items = ge2_emulator.stats["items"]
    assert 3 <= first_items < n

    ge2_emulator.configure(latency_ms=0)
    summary = _index(folder, store, ge2_emulator)
    assert summary["store_files"] == n and summary["store_pieces"] == n
    assert summary["new"] == n - summary["unchanged"] and summary["unchanged"] >= 3
    # Every document went to the API exactly once over both runs.
    assert ge2_emulator.stats["items"] == n
    hits = json.loads(
        ge2(
            "search",
            "document number 5",
            "--store",
            str(store),
            "--json",
            "-k",
            "1",
            emu=ge2_emulator,
        ).stdout
    )
    assert hits[0]["path"].endswith("doc05.txt")


def test_embed_json_and_npy(folder: Path, tmp_path: Path, ge2_emulator: Emulator) -> None:
    files = [str(folder / "red-fox.png"), str(folder / "bread-recipe.md")]
    proc = ge2("embed", *files, "--text", "hello world", "-d", "256", emu=ge2_emulator)
    doc = json.loads(proc.stdout)
    assert doc["dimensions"] == 256 and doc["task"] == "document"
    assert [e["modality"] for e in doc["embeddings"]] == ["image", "text", "text"]
    assert [e["input"] for e in doc["embeddings"]] == [*files, "hello world"]
    vectors = np.asarray([e["vector"] for e in doc["embeddings"]])
    assert vectors.shape == (3, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    out = tmp_path / "vectors.npy"
    proc = ge2(
        "embed",
        *files,
        "-t",
        "hello world",
        "-d",
        "256",
        "-f",
        "npy",
        "-o",
        str(out),
        emu=ge2_emulator,
    )
    assert "wrote 3 vectors of 256 floats" in proc.stderr
    array = np.load(out)
    assert array.shape == (3, 256) and array.dtype == np.float32
    assert np.allclose(array, vectors, atol=1e-6)

    proc = ge2("embed", "--text", "find a fox", "--task", "query", "-d", "128", emu=ge2_emulator)
    query = json.loads(proc.stdout)
    assert query["task"] == "query" and len(query["embeddings"][0]["vector"]) == 128

    proc = ge2("embed", str(folder / "data.bin"), emu=ge2_emulator, check=2)
    assert "data.bin" in proc.stderr and "unknown file type" in proc.stderr


def test_demo_runs_offline_without_a_key(tmp_path: Path) -> None:
    proc = ge2("demo", "--dir", str(tmp_path / "demo"), emu=None)
    offline_lines = [line for line in proc.stderr.splitlines() if "offline emulator" in line]
    assert len(offline_lines) == 1, proc.stderr
    out = proc.stdout
    assert "sample corpus (8 files" in out and "CC0" in out
    assert "8 new" in out and "(offline emulator, 768 dimensions)" in out
    first = out.split('search "a fox running through the snow"')[1].splitlines()
    assert first[2].split()[-1].endswith("red-fox.png")
    assert "search image fox-query.png" in out and "search audio birds-query.wav" in out
    # The demo's store stays offline, so searching it later needs no key either.
    store = tmp_path / "demo" / ".ge2-store"
    proc = ge2("search", "lighthouse sunset", "--store", str(store), "--json", emu=None)
    assert json.loads(proc.stdout)[0]["path"].endswith("lighthouse.jpg")


def test_people_friendly_errors(
    folder: Path,
    tmp_path: Path,
    ge2_emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each mistake gets a message and an exit code, never a traceback (run in-process)."""
    store = tmp_path / "store"

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    code, _, err = run("index", str(folder), "--store", str(store))  # no key in the env
    assert code == 2 and "GEMINI_API_KEY" in err and "--offline" in err
    assert not store.exists()

    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", ge2_emulator.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    code, _, err = run("index", str(tmp_path / "missing"), "--store", str(store))
    assert code == 2 and "no such file or folder" in err

    code, _, err = run("search", "x", "--store", str(tmp_path / "nostore"))
    assert code == 2 and "is not a ge2 store" in err

    code, _, err = run("index", str(folder), "--store", str(folder))
    assert code == 1 and "is not a ge2 store" in err  # never writes into a folder of your files

    code, _, err = run("search", "--store", str(store))
    assert code == 2 and "give a text query" in err

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("ge2 ") and "lancedb" in out

    with pytest.raises(SystemExit):
        cli.main(["emulator", "--help"])
    out = capsys.readouterr().out
    assert "--latency-ms" in out and "--rate-limit" in out


def test_emulator_subcommand_serves(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ge2.cli", "emulator", "--port", "0"],
        env=_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("ge2 emulator listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        import httpx

        assert httpx.get(f"{url}/emulator/stats", timeout=10).json()["requests"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped; stats:" in out
