"""``ge2 index --ray`` parsing and messages, and the adapter's import guard (no Ray started)."""

from __future__ import annotations

import builtins
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

import ge2
from ge2 import cli


def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(sys.modules, "ge2.integrations.ray", raising=False)


def test_the_adapter_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_ray(monkeypatch)
    with pytest.raises(ge2.MissingExtraError) as info:
        importlib.import_module("ge2.integrations.ray")
    assert 'pip install "ge2[ray]"' in str(info.value)


def test_index_ray_without_ray_gives_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ge2.cli.index import run_index

    (tmp_path / "a.txt").write_text("a note", encoding="utf-8")
    _no_ray(monkeypatch)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")  # never reached
    with pytest.raises(cli.Fail) as info:
        run_index(
            [str(tmp_path / "a.txt")],
            tmp_path / "store",
            offline=True,
            backend_ready=True,
            ray=True,
            progress=False,
        )
    assert info.value.code == cli.EXIT_USAGE
    assert 'pip install "ge2[ray]"' in str(info.value)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["index", "docs", "--store", "s"], None),
        (["index", "docs", "--store", "s", "--ray"], ""),
        (["index", "docs", "--store", "s", "--ray", "auto"], "auto"),
        (["index", "docs", "--ray", "ray://head:10001", "--store", "s"], "ray://head:10001"),
    ],
)
def test_ray_flag_takes_an_optional_address(argv: list[str], expected: str | None) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.ray == expected
    assert args.paths == ["docs"]


def test_ray_before_the_paths_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs").mkdir()
    monkeypatch.chdir(tmp_path)
    code = cli.main(["index", "--ray", "docs", "--store", "s"])
    assert code == cli.EXIT_USAGE
    assert "Put --ray after the PATHs" in capsys.readouterr().err
