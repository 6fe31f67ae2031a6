"""The batch state file: what a killed process leaves must be enough to finish the work."""

from __future__ import annotations

from pathlib import Path

import pytest

import ge2
from ge2 import batch_state as bs
from ge2.batch import BatchLimits, Polling


def _state(tmp_path: Path) -> bs.BatchState:
    return bs.BatchState(tmp_path / "state")


def _record(state: bs.BatchState, job_id: str, keys: list[str], dims: int = 256) -> None:
    state.record(
        job_id,
        mode="inline",
        model="gemini-embedding-2",
        dims=dims,
        items=[(k, "text", 10) for k in keys],
        cost_usd=0.001,
    )


def test_a_record_survives_reopening_and_starts_submitting(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _record(state, "ge2-a", ["k1", "k2"])
    state.close()
    again = _state(tmp_path)
    (job,) = again.jobs()
    assert (job.id, job.name, job.state, job.items, job.tokens) == (
        "ge2-a",
        None,
        "submitting",
        2,
        20,
    )
    assert [i.key for i in again.items("ge2-a")] == ["k1", "k2"]
    assert [i.seq for i in again.items("ge2-a")] == [0, 1]


def test_live_jobs_claim_their_keys_until_they_end_badly(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _record(state, "ge2-a", ["k1", "k2"])
    state.update("ge2-a", name="batches/1", state=bs.RUNNING)
    assert state.live_jobs_for(["k1", "k3"], 256) == {"k1": "ge2-a"}
    assert state.live_jobs_for(["k1"], 512) == {}  # a larger size needs a new job
    assert state.job("batches/1") == state.job("ge2-a")
    state.update("ge2-a", state=bs.EXPIRED, error="expired")
    assert state.live_jobs_for(["k1", "k2"], 256) == {}
    assert {i.status for i in state.items("ge2-a")} == {bs.RELEASED}
    assert state.failures_for(["k1"]) == {"k1": (True, "batch job batches/1 ended expired")}


def test_finish_marks_done_failed_and_missing(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _record(state, "ge2-a", ["k1", "k2", "k3"])
    state.update("ge2-a", name="batches/9", state=bs.SUCCEEDED)
    state.finish("ge2-a", [0], {1: "400: bad"}, missing_error="missing from batches/9")
    (job,) = state.jobs()
    assert (job.state, job.done, job.failed) == (bs.COLLECTED, 1, 2)
    why = state.failures_for(["k1", "k2", "k3"])
    assert why == {
        "k2": (False, "400: bad (batch job batches/9)"),
        "k3": (False, "missing from batches/9 (batch job batches/9)"),
    }


def test_a_later_attempt_supersedes_an_earlier_failure(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _record(state, "ge2-a", ["k1"])
    state.update("ge2-a", name="batches/1", state=bs.FAILED)
    _record(state, "ge2-b", ["k1"])
    state.update("ge2-b", name="batches/2", state=bs.PENDING)
    assert state.failures_for(["k1"]) == {}
    assert state.live_jobs_for(["k1"], 128) == {"k1": "ge2-b"}


def test_abandoned_record_releases_items(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _record(state, "ge2-a", ["k1"])
    state.update("ge2-a", state=bs.ABANDONED, error="never created")
    assert state.live_jobs_for(["k1"], 128) == {}
    assert not state.jobs()[0].live


def test_limits_and_polling_validate() -> None:
    with pytest.raises(ge2.ConfigurationError):
        BatchLimits(max_items=0)
    with pytest.raises(ge2.ConfigurationError, match="poll=-1"):
        Polling.of(-1)
    assert Polling.of(0.5) == Polling(0.5, 300.0, 1.5)
    assert Polling.of(None) == Polling()


def test_poll_zero_still_backs_off() -> None:
    # poll=0 asks at once, then backs off geometrically instead of spinning on batches.get.
    polling, delay, delays = Polling.of(0), 0.0, []
    for _ in range(40):
        delay = polling.after(delay)
        delays.append(delay)
    assert delays[0] > 0 and delays == sorted(delays) and delays[-1] == 300.0


def test_a_broken_state_file_is_named_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / bs.BatchState.FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ge2.ConfigurationError, match=r"batch-jobs\.sqlite is not a readable"):
        bs.BatchState(folder)


def test_a_record_being_submitted_by_a_live_process_is_not_stale(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    state = _state(tmp_path)
    _record(state, "ge2-mine", ["k1"])
    assert not state.submitting_elsewhere("ge2-mine")  # this process: not "elsewhere"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _record(state, "ge2-other", ["k2"])
        with state._conn:
            state._conn.execute(
                "UPDATE jobs SET owner = ? WHERE id = ?",
                (f"{socket.gethostname()}:{other.pid}", "ge2-other"),
            )
        assert state.submitting_elsewhere("ge2-other")
    finally:
        other.kill()
        other.wait()
    assert not state.submitting_elsewhere("ge2-other")  # its process is gone: stale
    assert os.getpid() != other.pid


def test_usage_counts_batch_apart_at_half_price() -> None:
    from ge2.usage import UsageMeter

    meter = UsageMeter()
    meter.embedded("text", 1_000_000)
    meter.embedded_batch("text", 1_000_000)
    u = meter.snapshot()
    assert (u.items, u.tokens, u.batch_items, u.batch_tokens) == (1, 1_000_000, 1, 1_000_000)
    assert u.batch_cost_usd == pytest.approx(u.cost_usd / 2)
    assert "batch: 1 items" in str(u)
    assert "batch" not in str(UsageMeter().snapshot())
