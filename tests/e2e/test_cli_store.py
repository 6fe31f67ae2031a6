"""The ``ge2`` store as a user meets it: old layouts, damage, kill -9, bad files, renames.

Subprocesses, the real SDK, real HTTP, the emulator, real LanceDB tables.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ge2 import samples
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
    *args: str, emu: Emulator | None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ge2.cli", *args],
        env=_env(emu),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _index(folder: Path | str, store: Path, emu: Emulator, *extra: str, check: int = 0) -> Any:
    proc = ge2(
        "index",
        str(folder),
        "--store",
        str(store),
        "-d",
        "256",
        "--json",
        *extra,
        emu=emu,
        check=check,
    )
    return json.loads(proc.stdout)


def _search(store: Path, emu: Emulator | None, *args: str) -> list[dict[str, Any]]:
    proc = ge2("search", *args, "--store", str(store), "--json", emu=emu)
    return json.loads(proc.stdout)


def _notes(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"note{i:02d}.txt").write_text(f"note {i} about subject {i * 13}\n")
    return folder


def test_old_layout_gets_the_fix_and_rebuild_costs_nothing(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = _notes(tmp_path / "notes", 5)
    store = tmp_path / "store"
    _index(folder, store, ge2_emulator)
    # Make it look like a store from the Qdrant days: old config, a qdrant/ folder.
    shutil.rmtree(store / "lance")
    (store / "qdrant" / "collection").mkdir(parents=True)
    config = json.loads((store / "ge2-store.json").read_text())
    config.update(format=1)
    config.pop("backend")
    (store / "ge2-store.json").write_text(json.dumps(config))

    for args in (
        ("search", "note", "--store", str(store)),
        ("index", str(folder), "--store", str(store)),
    ):
        proc = ge2(*args, emu=ge2_emulator, check=1)
        assert "older ge2" in proc.stderr and "--rebuild" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert (store / "qdrant").is_dir()  # never a silent wipe

    ge2_emulator.reset_stats()
    summary = _index(folder, store, ge2_emulator, "--rebuild")
    assert summary["files_embedded"] == 5 and summary["usage"]["cache_hits"] == 5
    assert ge2_emulator.stats["requests"] == 0
    assert not (store / "qdrant").exists()
    assert _search(store, ge2_emulator, "note 3 about subject 39")[0]["path"].endswith("note03.txt")


def test_damaged_table_is_named_and_rebuild_fixes_it(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = _notes(tmp_path / "notes", 4)
    store = tmp_path / "store"
    _index(folder, store, ge2_emulator)
    for data in (store / "lance" / "pieces.lance" / "data").iterdir():
        data.write_bytes(b"garbage")
    proc = ge2("search", "note", "--store", str(store), emu=ge2_emulator, check=1)
    assert str(store) in proc.stderr and "--rebuild" in proc.stderr
    assert "Traceback" not in proc.stderr
    ge2_emulator.reset_stats()
    summary = _index(folder, store, ge2_emulator, "--rebuild")
    assert summary["store_pieces"] == 4 and ge2_emulator.stats["requests"] == 0


def test_kill_9_mid_index_then_resume(tmp_path: Path, ge2_emulator: Emulator) -> None:
    n = 30
    folder = _notes(tmp_path / "many", n)
    store = tmp_path / "store"
    ge2_emulator.configure(latency_ms=300)
    cmd = [sys.executable, "-m", "ge2.cli", "index", str(folder), "--store", str(store)]
    proc = subprocess.Popen(
        [*cmd, "-d", "256", "--commit-every", "3", "--concurrency", "1"],
        env=_env(ge2_emulator),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while ge2_emulator.stats["requests"] < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first = ge2_emulator.stats["items"]
    assert 0 < first < n
    ge2_emulator.configure(latency_ms=0)
    summary = _index(folder, store, ge2_emulator)
    assert summary["store_files"] == n and summary["store_pieces"] == n
    assert summary["unchanged"] >= 1  # what was committed before the kill stayed
    assert ge2_emulator.stats["items"] <= n + 3  # at most the batch in flight is paid twice
    hits = _search(store, ge2_emulator, "note 7 about subject 91", "-k", "1")
    assert hits[0]["path"].endswith("note07.txt")


def test_bad_names_and_image_bombs_are_skips_not_crashes(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("a perfectly fine note about kayaks\n")
    bad_name = os.path.join(os.fsencode(folder), b"bad\xffname.txt")
    with open(bad_name, "wb") as fh:
        fh.write(b"the badly named file talks about lanterns\n")
    (folder / "bomb.png").write_bytes(samples.huge_png(20000, 20000))
    store = tmp_path / "store"
    proc = ge2("index", str(folder), "--store", str(store), "-d", "256", emu=ge2_emulator)
    assert "1 skipped, 0 failed" in proc.stdout and "bomb.png" in proc.stdout
    skipped = [line for line in proc.stdout.splitlines() if line.strip().startswith("skipped")]
    assert len(skipped) == 1 and "bomb.png" in skipped[0]
    summary = _index(folder, store, ge2_emulator)
    assert summary["store_files"] == 2 and summary["unchanged"] == 2  # lossless round trip
    assert [s["path"].rsplit("/", 1)[-1] for s in summary["skipped"]] == ["bomb.png"]
    hits = _search(store, ge2_emulator, "lanterns", "-k", "1")
    assert hits[0]["path"].endswith("bad\\xffname.txt")  # printable, never a crash


def test_renamed_folder_is_pruned_and_prune_alone_needs_no_key(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    photos = tmp_path / "photos"
    _notes(photos / "2024", 3)
    other = _notes(tmp_path / "other", 2)
    store = tmp_path / "store"
    _index(photos / "2024", store, ge2_emulator)
    _index(other, store, ge2_emulator)
    (photos / "2024").rename(photos / "2024-trip")
    ge2_emulator.reset_stats()
    summary = _index(photos / "2024-trip", store, ge2_emulator)
    assert summary["pruned"] == 3 and summary["new"] == 3
    assert ge2_emulator.stats["requests"] == 0  # same content: served from the cache
    assert summary["store_files"] == 5
    hits = _search(store, ge2_emulator, "note", "-k", "20")
    assert not any("/2024/" in h["path"] for h in hits)

    shutil.rmtree(other)
    proc = ge2("index", "--prune", "--store", str(store), "--json", emu=None)  # no key
    summary = json.loads(proc.stdout)
    assert summary["pruned"] == 2 and summary["store_files"] == 3


def test_ann_and_hybrid_through_the_command(tmp_path: Path, ge2_emulator: Emulator) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(300):
        (folder / f"d{i:03d}.txt").write_text(f"entry {i} of the logbook, weather {i % 7}\n")
    (folder / "invoice.txt").write_text("pump invoice code QX7731 due in March\n")
    store = tmp_path / "store"
    summary = _index(folder, store, ge2_emulator, "--ann-threshold", "100")
    assert summary["search"]["ann_index"] is True
    assert summary["search"]["maintenance"]["vector_index"] == "built"
    hits = _search(store, ge2_emulator, "entry 42 of the logbook", "-k", "3")
    exact = _search(store, ge2_emulator, "entry 42 of the logbook", "-k", "3", "--exact")
    assert hits[0]["path"] == exact[0]["path"] and hits[0]["path"].endswith("d042.txt")
    hybrid = _search(store, ge2_emulator, "QX7731", "--hybrid", "-k", "3")
    assert hybrid[0]["path"].endswith("invoice.txt") and "text" in hybrid[0]["matched"]
    only = _search(store, ge2_emulator, "weather", "--modality", "image")
    assert only == []
    proc = ge2(
        "search",
        "--image",
        str(folder / "d001.txt"),
        "--hybrid",
        "--store",
        str(store),
        emu=ge2_emulator,
        check=2,
    )
    assert "--hybrid needs a text query" in proc.stderr
