"""Batch API jobs end to end: real google-genai SDK -> real HTTP -> the emulator's batch API."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2.batch import BatchJobs, BatchLimits
from ge2.emulator import Emulator

pytestmark = pytest.mark.e2e

FILES = BatchLimits(inline_bytes=1)  # every job goes as an uploaded JSONL file


def _on(emu: Emulator, **options: object) -> ge2.Embedder:
    return ge2.Embedder(base_url=emu.url, api_key="k", dimensions=256, **options)  # type: ignore[arg-type]


def _texts(n: int, word: str = "cat") -> list[str]:
    return [f"note {i} about a {word} on the mat" for i in range(n)]


def test_inline_job_matches_embed_in_order_unit_norm(
    ge2_emulator: Emulator, tmp_path: Path
) -> None:
    emb = _on(ge2_emulator)
    texts = _texts(12)
    job = emb.submit_batch(texts, state_dir=tmp_path)
    assert [j.mode for j in job.jobs] == ["inline"]
    assert job.names and job.names[0].startswith("batches/")
    vecs = job.results(poll=0)
    assert np.allclose(vecs, emb.embed(texts), atol=1e-5)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    stats = ge2_emulator.stats["batch"]
    assert (stats["creates"], stats["items_submitted"]) == (1, 12)
    usage = emb.usage
    assert usage.batch_items == 12 and usage.batch_tokens > 0
    assert usage.batch_cost_usd == pytest.approx(usage.cost_usd / 2)  # same items online: 2x
    assert job.cost_usd == pytest.approx(usage.batch_cost_usd)
    assert job.online_cost_usd == pytest.approx(usage.cost_usd)


def test_file_job_multi_job_split_and_cache_first(ge2_emulator: Emulator, tmp_path: Path) -> None:
    emb = _on(ge2_emulator)
    texts = _texts(10)
    limits = BatchLimits(inline_bytes=1, max_items=4)
    job = emb.submit_batch(texts, state_dir=tmp_path, limits=limits)
    assert [(j.mode, j.items) for j in job.jobs] == [("file", 4), ("file", 4), ("file", 2)]
    assert np.allclose(job.results(poll=0), emb.embed(texts), atol=1e-5)
    stats = ge2_emulator.stats["batch"]
    assert (stats["creates"], stats["files_uploaded"], stats["downloads"]) == (3, 3, 3)
    # Everything is in the cache now: a second submit sends nothing and still answers.
    again = emb.submit_batch([*texts, "one new note"], state_dir=tmp_path, limits=limits)
    assert len(again.jobs) == 1 and again.jobs[0].items == 1
    assert len(again.results(poll=0)) == 11
    assert ge2_emulator.stats["batch"]["items_submitted"] == 11


def test_split_inputs_pool_and_several_sizes(ge2_emulator: Emulator, tmp_path: Path) -> None:
    emb = _on(ge2_emulator)
    long_text = " ".join(f"word{i % 500}" for i in range(30_000))  # > 8,192 tokens: split
    items = ["short note", long_text]
    job = emb.submit_batch(items, dimensions=[128, 256], state_dir=tmp_path)
    assert job.jobs[0].items > 2  # the long text went as several pieces
    got = job.results(poll=0)
    want = emb.embed(items, dimensions=[128, 256])
    for size in (128, 256):
        assert np.allclose(got[size], want[size], atol=1e-5)
    pieces = job.pieces(poll=0)
    want_pieces = emb.embed_pieces(items, dimensions=128)
    assert [len(p) for p in pieces] == [len(p) for p in want_pieces] and len(pieces[1]) > 1
    assert pieces[1][1].provenance == want_pieces[1][1].provenance
    assert np.allclose(pieces[1][1].vector, want_pieces[1][1].vector, atol=1e-5)


def test_per_item_failures_reported_then_online_fallback(
    ge2_emulator: Emulator, tmp_path: Path
) -> None:
    ge2_emulator.configure(batch_item_fail_every=3)
    emb = _on(ge2_emulator)
    texts = _texts(7)
    job = emb.submit_batch(texts, state_dir=tmp_path)
    with pytest.raises(ge2.EmbeddingError) as info:
        job.results(poll=0)
    err = info.value
    assert [f.index for f in err.failures] == [2, 5]
    assert "injected item failure" in str(err.failures[0].error)
    assert "fallback='online'" in str(err.failures[0].error)
    assert err.vectors[0] is not None and err.vectors[2] is None
    before = ge2_emulator.stats["items"]
    vecs = job.results(fallback="online", poll=0)
    assert ge2_emulator.stats["items"] - before == 2  # only the two failed items, online
    assert np.allclose(vecs, emb.embed(texts), atol=1e-5)


def test_failed_items_are_pending_for_the_next_submit(
    ge2_emulator: Emulator, tmp_path: Path
) -> None:
    ge2_emulator.configure(batch_item_fail_every=2)
    emb = _on(ge2_emulator)
    texts = _texts(4)
    with pytest.raises(ge2.EmbeddingError):
        emb.submit_batch(texts, state_dir=tmp_path).results(poll=0)
    ge2_emulator.configure(batch_item_fail_every=None)
    job = emb.submit_batch(texts, state_dir=tmp_path)
    assert job.jobs[-1].items == 2
    assert len(job.results(poll=0)) == 4
    assert ge2_emulator.stats["batch"]["items_submitted"] == 6


def test_results_file_missing_lines_and_unknown_keys(
    ge2_emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ge2_emulator.configure(batch_missing_every=3, batch_unknown_key=True)
    emb = _on(ge2_emulator)
    job = emb.submit_batch(_texts(6), state_dir=tmp_path, limits=FILES)
    with (
        caplog.at_level(logging.WARNING, logger="ge2.batch"),
        pytest.raises(ge2.EmbeddingError) as info,
    ):
        job.results(poll=0)
    assert [f.index for f in info.value.failures] == [2, 5]
    assert "missing from the results of batch job batches/" in str(info.value.failures[0].error)
    assert "unknown key 'no-such-key'" in caplog.text


@pytest.mark.parametrize("outcome", ["expired", "failed"])
def test_job_that_ends_badly_names_job_and_fix_then_resubmits(
    ge2_emulator: Emulator, tmp_path: Path, outcome: str
) -> None:
    ge2_emulator.configure(batch_outcome=outcome)
    emb = _on(ge2_emulator)
    texts = _texts(5)
    job = emb.submit_batch(texts, state_dir=tmp_path)
    with pytest.raises(ge2.BatchJobError) as info:
        job.results(poll=0)
    message = str(info.value)
    assert job.names[0] in message and outcome in message
    assert "submit_batch() again" in message
    assert info.value.jobs == job.names
    ge2_emulator.configure(batch_outcome="succeeded")
    again = emb.submit_batch(texts, state_dir=tmp_path)
    assert again.ids != job.ids  # the ended job's items went back to pending
    assert len(again.results(poll=0)) == 5
    assert ge2_emulator.stats["batch"]["creates"] == 2


def test_ended_job_online_fallback(ge2_emulator: Emulator, tmp_path: Path) -> None:
    ge2_emulator.configure(batch_outcome="expired")
    emb = _on(ge2_emulator)
    texts = _texts(3)
    vecs = emb.submit_batch(texts, state_dir=tmp_path).results(fallback="online", poll=0)
    assert np.allclose(vecs, emb.embed(texts), atol=1e-5)


def test_registry_lists_refreshes_and_cancels(ge2_emulator: Emulator, tmp_path: Path) -> None:
    ge2_emulator.configure(batch_delay_s=3600)
    emb = _on(ge2_emulator)
    job = emb.submit_batch(_texts(3), state_dir=tmp_path)
    assert job.wait(poll=0, timeout=0) is False
    jobs = BatchJobs(emb, tmp_path)
    assert [j.id for j in jobs.list()] == job.ids
    assert jobs.status()[0].state in ("pending", "running")
    with pytest.raises(ge2.ConfigurationError, match="no batch job batches/nope"):
        jobs.status(["batches/nope"])
    (cancelled,) = jobs.cancel([job.names[0]])
    assert cancelled.state == "cancelled"
    assert ge2_emulator.stats["batch"]["cancels"] == 1
    with pytest.raises(ge2.BatchJobError, match="cancelled"):
        job.results(poll=0)


async def test_async_twins(ge2_emulator: Emulator, tmp_path: Path) -> None:
    emb = _on(ge2_emulator)
    texts = _texts(4)
    job = await emb.asubmit_batch(texts, state_dir=tmp_path, task="query")
    assert await job.await_(poll=0) is True
    vecs = await job.aresults(poll=0)
    assert np.allclose(vecs, emb.embed(texts, task="query"), atol=1e-5)


def test_media_inputs_go_inline_and_by_file(
    ge2_emulator: Emulator, tmp_path: Path, corpus: dict[str, Path]
) -> None:
    emb = _on(ge2_emulator)
    items = [corpus["red-fox.png"], "a caption", ge2.Pdf(corpus["solar-report.pdf"])]
    want = emb.embed(items)
    inline = emb.submit_batch(items, state_dir=tmp_path / "a").results(poll=0)
    by_file = emb.submit_batch(items, state_dir=tmp_path / "b", limits=FILES).results(poll=0)
    assert np.allclose(inline, want, atol=1e-5)
    assert np.allclose(by_file, want, atol=1e-5)


def test_vertex_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    emb = ge2.Embedder(vertexai=True, api_key="k")
    with pytest.raises(ge2.ConfigurationError, match="Gemini Developer API only"):
        emb.submit_batch(["x"], state_dir=tmp_path)


def test_bad_input_fails_before_anything_is_recorded(
    ge2_emulator: Emulator, tmp_path: Path
) -> None:
    emb = _on(ge2_emulator)
    with pytest.raises(ge2.InputError, match="input #1"):
        emb.submit_batch(["fine", ge2.Image(b"not an image", mime="image/png")], state_dir=tmp_path)
    assert BatchJobs(emb, tmp_path).list() == []
    assert ge2_emulator.stats["batch"]["creates"] == 0


def test_job_deleted_at_the_api_is_a_named_failure(ge2_emulator: Emulator, tmp_path: Path) -> None:
    ge2_emulator.configure(batch_delay_s=3600)
    emb = _on(ge2_emulator)
    job = emb.submit_batch(_texts(2), state_dir=tmp_path)
    emb.client.batches.delete(name=job.names[0])
    with pytest.raises(ge2.BatchJobError, match=job.names[0]):
        job.results(poll=0)
    assert "not found at the API" in str(job.jobs[0].error)


def test_several_call_configs_go_as_one_file_job(ge2_emulator: Emulator, tmp_path: Path) -> None:
    emb = ge2.Embedder(
        "gemini-embedding-001", base_url=ge2_emulator.url, api_key="k", dimensions=256
    )
    docs = [ge2.Text(f"body of note {i}", title=f"Note {i}") for i in range(4)]
    job = emb.submit_batch(docs, state_dir=tmp_path)
    assert [(j.mode, j.items) for j in job.jobs] == [("file", 4)]  # not four inline jobs
    assert np.allclose(job.results(poll=0), emb.embed(docs), atol=1e-5)
    queries = emb.submit_batch(["which note?"], task="query", state_dir=tmp_path)
    assert [j.mode for j in queries.jobs] == ["inline"]
    assert np.allclose(queries.results(poll=0), emb.embed(["which note?"], task="query"), atol=1e-5)
