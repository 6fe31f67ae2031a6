"""Ray Data on a local cluster (ray.init(num_cpus=2)): split stage, embedding actors with
one cluster-wide quota, a killed actor, and a store that `ge2 search` opens.

Embeddings go through the real SDK to the emulator; the actors reach it over loopback.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ge2
from ge2 import samples
from ge2.emulator import Emulator

ray = pytest.importorskip("ray")
from ge2.integrations.ray import GE2Embed, embed, files_dataset, write_store  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.ray]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"GE2_CACHE_DIR": "/tmp/ge2-ray-test-cache-unused"}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture
def emu(cluster: None) -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def _opts(emu: Emulator) -> dict[str, Any]:
    return {
        "base_url": emu.url,
        "api_key": "test",
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.2,
    }


def test_text_column_gets_one_vector_per_row(emu: Emulator) -> None:
    texts = [f"note {i} about topic {i % 7}" for i in range(60)]
    ds = ray.data.from_items([{"id": i, "item": t} for i, t in enumerate(texts)])
    rows = embed(
        ds,
        dimensions=256,
        split=False,
        concurrency=2,
        batch_size=20,
        quota_name="text-test",
        **_opts(emu),
    ).take_all()
    assert sorted(r["id"] for r in rows) == list(range(60))
    vecs = {r["id"]: np.asarray(r["embedding"]) for r in rows}
    assert all(v.shape == (256,) and abs(np.linalg.norm(v) - 1) < 1e-4 for v in vecs.values())
    assert len({v.tobytes() for v in vecs.values()}) == 60  # N texts, N distinct vectors
    direct = ge2.Embedder(dimensions=256, **_opts(emu)).embed([texts[5]])[0]
    assert np.allclose(vecs[5], direct, atol=1e-5)


def test_split_stage_gives_pieces_with_provenance(emu: Emulator, tmp_path: Path) -> None:
    pdf = tmp_path / "book.pdf"
    samples.long_pdf(pdf, 14, title="a long book about tides")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG header and nothing else
    note = tmp_path / "note.txt"
    note.write_text("a short note about lighthouses", encoding="utf-8")
    ds = ray.data.from_items([{"item": str(p)} for p in (pdf, bad, note)])
    rows = embed(
        ds, kind="file", dimensions=128, concurrency=1, quota_name="split-test", **_opts(emu)
    ).take_all()
    book = sorted((r for r in rows if r["item"] == str(pdf)), key=lambda r: r["piece"])
    assert [(r["page_start"], r["page_end"]) for r in book] == [(1, 6), (7, 12), (13, 14)]
    assert all(r["embedding"] is not None for r in book)
    broken = [r for r in rows if r["item"] == str(bad)]
    assert len(broken) == 1 and broken[0]["embedding"] is None and broken[0]["embedding_error"]
    assert [r["piece"] for r in rows if r["item"] == str(note)] == [0]


def test_two_actors_share_one_quota(emu: Emulator) -> None:
    """Per-input quota of 60 inputs per second: with no quota= given, two actors learn it
    together through the quota actor and 429s stay a small share of calls."""
    emu.configure(rate_limit=60, rate_window_s=1.0, rate_limit_unit="item", latency_ms=20)
    ds = ray.data.from_items([{"id": i, "item": f"text number {i}"} for i in range(600)])
    rows = embed(
        ds,
        dimensions=128,
        split=False,
        concurrency=2,
        batch_size=20,
        quota_name="shared-test",
        **_opts(emu),
    ).take_all()
    assert sorted(r["id"] for r in rows) == list(range(600))
    assert all(r["embedding"] is not None for r in rows)
    stats = emu.stats
    calls = stats["requests"]
    assert stats["rate_limited"] <= max(3, 0.10 * calls), (stats["rate_limited"], calls)


class _DiesOnce(GE2Embed):
    # pickled by value: the workers cannot import this test module
    """Exits its process on the first batch it sees (once per test, via a marker file)."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        marker = Path(os.environ["GE2_TEST_MARKER"])
        if not marker.exists():
            marker.write_text("died")
            os._exit(1)
        return super().__call__(batch)


def test_a_killed_actor_is_restarted_and_no_row_is_lost_or_doubled(
    emu: Emulator, tmp_path: Path
) -> None:
    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "marker"
    os.environ["GE2_TEST_MARKER"] = str(marker)
    ds = ray.data.from_items([{"id": i, "item": f"row {i}"} for i in range(80)])
    out = ds.map_batches(
        _DiesOnce,
        fn_constructor_kwargs={"dimensions": 128, "quota_name": "kill-test", **_opts(emu)},
        compute=ray.data.ActorPoolStrategy(size=2),
        batch_size=10,
        batch_format="numpy",
        num_cpus=0.5,
        max_restarts=2,
        max_task_retries=3,
        runtime_env={"env_vars": {"GE2_TEST_MARKER": str(marker)}},
    )
    rows = out.take_all()
    assert marker.exists()
    assert sorted(r["id"] for r in rows) == list(range(80))
    assert all(r["embedding"] is not None for r in rows)


