"""Every package folder is listed in pyproject, so a built wheel ships all of ge2."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; CI runs 3.11
ROOT = Path(__file__).parents[2]


def test_every_package_is_declared() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    found = set()
    for folder, name in (
        ("core", "ge2"),
        ("integrations", "ge2.integrations"),
        ("haystack_integrations", "haystack_integrations"),
        ("llama_index", "llama_index"),
    ):
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == declared
    assert (ROOT / "core" / "py.typed").exists()


@pytest.mark.parametrize(
    "folder",
    [
        "haystack_integrations",
        "haystack_integrations/components",
        "haystack_integrations/components/embedders",
        "llama_index",
        "llama_index/embeddings",
    ],
)
def test_framework_namespaces_stay_namespace_packages(folder: str) -> None:
    """An __init__.py here would hide every other package's part of the namespace."""
    assert (ROOT / folder).is_dir()
    assert not (ROOT / folder / "__init__.py").exists()
