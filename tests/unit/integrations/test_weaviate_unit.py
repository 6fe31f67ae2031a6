"""Pure tests of ge2.integrations.weaviate: the module recipe, routing, errors, extras, secrets."""

from __future__ import annotations

import base64
import builtins
import importlib
import sys
from typing import Any

import numpy as np
import pytest

import ge2
from ge2 import samples
from ge2.integrations.weaviate import InferenceService, ModuleCompatible
from ge2.integrations.weaviate.inference import BadRequest


def test_missing_weaviate_client_fails_at_import_with_the_pip_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_weaviate(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "weaviate" or name.startswith("weaviate."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m.startswith(("weaviate", "ge2.integrations.weaviate"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_weaviate)
    # The inference server and the module recipe need no weaviate-client...
    package = importlib.import_module("ge2.integrations.weaviate")
    assert package.InferenceServer and package.ModuleCompatible
    # ...the client-side helper does, and says how to get it.
    with pytest.raises(ge2.MissingExtraError) as err:
        package.CollectionVectors  # noqa: B018
    assert 'pip install "ge2[weaviate]"' in str(err.value)
    assert err.value.package == "weaviate-client"


# -- ModuleCompatible: the multi2vec-google recipe ------------------------------------------


def test_combine_reproduces_weaviates_own_test_numbers() -> None:
    """modules/multi2vec-google/vectorizer/vectorizer_test.go with fakes_for_test.go:
    text [1..5], image [10..50]; no weights -> [5.5, 11, 16.5, 22, 27.5] (TestVectorizerWithDiff),
    text 0.4 / image 0.6 -> [3.2, 6.4, 9.6, 12.8, 16] (TestVectorizerWithWeights)."""
    text, image = [1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0]
    plain = ModuleCompatible(text_fields=["text"], image_fields=["image"])
    assert np.allclose(plain.combine([text, image]), [5.5, 11, 16.5, 22, 27.5])
    weighted = ModuleCompatible(
        text_fields=["text"],
        image_fields=["image"],
        weights={"textFields": [0.4], "imageFields": [0.6]},
    )
    assert np.allclose(weighted.combine([text, image]), [3.2, 6.4, 9.6, 12.8, 16])


def test_entries_follow_the_modules_order_sorted_names_text_first() -> None:
    """vectorizer.go: properties in sorted order; text vectors, then image, video, audio."""
    compat = ModuleCompatible(
        text_fields=["title", "body"], image_fields=["photo"], audio_fields=["clip"]
    )
    png = samples.png(description="a fox")
    wav = samples.audio(1.0)
    entries = compat.entries(
        {"title": "T", "photo": png, "body": "B", "clip": wav, "other": "not embedded"}
    )
    kinds = [type(e).__name__ for e in entries]
    assert kinds == ["Text", "Text", "Image", "Audio"]
    assert [e.text for e in entries[:2]] == ["B", "T"]  # "body" < "title"


def test_media_fields_are_sniffed_and_base64_blobs_decoded() -> None:
    pdf = samples.pdf(["a page about solar panels"])
    compat = ModuleCompatible(image_fields=["image"])
    # A PDF stored (base64, as Weaviate stores blobs) in an image field stays a PDF.
    (entry,) = compat.entries({"image": base64.b64encode(pdf).decode()})
    assert isinstance(entry, ge2.Pdf)
    with pytest.raises(ge2.InputError, match=r"object, property 'image'"):
        compat.entries({"image": b"PK\x03\x04 not media at all, a zip file" * 4})


def test_from_config_reads_the_module_settings() -> None:
    compat = ModuleCompatible.from_config(
        {
            "textFields": ["caption"],
            "imageFields": ["image"],
            "modelId": "gemini-embedding-2",
            "dimensions": 768,
            "weights": {"textFields": [1], "imageFields": [3]},
            "apiEndpoint": "generativelanguage.googleapis.com",
        }
    )
    assert compat.dimensions == 768 and compat.model == "gemini-embedding-2"
    assert compat.field_weights() == [0.25, 0.75]
    assert compat.task == "raw"


# -- InferenceService: routing, auth, bad input (no socket needed) -------------------------


def _service(**kwargs: Any) -> InferenceService:
    return InferenceService(ge2.Embedder(api_key="unused", dimensions=256), **kwargs)


def test_token_by_header_or_path_prefix_and_never_shown() -> None:
    service = _service(token="s3cret-token")
    assert service.route("/vectorize", None) == ("/vectorize", False)
    assert service.route("/vectorize", "Bearer wrong") == ("/vectorize", False)
    assert service.route("/vectorize", "Bearer s3cret-token") == ("/vectorize", True)
    # Weaviate's module clients send no headers: the token rides in the module's URL.
    assert service.route("/t/s3cret-token/vectorize", None) == ("/vectorize", True)
    assert service.route("/t/nope/meta", None) == ("/meta", False)
    assert "s3cret" not in repr(service) and "s3cret" not in str(service.meta())
    assert _service().route("/meta?x=1", None) == ("/meta", True)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"imu": ["AAAA"]}, 422, "imu"),
        ({"images": ["%%% not base64 %%%"]}, 422, "images[0]: not valid base64; send"),
        ({"audio": [base64.b64encode(b"\x00\x01\x02 garbage" * 20).decode()]}, 422, "audio[0]"),
        ({"images": [base64.b64encode(b"just some text").decode()]}, 422, "holds text"),
        ({"texts": "not a list"}, 422, "texts: expected a list of texts, got a string"),
    ],
)
def test_bad_media_get_a_clear_4xx(body: dict[str, Any], status: int, words: str) -> None:
    with pytest.raises(BadRequest) as err:
        _service().vectorize(body)
    assert err.value.status == status
    assert words in str(err.value)


