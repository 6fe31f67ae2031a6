"""GE2EmbeddingFunction / GE2DataLoader without a network: config, secrets, input checks."""

from __future__ import annotations

import builtins
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import ge2
from ge2 import samples

chroma = pytest.importorskip("ge2.integrations.chroma")
from chromadb.utils.embedding_functions import (  # noqa: E402
    config_to_embedding_function,
    known_embedding_functions,
)

GE2EmbeddingFunction = chroma.GE2EmbeddingFunction
SECRET = "AIza-unit-test-secret-never-stored"


def test_config_round_trips_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_GEMINI_KEY", SECRET)
    ef = GE2EmbeddingFunction(dimensions=256, api_key_env_var="MY_GEMINI_KEY")
    config = ef.get_config()
    assert config == {
        "model": "gemini-embedding-2",
        "dimensions": 256,
        "api_key_env_var": "MY_GEMINI_KEY",
        "overflow": "error",
    }
    again = GE2EmbeddingFunction.build_from_config(json.loads(json.dumps(config)))
    assert isinstance(again, GE2EmbeddingFunction)
    assert again.get_config() == config
    assert again.embedder.dimensions == 256
    assert not ef.is_legacy()


def test_vertex_settings_round_trip() -> None:
    ef = GE2EmbeddingFunction(
        dimensions=768, api_key_env_var=None, vertexai=True, project="p", location="us-central1"
    )
    config = ef.get_config()
    assert config["vertexai"] is True and config["project"] == "p"
    assert GE2EmbeddingFunction.build_from_config(config).get_config() == config


def test_key_is_never_in_config_repr_or_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    from_env = GE2EmbeddingFunction(dimensions=256)
    explicit = GE2EmbeddingFunction(dimensions=256, api_key=SECRET + "-explicit")
    for ef in (from_env, explicit):
        shown = [
            json.dumps(ef.get_config()),
            repr(ef),
            str(ef),
            repr(ef.embedder),
            repr({k: v for k, v in vars(ef).items()}),
        ]
        for text in shown:
            assert SECRET not in text


def test_splitter_shares_client_cache_and_options(tmp_path: Path) -> None:
    ef = GE2EmbeddingFunction(
        dimensions=256, api_key=SECRET, cache=tmp_path / "c.sqlite", max_retries=2, batch_size=7
    )
    twin = ef.splitter
    assert twin is ef.splitter
    assert twin.overflow == "split" and ef.embedder.overflow == "error"
    assert twin.client is ef.embedder.client and twin.cache is ef.embedder.cache
    assert (twin.batch_size, twin.retry.max_retries, twin.dimensions) == (7, 2, 256)
    assert SECRET not in repr(vars(ef))
    ef.embedder.close()


def test_quota_is_a_runtime_option_shared_with_the_splitter() -> None:
    for given in (
        {"requests_per_minute": 100, "tokens_per_minute": 5000},
        ge2.Quota(100, tokens_per_minute=5000),
    ):
        ef = GE2EmbeddingFunction(dimensions=256, api_key=SECRET, quota=given)
        assert ef.embedder.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
        assert ef.splitter.pacer is ef.embedder.pacer  # add_media counts against the same quota
        assert "quota" not in ef.get_config()  # runtime only: not persisted with the collection
        again = GE2EmbeddingFunction.build_from_config(ef.get_config())
        assert again.embedder.pacer.quota is None
    with pytest.raises(ValueError, match="unknown Quota field"):
        GE2EmbeddingFunction(api_key_env_var=None, quota={"rpm": 5})


def test_registered_under_its_name_for_reopening() -> None:
    assert GE2EmbeddingFunction.name() == "ge2"
    assert known_embedding_functions["ge2"] is GE2EmbeddingFunction
    ef = config_to_embedding_function(
        {"name": "ge2", "config": {"model": "gemini-embedding-2", "dimensions": 512}}
    )
    assert isinstance(ef, GE2EmbeddingFunction)
    assert ef.dimensions == 512


