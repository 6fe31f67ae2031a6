"""``ge2 index --batch`` and ``ge2 batch``: the real CLI in subprocesses, the emulator's Batch API.

The emulator's own counters prove what went over the wire: how many jobs were created and
items submitted (never one twice), and how many items went online (none, on a batch run).
Jobs stay pending while ``batch_delay_s`` is large and finish at the next poll once it is
set back to 0, so no test sleeps: the CLI polls with ``--poll 0``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ge2 import samples
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e

_SDK_VARS = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GE2_BATCH_KILL_AT",
)
FOREVER = 3600.0  # a batch job that stays pending until the test says otherwise


def _env(emu: Emulator | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SDK_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    if emu is not None:
        env["GOOGLE_GEMINI_BASE_URL"] = emu.url
        env["GEMINI_API_KEY"] = "test-key"
    env.update(extra)
    return env


def ge2(
    *args: str, emu: Emulator | None, check: int | None = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ge2.cli", *args],
        env=_env(emu, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _batch_index(
    folder: Path, store: Path, emu: Emulator, *extra: str, check: int = 0, **env: str
) -> Any:
    proc = ge2(
        "index", str(folder), "--store", str(store), "-d", "256", "--batch", "--json", *extra,
        emu=emu, check=check, **env,
    )  # fmt: skip
    return json.loads(proc.stdout) if check in (0, 1, 130) else proc


def _jobs(store: Path, emu: Emulator | None, action: str = "list", *ids: str) -> Any:
    proc = ge2("batch", action, *ids, "--store", str(store), "--json", emu=emu)
    return json.loads(proc.stdout)["jobs"]


def _search(store: Path, emu: Emulator, query: str) -> list[dict[str, Any]]:
    proc = ge2("search", query, "--store", str(store), "--json", "-k", "20", emu=emu)
    return json.loads(proc.stdout)


def _notes(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"note{i}.txt").write_text(f"field note {i}: otters seen at weir {i * 7}\n")
    return folder


def _paths(hits: list[dict[str, Any]]) -> set[str]:
    return {Path(h["path"]).name for h in hits}


def test_submit_returns_then_a_rerun_collects_into_the_store(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder, store = _notes(tmp_path / "notes", 4), tmp_path / "store"
    ge2_emulator.configure(batch_delay_s=FOREVER)
    first = _batch_index(folder, store, ge2_emulator)
    batch = first["batch"]
    assert [j["state"] for j in batch["jobs"]] == ["pending"]
    assert batch["jobs"][0]["name"].startswith("batches/")
    assert batch["items"] == 4 and batch["files_pending"] == 4 and not batch["waited"]
    assert batch["cost_usd"] > 0
    assert batch["online_cost_usd"] == pytest.approx(2 * batch["cost_usd"])
    assert first["files_embedded"] == 0 and first["store_files"] == 0
    assert first["usage"]["batch_jobs"] == 1
    assert (store / "batch" / "batch-jobs.sqlite").is_file()
    listed = _jobs(store, None)  # no key needed to list
    assert [(j["id"], j["state"]) for j in listed] == [(batch["jobs"][0]["id"], "pending")]

    # Still running: a re-run submits nothing new and says the files wait.
    text = ge2(
        "index", str(folder), "--store", str(store), "--batch", emu=ge2_emulator
    ).stdout  # fmt: skip
    assert "4 files wait for their batch jobs" in text and "--batch --wait" in text
    assert "at the batch price (online: ~$" in text

    ge2_emulator.configure(batch_delay_s=0)
    done = _batch_index(folder, store, ge2_emulator)
    assert done["files_embedded"] == 4 and done["store_files"] == 4
    assert [j["state"] for j in done["batch"]["jobs"]] == ["collected"]
    assert done["batch"]["files_pending"] == 0
    assert done["usage"]["batch_items"] == 4
    stats = ge2_emulator.stats
    assert stats["batch"]["creates"] == 1 and stats["batch"]["items_submitted"] == 4
    assert stats["items"] == 0  # nothing went online
    assert "note2.txt" in _paths(_search(store, ge2_emulator, "otters seen at weir 14"))
    rerun = _batch_index(folder, store, ge2_emulator)
    assert rerun["unchanged"] == 4 and rerun["batch"]["jobs"] == []
    assert ge2_emulator.stats["batch"]["creates"] == 1


def test_wait_stores_the_same_vectors_as_online_indexing(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = _notes(tmp_path / "notes", 5)
    summary = _batch_index(folder, tmp_path / "batch-store", ge2_emulator, "--wait", "--poll", "0")
    assert summary["batch"]["waited"] and summary["files_embedded"] == 5
    assert summary["usage"]["requests"] == 0 and summary["usage"]["batch_items"] == 5
    assert summary["usage"]["batch_online_cost_usd"] == pytest.approx(
        2 * summary["usage"]["batch_cost_usd"]
    )
    online = tmp_path / "online-store"
    ge2("index", str(folder), "--store", str(online), "-d", "256", emu=ge2_emulator)
    by_batch = _search(tmp_path / "batch-store", ge2_emulator, "otters seen at weir 21")
    by_online = _search(online, ge2_emulator, "otters seen at weir 21")
    assert len(by_batch) == 5 and Path(by_batch[0]["path"]).name == "note3.txt"
    assert [(h["path"], round(h["score"], 5)) for h in by_batch] == [
        (h["path"], round(h["score"], 5)) for h in by_online
    ]


def test_status_cancel_and_the_refusal_of_plain_index(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder, store = _notes(tmp_path / "notes", 3), tmp_path / "store"
    ge2_emulator.configure(batch_delay_s=FOREVER)
    job = _batch_index(folder, store, ge2_emulator)["batch"]["jobs"][0]

    # While the job lives, online indexing (plain or --ray) is refused before any call.
    for extra in ((), ("--ray",)):
        refused = ge2(
            "index", str(folder), "--store", str(store), *extra, emu=ge2_emulator, check=2
        )  # fmt: skip
        assert job["id"] in refused.stderr and job["name"] in refused.stderr
        assert "--batch --wait" in refused.stderr and "ge2 batch cancel" in refused.stderr
    assert ge2_emulator.stats["items"] == 0

    table = ge2("batch", "status", "--store", str(store), emu=ge2_emulator).stdout
    assert job["id"] in table and "pending" in table and "1 job still running" in table
    assert ge2_emulator.stats["batch"]["gets"] >= 1
    unknown = ge2("batch", "cancel", "ge2-nope", "--store", str(store), emu=ge2_emulator, check=2)
    assert "no batch job ge2-nope" in unknown.stderr and "ge2 batch list" in unknown.stderr

    cancelled = _jobs(store, ge2_emulator, "cancel", job["name"])
    assert [(j["id"], j["state"]) for j in cancelled] == [(job["id"], "cancelled")]
    assert ge2_emulator.stats["batch"]["cancels"] == 1
    assert [j["live"] for j in cancelled] == [False]

    # Cancelled: plain indexing is allowed again and embeds the three files online.
    proc = ge2("index", str(folder), "--store", str(store), "--json", emu=ge2_emulator)
    assert json.loads(proc.stdout)["files_embedded"] == 3
    assert ge2_emulator.stats["items"] == 3


def test_bad_files_are_skipped_by_name_and_counted(tmp_path: Path, ge2_emulator: Emulator) -> None:
    folder, store = _notes(tmp_path / "notes", 3), tmp_path / "store"
    (folder / "bomb.png").write_bytes(samples.huge_png(20000, 20000))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    summary = _batch_index(folder, store, ge2_emulator, "--wait", "--poll", "0")
    skipped = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert set(skipped) == {"bomb.png", "broken.pdf"}, skipped
    assert "pixels" in skipped["bomb.png"]
    assert summary["files_embedded"] == 3 and summary["batch"]["items"] == 3
    assert ge2_emulator.stats["batch"]["items_submitted"] == 3


def test_items_a_job_could_not_embed_fail_by_name_or_go_online(
    tmp_path: Path, ge2_emulator: Emulator
) -> None:
    folder = _notes(tmp_path / "notes", 4)
    ge2_emulator.configure(batch_item_fail_every=2)
    failed = _batch_index(
        folder, tmp_path / "a", ge2_emulator, "--wait", "--poll", "0", check=1
    )  # fmt: skip
    assert len(failed["failed"]) == 2 and failed["files_embedded"] == 2
    assert all("--fallback online" in f["reason"] for f in failed["failed"])
    assert ge2_emulator.stats["items"] == 0
    # A later run with --fallback online embeds just those two online, not as a new job.
    later = _batch_index(folder, tmp_path / "a", ge2_emulator, "--fallback", "online")
    assert later["failed"] == [] and later["files_embedded"] == 2 and later["store_files"] == 4
    assert ge2_emulator.stats["items"] == 2
    assert ge2_emulator.stats["batch"]["creates"] == 1

    ge2_emulator.reset_stats()  # in one run: the job's failures go online at once
    rescued = _batch_index(
        folder, tmp_path / "b", ge2_emulator, "--wait", "--poll", "0", "--fallback", "online"
    )  # fmt: skip
    assert rescued["failed"] == [] and rescued["files_embedded"] == 4
    assert ge2_emulator.stats["items"] == 2  # just the two the job failed, online
    assert ge2_emulator.stats["batch"]["creates"] == 1


STAGES = ["after-record", "after-create", "after-poll", "before-store-write"]


@pytest.mark.parametrize("stage", STAGES)
def test_killed_run_resumes_without_submitting_twice(
    tmp_path: Path, ge2_emulator: Emulator, stage: str
) -> None:
    folder, store = _notes(tmp_path / "notes", 4), tmp_path / "store"
    killed = ge2(
        "index", str(folder), "--store", str(store), "-d", "256", "--batch", "--wait",
        "--poll", "0", emu=ge2_emulator, check=75, GE2_BATCH_KILL_AT=stage,
    )  # fmt: skip
    assert killed.stdout == ""
    before = ge2_emulator.stats
    summary = _batch_index(folder, store, ge2_emulator, "--wait", "--poll", "0")
    after = ge2_emulator.stats
    assert summary["files_embedded"] == 4 and summary["store_files"] == 4
    assert after["batch"]["creates"] == 1, after["batch"]  # never submitted twice
    assert after["batch"]["items_submitted"] == 4, after["batch"]
    assert after["items"] == 0  # nothing went online either
    if stage == "before-store-write":  # results were in the cache: zero API calls
        assert after["batch"] == before["batch"] and after["requests"] == before["requests"]
        assert summary["usage"]["cache_hits"] == 4


def test_ctrl_c_while_waiting_keeps_the_jobs(tmp_path: Path, ge2_emulator: Emulator) -> None:
    folder, store = _notes(tmp_path / "notes", 3), tmp_path / "store"
    ge2_emulator.configure(batch_delay_s=FOREVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ge2.cli", "index", str(folder), "--store", str(store),
         "-d", "256", "--batch", "--wait", "--poll", "0.05"],
        env=_env(ge2_emulator),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # blocks until the CLI says it is waiting (no sleeping here)
        seen.append(line)
        if "waiting for 1 batch job" in line:
            break
    else:
        pytest.fail("".join(seen))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert "Interrupted" in out and "the batch jobs keep running" in out.lower()
    assert [j["state"] for j in _jobs(store, None)] == ["pending"]

    ge2_emulator.configure(batch_delay_s=0)
    summary = _batch_index(folder, store, ge2_emulator)
    assert summary["files_embedded"] == 3
    assert ge2_emulator.stats["batch"]["creates"] == 1


def test_offline_batch_waits_by_itself(tmp_path: Path) -> None:
    folder, store = _notes(tmp_path / "notes", 2), tmp_path / "store"
    proc = ge2(
        "index", str(folder), "--store", str(store), "--offline", "--batch", "--json", emu=None
    )  # fmt: skip
    summary = json.loads(proc.stdout)
    assert summary["offline"] and summary["files_embedded"] == 2 and summary["batch"]["waited"]
    assert [j["state"] for j in summary["batch"]["jobs"]] == ["collected"]


def test_vertex_ai_gets_a_clear_error_before_anything_is_read(tmp_path: Path) -> None:
    folder, store = _notes(tmp_path / "notes", 2), tmp_path / "store"
    proc = ge2(
        "index", str(folder), "--store", str(store), "--batch", emu=None, check=2,
        GOOGLE_GENAI_USE_VERTEXAI="true", GOOGLE_CLOUD_PROJECT="my-project",
        GOOGLE_CLOUD_LOCATION="us-central1",
    )  # fmt: skip
    assert "Gemini Developer API only" in proc.stderr and "Vertex AI" in proc.stderr
    assert not store.exists()


def test_batch_options_need_batch_and_exclude_ray(tmp_path: Path) -> None:
    folder = _notes(tmp_path / "notes", 1)
    args = ("index", str(folder), "--store", str(tmp_path / "s"))
    alone = ge2(*args, "--wait", "--poll", "1", emu=None, check=2)
    assert "--wait, --poll only go with --batch" in alone.stderr
    both = ge2(*args, "--batch", "--ray", emu=None, check=2)
    assert "pick one" in both.stderr
    missing = ge2("batch", "list", "--store", str(tmp_path / "nothing"), emu=None, check=2)
    assert "not a ge2 store" in missing.stderr
