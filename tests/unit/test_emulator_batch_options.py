"""The emulator's Batch API options: flags, validation, and the pure parts of the service."""

from __future__ import annotations

import argparse
import json

import pytest

from ge2.emulator import EmulatorConfig, cli
from ge2.emulator import batches as eb


def test_batch_flags_become_options() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["--batch-delay-s", "5", "--batch-outcome", "expired", "--batch-item-fail-every", "3"]
    )
    cfg = EmulatorConfig().updated(**cli._options(args))
    assert (cfg.batch_delay_s, cfg.batch_outcome, cfg.batch_item_fail_every) == (5.0, "expired", 3)


@pytest.mark.parametrize(
    "bad", [{"batch_outcome": "done"}, {"batch_delay_s": -1}, {"batch_missing_every": -2}]
)
def test_bad_batch_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig().updated(**bad)


def test_job_moves_pending_then_succeeded_with_valid_operation_json() -> None:
    service = eb.BatchService()
    body = {
        "batch": {
            "displayName": "d",
            "inputConfig": {
                "requests": {"requests": [{"request": {"content": {"parts": [{"text": "hi"}]}}}]}
            },
        }
    }
    slow = EmulatorConfig(batch_delay_s=3600)
    op = service.create("gemini-embedding-2", body, slow)
    assert op["metadata"]["state"] == eb.PENDING and op["done"] is False
    assert json.loads(service.get(op["name"], slow))["metadata"]["state"] == eb.PENDING
    done = json.loads(service.get(op["name"], EmulatorConfig()))
    assert done["done"] is True and done["metadata"]["state"] == eb.SUCCEEDED
    (answer,) = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert len(answer["response"]["embedding"]["values"]) == 3072
    listed = json.loads(service.list(EmulatorConfig(), 10, None))
    assert [o["name"] for o in listed["operations"]] == [op["name"]]
