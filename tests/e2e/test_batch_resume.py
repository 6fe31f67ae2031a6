"""Kill-and-resume: a process killed at each stage of a batch job; a new one finishes it.

The first process exits abruptly (``os._exit``, as a kill would) at the named stage; a
second, identical process must finish the work from the state folder, with no item sent
twice: the emulator's batch counters prove it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e

_SCRIPT = """
import json, sys
import ge2
from ge2.batch import BatchLimits

url, state, mode = sys.argv[1], sys.argv[2], sys.argv[3]
emb = ge2.Embedder(base_url=url, api_key="k", dimensions=128, retry_base_delay=0.01)
limits = BatchLimits(inline_bytes=1 if mode == "file" else 20 << 20)
texts = [f"resumable note {i} about otters" for i in range(6)]
job = emb.submit_batch(texts, state_dir=state, limits=limits)
print(json.dumps(job.results(poll=0)))
"""

STAGES = [
    ("file", "after-record"),
    ("file", "before-upload"),
    ("file", "during-upload"),
    ("file", "after-upload"),
    ("file", "after-create"),
    ("inline", "after-create"),
    ("file", "after-poll"),
    ("file", "during-collect"),
]


def _run(
    script: Path, emu: Emulator, state: Path, mode: str, kill_at: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    env.pop("GE2_BATCH_KILL_AT", None)
    if kill_at:
        env["GE2_BATCH_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, str(script), emu.url, str(state), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("mode", "stage"), STAGES, ids=[f"{m}-{s}" for m, s in STAGES])
def test_killed_process_resumes_without_duplicates(
    ge2_emulator: Emulator, tmp_path: Path, mode: str, stage: str
) -> None:
    script = tmp_path / "batch_job.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    state = tmp_path / "state"
    killed = _run(script, ge2_emulator, state, mode, stage)
    assert killed.returncode == 75, killed.stderr
    assert killed.stdout == ""
    finished = _run(script, ge2_emulator, state, mode, None)
    assert finished.returncode == 0, finished.stderr
    vectors = json.loads(finished.stdout)
    emb = ge2.Embedder(base_url=ge2_emulator.url, api_key="k", dimensions=128)
    texts = [f"resumable note {i} about otters" for i in range(6)]
    assert np.allclose(vectors, emb.embed(texts), atol=1e-5)
    stats = ge2_emulator.stats["batch"]
    assert stats["creates"] == 1, stats  # never submitted twice
    assert stats["items_submitted"] == 6, stats
    if mode == "file" and stage == "after-upload":
        assert stats["files_uploaded"] == 2  # the orphaned upload is re-done (and deleted)
    if stage == "during-upload":
        assert stats["files_uploaded"] == 1  # the cut-off upload never finished
    jobs = ge2.BatchJobs(emb, state).list()
    assert [j.state for j in jobs if j.state != "abandoned"] == ["collected"]