def test_spaces() -> None:
    ef = GE2EmbeddingFunction(dimensions=256)
    assert ef.default_space() == "cosine"
    assert set(ef.supported_spaces()) == {"cosine", "ip", "l2"}


def test_validate_config_rejects_keys_and_bad_values() -> None:
    GE2EmbeddingFunction.validate_config(GE2EmbeddingFunction(dimensions=256).get_config())
    with pytest.raises(ValueError, match="never stored"):
        GE2EmbeddingFunction.validate_config({"model": "gemini-embedding-2", "api_key": "x"})
    with pytest.raises(ValueError, match="dimensions"):
        GE2EmbeddingFunction.validate_config({"dimensions": 5000})
    with pytest.raises(ValueError, match="overflow"):
        GE2EmbeddingFunction.validate_config({"overflow": "truncate"})
    with pytest.raises(ValueError, match="never stored"):
        GE2EmbeddingFunction.build_from_config({"api_key": SECRET})


def test_validate_config_update_keeps_the_vector_space() -> None:
    ef = GE2EmbeddingFunction(dimensions=256)
    old = ef.get_config()
    ef.validate_config_update(old, {**old, "api_key_env_var": "OTHER_KEY"})
    with pytest.raises(ValueError, match="dimensions cannot change"):
        ef.validate_config_update(old, {**old, "dimensions": 768})
    with pytest.raises(ValueError, match="model cannot change"):
        ef.validate_config_update(old, {"model": "gemini-embedding-001"})


def test_numpy_image_becomes_ge2_image() -> None:
    arr = np.zeros((8, 8, 3), dtype=np.uint8)
    arr[:, :4] = 255
    item = chroma._as_input(arr, 0)
    assert isinstance(item, ge2.Image)
    assert item.mime == "image/png"
    floats = chroma._as_input(arr.astype(np.float64) / 255.0, 0)
    assert floats.read() == item.read()
    assert chroma._as_input("a", 0) == "a"


def test_bad_array_names_the_input() -> None:
    with pytest.raises(ge2.InputError, match=r"input #3.*shape \(2, 2, 7\)"):
        chroma._as_input(np.zeros((2, 2, 7)), 3)


def test_unsupported_type_and_over_limit_fail_before_sending() -> None:
    ef = GE2EmbeddingFunction(dimensions=256, api_key="unit-test")
    with pytest.raises(ge2.InputError, match=r"input #1.*cannot embed a dict"):
        ef(["fine", {"not": "embeddable"}])  # type: ignore[list-item]
    with pytest.raises(ge2.InputError, match=r"input #0.*cannot embed a NoneType"):
        ef([None])  # type: ignore[list-item]
    long_text = "word " * 40_000
    with pytest.raises(ge2.InputError, match=r"input #1.*over the model's limits.*add_media"):
        ef(["short", long_text])
    assert ef.embedder.usage.requests == 0


def test_data_loader_sniffs_and_names_bad_uris(tmp_path: Path) -> None:
    png = tmp_path / "photo.dat"
    png.write_bytes(samples.png())
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 not media " * 20)
    loader = chroma.GE2DataLoader()
    (item,) = loader([f"file://{png}"])
    assert isinstance(item, ge2.Image)
    with pytest.raises(ge2.InputError, match=r"input #1.*missing\.png.*no such file"):
        loader([str(png), str(tmp_path / "missing.png")])
    with pytest.raises(ge2.InputError, match=r"input #0.*junk\.bin.*unknown file type"):
        loader([str(junk)])
    assert loader([None, str(png)])[0] is None  # records without a URI, as ImageLoader does


def test_missing_chromadb_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_chromadb(name: str, *args: object, **kwargs: object) -> object:
        if name == "chromadb" or name.startswith("chromadb."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_chromadb)
    monkeypatch.delitem(sys.modules, "ge2.integrations.chroma")
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.chroma")
    assert 'pip install "ge2[chroma]"' in str(info.value)
    assert info.value.package == "chromadb"
