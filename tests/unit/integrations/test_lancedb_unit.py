"""GE2EmbeddingFunction for LanceDB without a network: registry, persisted config, sources."""

from __future__ import annotations

import builtins
import importlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import ge2
from ge2 import samples

ge2_lancedb = pytest.importorskip("ge2.integrations.lancedb")
from lancedb.embeddings import EmbeddingFunctionConfig, get_registry  # noqa: E402
from lancedb.pydantic import LanceModel, Vector  # noqa: E402

GE2EmbeddingFunction = ge2_lancedb.GE2EmbeddingFunction
SECRET = "AIza-unit-test-secret-never-stored"


def _table_metadata(fn: GE2EmbeddingFunction) -> str:
    """Exactly what LanceDB writes into a table's schema metadata for this function."""
    conf = EmbeddingFunctionConfig(source_column="source", vector_column="vector", function=fn)
    meta = get_registry().get_table_metadata([conf])
    return meta["embedding_functions"].decode("utf-8")


def test_registered_under_both_names() -> None:
    registry = get_registry()
    assert registry.get("gemini-embedding-2") is GE2EmbeddingFunction
    assert registry.get("ge2") is GE2EmbeddingFunction
    fn = registry.get("ge2").create(dimensions=768)
    assert fn.ndims() == 768 and fn.embedder.dimensions == 768
    assert json.loads(_table_metadata(fn))[0]["name"] == "gemini-embedding-2"


def test_lance_model_gets_a_vector_column_of_ndims() -> None:
    fn = get_registry().get("gemini-embedding-2").create(dimensions=256)

    class Item(LanceModel):
        source: str = fn.SourceField()
        vector: Vector(fn.ndims()) = fn.VectorField()  # type: ignore[valid-type]

    schema = Item.to_arrow_schema()
    assert schema.field("vector").type == pa.list_(pa.float32(), 256)
    (conf,) = Item.parse_embedding_functions()
    assert conf.function is fn and conf.source_column == "source"


def test_config_round_trips_through_table_metadata(tmp_path: Path) -> None:
    fn = (
        get_registry()
        .get("gemini-embedding-2")
        .create(
            dimensions=256,
            quota=ge2.Quota(100, tokens_per_minute=5000),
            cache=tmp_path / "c.sqlite",
            source_type="text",
        )
    )
    stored = _table_metadata(fn)
    again = get_registry().parse_functions({b"embedding_functions": stored.encode()})
    rebuilt = again["vector"].function
    assert isinstance(rebuilt, GE2EmbeddingFunction)
    assert rebuilt.safe_model_dump() == fn.safe_model_dump()
    assert rebuilt.embedder is fn.embedder  # one Embedder (quota schedule, cache) per settings
    assert rebuilt.embedder.pacer.quota == ge2.Quota(100, tokens_per_minute=5000)
    assert rebuilt.embedder.cache is not None
    assert rebuilt.source_type == "text"
    assert rebuilt == fn and hash(rebuilt) == hash(fn)
    other = GE2EmbeddingFunction.create(dimensions=768)
    assert other.embedder is not fn.embedder


def test_literal_key_is_refused_by_lancedb_sensitive_keys() -> None:
    with pytest.raises(ValueError, match="Sensitive key 'api_key'"):
        GE2EmbeddingFunction.create(api_key=SECRET)


def test_var_key_is_stored_as_its_reference_only() -> None:
    registry = get_registry()
    registry.set_var("ge2_unit_key", SECRET)
    fn = GE2EmbeddingFunction.create(dimensions=256, api_key="$var:ge2_unit_key")
    assert fn.api_key is not None and fn.api_key.get_secret_value() == SECRET
    stored = _table_metadata(fn)
    assert '"api_key": "$var:ge2_unit_key"' in stored
    for shown in (stored, repr(fn), str(fn), repr(vars(fn)), repr(fn.embedder)):
        assert SECRET not in shown


def test_key_given_directly_or_by_environment_is_never_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    direct = GE2EmbeddingFunction(dimensions=256, api_key=SECRET + "-direct")
    from_env = GE2EmbeddingFunction.create(dimensions=256)
    for fn in (direct, from_env):
        shown = [_table_metadata(fn), json.dumps(fn.safe_model_dump()), repr(fn), str(fn)]
        assert all(SECRET not in text for text in shown)
    assert direct.safe_model_dump() == {"dimensions": 256}


