"""Pooling mixes single-piece inputs (one vectorised copy) and split inputs (mean of pieces)."""

from __future__ import annotations

import numpy as np

import ge2
from ge2.embedder import _normalize


def test_single_and_split_inputs_pool_like_the_reference() -> None:
    emb = ge2.Embedder(api_key="unit-test", dimensions=256)
    long_text = "alpha beta gamma " * 4000  # split into several pieces
    plan = emb._plan(["a", long_text, "b", "a"], "document")
    assert len(plan.pieces[0]) == 1 and len(plan.pieces[1]) > 1
    rng = np.random.default_rng(9)
    # unnormalised on purpose: pooling must normalise whatever the API sent
    fetched = {w.key: rng.normal(size=3072).astype(np.float32) * 3 for p in plan.pieces for w in p}
    out = emb._pooled(plan, fetched, [768], None)
    assert isinstance(out, list) and len(out) == 4
    for i, items in enumerate(plan.pieces):
        pieces = _normalize(np.stack([fetched[w.key][:768] for w in items]))
        expected = _normalize(pieces.mean(axis=0)[None, :])[0]
        assert np.allclose(out[i], expected, atol=1e-5)
    assert out[0] == out[3]  # the same input, the same vector