def test_vectors_needs_text() -> None:
    with pytest.raises(BadRequest, match="text: expected a non-empty string, got null"):
        _service().vectors({"config": {"task_type": "passage"}})


def test_inference_server_rpm_reaches_the_pacer() -> None:
    import argparse

    from ge2.integrations.weaviate import inference

    parser = argparse.ArgumentParser()
    inference.add_arguments(parser)
    paced = inference.embedder_from_args(parser.parse_args(["--rpm", "100"]), api_key="k")
    assert paced.pacer.quota == ge2.Quota(100)
    assert inference.embedder_from_args(parser.parse_args([]), api_key="k").pacer.quota is None


def test_collection_vectors_paces_with_the_embedders_quota() -> None:
    """CollectionVectors takes the caller's Embedder: its quota is the one that paces."""
    from ge2.integrations.weaviate import CollectionVectors

    emb = ge2.Embedder(api_key="k", quota={"requests_per_minute": 100})
    helper = CollectionVectors(object(), emb, check=False)
    assert helper.embedder.pacer.quota == ge2.Quota(100)


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_missing_server_packages_fail_at_import_with_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    real_import = builtins.__import__

    def without(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == missing or name.startswith(missing + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m.startswith("ge2.integrations.weaviate")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", without)
    with pytest.raises(ge2.MissingExtraError) as err:
        importlib.import_module("ge2.integrations.weaviate.inference")
    assert err.value.package == missing
    assert 'pip install "ge2[weaviate]"' in str(err.value)


def test_service_limits_must_be_positive_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from ge2.integrations.weaviate import inference

    parser = argparse.ArgumentParser()
    inference.add_arguments(parser)
    args = parser.parse_args(["--read-timeout", "2.5", "--max-image-pixels", "1000"])
    assert args.read_timeout == 2.5 and args.max_image_pixels == 1000
    for bad in (["--read-timeout", "0"], ["--max-items", "-3"], ["--max-inflight-mb", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
        assert bad[0] in capsys.readouterr().err
