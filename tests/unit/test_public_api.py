"""The public names users and adapters rely on are pinned here."""

from __future__ import annotations

import ge2


def test_all_is_pinned() -> None:
    assert sorted(ge2.__all__) == sorted(
        [
            "TASKS",
            "APIError",
            "Audio",
            "ConfigurationError",
            "EmbeddingCache",
            "EmbeddingError",
            "Embedder",
            "GE2Error",
            "Image",
            "Input",
            "InputError",
            "ItemFailure",
            "Media",
            "MissingExtraError",
            "Mixed",
            "Pdf",
            "Piece",
            "Quota",
            "QuotaExhausted",
            "RequestRejected",
            "ServiceOutage",
            "ServiceUnavailable",
            "SplitOptions",
            "Text",
            "Usage",
            "Video",
            "__version__",
            "as_input",
            "limits",
            "load",
            "offline_unless_key",
        ]
    )
    for name in ge2.__all__:
        assert hasattr(ge2, name), name


def test_missing_extra_message_is_the_pip_line() -> None:
    err = ge2.MissingExtraError("langchain-core", "langchain")
    assert 'pip install "ge2[langchain]"' in str(err)
    assert isinstance(err, ImportError)
