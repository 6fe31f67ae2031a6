"""Embedder planning, packing and pooling, without a network."""

from __future__ import annotations

import numpy as np
import pytest

import ge2
from ge2 import limits, samples
from ge2.embedder import _normalize


@pytest.fixture
def emb() -> ge2.Embedder:
    return ge2.Embedder(api_key="unit-test", dimensions=256)


def test_dimensions_are_validated() -> None:
    with pytest.raises(ge2.ConfigurationError, match=r"128..3072"):
        ge2.Embedder(api_key="k", dimensions=64)
    with pytest.raises(ge2.ConfigurationError, match=r"batch_size"):
        ge2.Embedder(api_key="k", batch_size=101)


def test_key_is_not_in_repr() -> None:
    emb = ge2.Embedder(api_key="super-secret-key")
    assert "super-secret" not in repr(emb)


def test_missing_credentials_say_how_to_fix() -> None:
    emb = ge2.Embedder()
    with pytest.raises(ge2.ConfigurationError, match=r"GEMINI_API_KEY.*emulator"):
        _ = emb.client


def test_packing_respects_count_bytes_and_groups(emb: ge2.Embedder) -> None:
    plan = emb._plan([f"text {i}" for i in range(250)], "document")
    batches = emb._batches([w for items in plan.pieces for w in items])
    assert [len(b) for b in batches] == [100, 100, 50]

    big = ge2.Image(samples.png(size=(8, 8)))
    object.__setattr__(big, "_data", big.read())
    plan = emb._plan([big] * 3, "document")
    items = [w for p in plan.pieces for w in p]
    # Make each item look like 9 MB: two fit under the 20 MB packing target, not three.
    import dataclasses

    heavy = [dataclasses.replace(w, nbytes=9 * 1024 * 1024) for w in items]
    assert [len(b) for b in emb._batches(heavy)] == [2, 1]

    e1 = ge2.Embedder("gemini-embedding-001", api_key="k")
    plan = e1._plan([ge2.Text("a", title="A"), ge2.Text("b", title="B"), "c"], "document")
    groups = e1._batches([w for p in plan.pieces for w in p])
    assert len(groups) == 3  # title is call-level config for gemini-embedding-001


def test_bad_input_raises_before_sending(emb: ge2.Embedder) -> None:
    with pytest.raises(ge2.InputError, match=r"input #1"):
        emb._plan(["fine", 42], "document")


def test_check_reports_each_refused_input_without_sending() -> None:
    emb = ge2.Embedder(api_key="k", overflow="error")  # sockets are off: nothing is sent
    errors = emb.check(["fine", 42, "", "word " * 20000, ge2.Image(b"not an image")])
    assert errors[0] is None
    assert [e.index for e in errors[1:] if e is not None] == [1, 2, 3, 4]
    assert "empty text" in str(errors[2]) and not errors[2].over_limit
    assert errors[3].over_limit and "overflow='split'" in str(errors[3])
    # what check accepts, embed plans without a refusal; split inputs are fine
    assert ge2.Embedder(api_key="k").check(["word " * 20000]) == [None]
    assert emb.check([]) == []


def test_quota_from_a_dict_reaches_the_pacer() -> None:
    emb = ge2.Embedder(api_key="k", quota={"requests_per_minute": 100, "tokens_per_minute": 5000})
    assert emb.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
    assert ge2.Embedder(api_key="k").pacer.quota is None
    with pytest.raises(ValueError, match=r"unknown Quota field\(s\) \['rpm'\]"):
        ge2.Embedder(api_key="k", quota={"rpm": 100})
    with pytest.raises(TypeError, match=r"ge2\.Quota or a dict"):
        ge2.Embedder(api_key="k", quota=100)  # type: ignore[arg-type]


def test_overflow_error_policy() -> None:
    emb = ge2.Embedder(api_key="k", overflow="error")
    with pytest.raises(ge2.InputError, match=r"over the model's limits.*overflow='split'"):
        emb._plan(["word " * 20000], "document")


def test_long_text_is_split_with_provenance(emb: ge2.Embedder) -> None:
    text = "alpha beta gamma " * 4000
    plan = emb._plan([text], "document")
    pieces = plan.pieces[0]
    assert len(pieces) >= 2
    for w in pieces:
        assert w.tokens <= limits.MAX_TOKENS_PER_INPUT
        prov = w.item.provenance
        assert 0 <= prov["char_start"] < prov["char_end"] <= len(text)


def test_identical_inputs_are_sent_once(emb: ge2.Embedder) -> None:
    plan = emb._plan(["same", "same", "other"], "query")
    assert len(plan.unique()) == 2
    assert plan.owners[plan.pieces[0][0].key] == [0, 1]


def test_cache_key_depends_on_model_task_and_bytes(emb: ge2.Embedder) -> None:
    a = emb._plan(["x"], "document").pieces[0][0].key
    b = emb._plan(["x"], "query").pieces[0][0].key
    c = ge2.Embedder("gemini-embedding-001", api_key="k")._plan(["x"], "document").pieces[0][0].key
    assert len({a, b, c}) == 3


def test_pooling_and_matryoshka_sizes(emb: ge2.Embedder) -> None:
    plan = emb._plan(["a", "b"], "document")
    rng = np.random.default_rng(0)
    fetched = {w.key: _normalize(rng.normal(size=(1, 3072)))[0] for p in plan.pieces for w in p}
    out = emb._pooled(plan, fetched, [256, 3072], [256, 3072])
    assert isinstance(out, dict)
    for d in (256, 3072):
        arr = np.asarray(out[d])
        assert arr.shape == (2, d)
        assert np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    small = np.asarray(out[256])
    prefix = _normalize(np.asarray(out[3072])[:, :256])
    assert np.allclose(small, prefix, atol=1e-5)


def test_over_limit_errors_are_flagged() -> None:
    emb = ge2.Embedder(api_key="k", overflow="error")
    with pytest.raises(ge2.InputError) as info:
        emb._plan(["word " * 20000], "document")
    assert info.value.over_limit
    with pytest.raises(ge2.InputError) as info:
        emb._plan([""], "document")
    assert not info.value.over_limit


def test_an_empty_cache_is_still_truthy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = ge2.EmbeddingCache(tmp_path / "c.sqlite")
    assert len(cache) == 0 and bool(cache)