def test_written_store_is_searched_by_ge2_search(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ge2.cli.search import run_search

    corpus = [str(p) for p in samples.write_corpus(tmp_path / "corpus")]
    ds = embed(
        files_dataset(corpus),
        column="path",
        kind="file",
        dimensions=256,
        concurrency=2,
        quota_name="store-test",
        **_opts(emu),
    )
    counts = write_store(ds, tmp_path / "store", dimensions=256, offline=True)
    assert counts == {"files": len(corpus), "failed": 0}
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emu.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    out = io.StringIO()
    rows = run_search(
        tmp_path / "store",
        ge2.Text("a red fox running through snow"),
        k=2,
        out=out,
        backend_ready=True,
    )
    assert rows[0]["path"].endswith("red-fox.png")
    import lancedb

    db = lancedb.connect(str(tmp_path / "store" / "lance"))
    assert db.open_table("pieces").count_rows() >= len(corpus)


def test_bytes_and_uri_columns(emu: Emulator, tmp_path: Path) -> None:
    """A column of bytes is file content; a gs:// URI goes to the API as the URI, not as the
    (empty) bytes a worker could read from it."""
    png = tmp_path / "fox.png"
    samples.write_corpus(tmp_path / "c")
    png = next((tmp_path / "c").glob("red-fox.png"))
    content = png.read_bytes()
    ds = ray.data.from_items(
        [{"id": 0, "item": content}, {"id": 1, "item": "gs://bucket/photos/fox.png"}]
    )
    rows = {
        r["id"]: r
        for r in embed(
            ds, kind="file", dimensions=128, concurrency=1, quota_name="uri-test", **_opts(emu)
        ).take_all()
    }
    direct = ge2.Embedder(dimensions=128, **_opts(emu))
    want_bytes, want_uri = direct.embed(
        [ge2.load(content), ge2.Image("gs://bucket/photos/fox.png", "image/png")]
    )
    assert rows[0]["embedding_error"] is None and rows[1]["embedding_error"] is None
    assert np.allclose(rows[0]["embedding"], want_bytes, atol=1e-5)
    assert np.allclose(rows[1]["embedding"], want_uri, atol=1e-5)
    assert not np.allclose(rows[1]["embedding"], rows[0]["embedding"], atol=1e-3)


def test_ge2_index_ray_detects_changes_and_search_finds_files(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ge2 index --ray`` (on the running local Ray): a re-run embeds nothing, a changed
    file is re-embedded, a deleted one dropped, a broken one skipped by name."""
    import json

    from ge2.cli.index import run_index
    from ge2.cli.search import run_search

    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emu.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    corpus = tmp_path / "corpus"
    samples.write_corpus(corpus)
    samples.long_pdf(corpus / "guide.pdf", 14, title="a guide to tides")
    (corpus / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    store = tmp_path / "store"

    def index() -> dict[str, Any]:
        out = io.StringIO()
        code = run_index(
            [str(corpus)],
            store,
            offline=True,
            dimensions=256,
            backend_ready=True,
            ray=True,
            progress=False,
            as_json=True,
            out=out,
        )
        summary: dict[str, Any] = json.loads(out.getvalue())
        summary["code"] = code
        return summary

    first = index()
    n = len(list(corpus.iterdir()))
    assert first["files_found"] == n and first["new"] == n - 1
    assert first["files_embedded"] == n - 1
    assert [s["path"] for s in first["skipped"]] == [str(corpus / "broken.png")]
    assert first["pieces_by_modality"]["pdf"] >= 3
    assert first["usage"]["items"] == first["pieces"] and first["usage"]["requests"] >= 1
    calls = emu.stats["requests"]

    again = index()
    assert again["files_embedded"] == 0 and again["unchanged"] == n - 1
    assert emu.stats["requests"] == calls  # nothing new reached the API

    (corpus / "notes.md").write_text("# Tides\nthe moon pulls the sea twice a day", "utf-8")
    (corpus / "broken.png").unlink()
    victim = sorted(p for p in corpus.iterdir() if p.suffix == ".txt")[0]
    victim.write_text("a completely different text about volcanoes", encoding="utf-8")
    third = index()
    assert third["new"] == 1 and third["changed"] == 1 and third["files_embedded"] == 2
    assert third["store_files"] == n  # n - 1 kept, one new (the broken one never stored)

    hits = run_search(
        store,
        ge2.Text("a red fox running through snow"),
        k=2,
        out=io.StringIO(),
        backend_ready=True,
    )
    assert hits[0]["path"].endswith("red-fox.png")
