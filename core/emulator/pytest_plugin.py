"""pytest plugin (entry point ``ge2_emulator``): a fresh emulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import Emulator


@pytest.fixture
def ge2_emulator() -> Iterator[Emulator]:
    """A running ``Emulator`` on 127.0.0.1 with default options; stopped after the test.

    Point google-genai at it with ``HttpOptions(base_url=ge2_emulator.url)``; change
    behaviour with ``ge2_emulator.configure(rate_limit=..., fail_every=...)``.
    """
    with Emulator() as emu:
        yield emu