def test_peer_arguments_of_lancedb_gemini_text_translate() -> None:
    fn = GE2EmbeddingFunction.create(
        name="gemini-embedding-2",
        dim=768,
        query_task_type="retrieval_query",
        source_task_type="SEMANTIC_SIMILARITY",
    )
    assert (fn.model, fn.dimensions) == ("gemini-embedding-2", 768)
    assert (fn.query_task, fn.source_task) == ("query", "similarity")
    rebuilt = (
        get_registry()
        .parse_functions({b"embedding_functions": _table_metadata(fn).encode()})["vector"]
        .function
    )
    assert rebuilt.dimensions == 768 and rebuilt.source_task == "similarity"


def test_bad_settings_fail_at_construction_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="pass dimensions= or dim=, not both"):
        GE2EmbeddingFunction.create(dimensions=256, dim=768)
    with pytest.raises(ValueError, match="unknown task 'summarise'"):
        GE2EmbeddingFunction.create(query_task="summarise")
    with pytest.raises(ValueError, match="normalize"):  # accepted-and-ignored is never allowed
        GE2EmbeddingFunction.create(normalize=True)
    with pytest.raises(ValueError, match="unknown Quota field"):
        GE2EmbeddingFunction.create(quota={"rpm": 5})
    with pytest.raises(ValueError, match=r"dimensions=5000 is outside 128\.\.3072"):
        GE2EmbeddingFunction.create(dimensions=5000)
    with pytest.raises(ValueError, match="source_type"):
        GE2EmbeddingFunction.create(source_type="image")


def test_string_sources_text_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    png = tmp_path / "fox.dat"  # judged by content, not by name
    png.write_bytes(samples.png())
    notes = tmp_path / "notes.txt"
    notes.write_text("plain notes", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    fn = GE2EmbeddingFunction.create(dimensions=256)
    assert fn._source_input("a fox in the snow", 0) == "a fox in the snow"
    assert isinstance(fn._source_input(str(png), 0), ge2.Image)
    assert isinstance(fn._source_input(f"file://{png}", 0), ge2.Image)
    assert isinstance(fn._source_input("notes.txt", 0), ge2.Text)
    assert isinstance(fn._source_input(samples.png(), 0), bytes)  # the core sniffs bytes
    remote = fn._source_input("gs://bucket/photos/fox.jpg", 0)
    assert isinstance(remote, ge2.Image) and remote.uri == "gs://bucket/photos/fox.jpg"
    with pytest.raises(
        ge2.InputError, match=r"input #3.*missing\.png.*no such file.*source_type='text'"
    ):
        fn._source_input("photos/missing.png", 3)
    as_text = GE2EmbeddingFunction.create(dimensions=256, source_type="text")
    assert as_text._source_input("photos/missing.png", 0) == "photos/missing.png"
    as_uri = GE2EmbeddingFunction.create(dimensions=256, source_type="uri")
    with pytest.raises(ge2.InputError, match=r"input #0.*just words.*no such file"):
        as_uri._source_input("just words", 0)


def test_bad_input_fails_at_once_without_lancedb_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "unit-test")
    fn = GE2EmbeddingFunction.create(dimensions=256, max_retries=2)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    column = pa.array(["fine", str(junk)])
    with pytest.raises(ge2.InputError, match=r"input #1.*junk\.bin.*unknown file type"):
        fn.compute_source_embeddings_with_retry(column)
    with pytest.raises(ge2.InputError, match=r"input #1.*cannot embed a dict"):
        fn.compute_source_embeddings_with_retry([{"not": "embeddable"}, "x"][::-1])
    assert fn.embedder.usage.requests == 0
    assert fn.embedder.retry.max_retries == 2


def test_null_sources_stay_null_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "unit-test")
    fn = GE2EmbeddingFunction.create(dimensions=256)
    assert fn.compute_source_embeddings(pa.array([None, None], type=pa.string())) == [None, None]
    assert fn.embedder.usage.requests == 0


def test_add_pieces_needs_a_ge2_vector_column(tmp_path: Path) -> None:
    import lancedb

    schema = pa.schema([("source", pa.string()), ("vector", pa.list_(pa.float32(), 256))])
    table = lancedb.connect(tmp_path / "db").create_table("plain", schema=schema)
    with pytest.raises(ge2.ConfigurationError, match=r"table 'plain' has no vector column"):
        ge2_lancedb.add_pieces(table, ["a.pdf"])


def test_missing_lancedb_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_lancedb(name: str, *args: object, **kwargs: object) -> object:
        if name == "lancedb" or name.startswith("lancedb."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lancedb)
    monkeypatch.delitem(sys.modules, "ge2.integrations.lancedb")
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.lancedb")
    assert 'pip install "ge2[lancedb]"' in str(info.value)
    assert info.value.package == "lancedb"
