"""Client and retry options given in the SDK's own shapes reach the client and ge2's policy."""

from __future__ import annotations

import pytest
from google.genai import types

import ge2
from ge2 import transport


def test_http_options_reach_the_client_and_explicit_args_win() -> None:
    emb = ge2.Embedder(
        api_key="k",
        base_url="http://127.0.0.1:1",
        http_options={
            "headers": {"x-team": "search"},
            "base_url": "http://other",
            "api_version": "v1beta",
        },
    )
    opts = emb.client._api_client._http_options
    assert opts.headers is not None and opts.headers.get("x-team") == "search"
    assert opts.base_url.rstrip("/") == "http://127.0.0.1:1"
    assert opts.api_version == "v1beta"


def test_retry_options_become_ge2_policy_not_sdk_retries() -> None:
    emb = ge2.Embedder(
        api_key="k",
        http_options=types.HttpOptions(
            retry_options=types.HttpRetryOptions(
                attempts=3, initial_delay=0.5, max_delay=9, exp_base=3
            )
        ),
    )
    assert emb.retry == transport.RetryPolicy(
        max_retries=2, base_delay=0.5, max_delay=9, exp_base=3
    )
    assert emb.client._api_client._http_options.retry_options is None


def test_unhonourable_retry_codes_and_unknown_fields_raise() -> None:
    with pytest.raises(ge2.ConfigurationError, match="http_status_codes"):
        ge2.Embedder(api_key="k", http_options={"retry_options": {"http_status_codes": [400]}})
    with pytest.raises(ge2.ConfigurationError, match="unknown field"):
        ge2.Embedder(api_key="k", http_options={"bogus": 1})
