"""The ``ge2`` command's parsing and messages that need no server."""

from __future__ import annotations

import builtins
import sys
from typing import Any

import pytest

import ge2
from ge2 import cli


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("index", "search", "embed", "emulator", "demo", "weaviate-inference"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: ge2" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    out = capsys.readouterr().out
    assert "ge2 demo" in out and "index" in out and "weaviate-inference" in out


@pytest.mark.parametrize("value", ["64", "4096", "abc"])
def test_dimensions_are_checked_before_anything_runs(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["embed", "--text", "x", "--dimensions", value])
    assert exc.value.code == 2
    assert "--dimensions" in capsys.readouterr().err


def test_search_collects_files_in_order() -> None:
    args = cli.build_parser().parse_args(
        ["search", "q", "--store", "s", "--image", "a.png", "--pdf", "b.pdf", "--file", "c"]
    )
    assert args.files == [("image", "a.png"), ("pdf", "b.pdf"), ("file", "c")]


def test_embed_without_a_key_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["embed", "--text", "hello"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "export GEMINI_API_KEY" in err and "--offline" in err and "ge2 demo" in err


def _fail_import(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        fromlist = args[2] if len(args) > 2 else kwargs.get("fromlist")
        if name == "ge2.integrations.weaviate" and fromlist and "inference" in fromlist:
            raise error
        return real(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "ge2.integrations.weaviate.inference", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake)


def test_weaviate_inference_missing_extra_prints_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_import(monkeypatch, ge2.MissingExtraError("weaviate-client", "weaviate"))
    assert cli.main(["weaviate-inference", "--port", "0"]) == cli.EXIT_ERROR
    assert 'pip install "ge2[weaviate]"' in capsys.readouterr().err

    missing = ModuleNotFoundError("No module named 'weaviate'", name="weaviate")
    _fail_import(monkeypatch, missing)
    assert cli.main(["weaviate-inference"]) == cli.EXIT_ERROR
    assert 'pip install "ge2[weaviate]"' in capsys.readouterr().err
