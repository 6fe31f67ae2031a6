"""The emulator's Batch API and Files API, driven by google-genai's own methods."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from ge2.emulator import Emulator

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

MODEL = "gemini-embedding-2"


@pytest.fixture
def client(ge2_emulator: Emulator) -> Iterator[genai.Client]:
    yield genai.Client(api_key="k", http_options=types.HttpOptions(base_url=ge2_emulator.url))


def _inline(texts: list[str], dims: int = 128) -> types.EmbeddingsBatchJobSource:
    return types.EmbeddingsBatchJobSource(
        inlined_requests=types.EmbedContentBatch(
            contents=[types.Content(parts=[types.Part(text=t)]) for t in texts],
            config=types.EmbedContentConfig(output_dimensionality=dims),
        )
    )


def _create(client: genai.Client, src: types.EmbeddingsBatchJobSource, name: str) -> types.BatchJob:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.batches.create_embeddings(
            model=MODEL, src=src, config=types.CreateEmbeddingsBatchJobConfig(display_name=name)
        )


def test_inline_job_states_get_list_delete(client: genai.Client, ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(batch_delay_s=3600)
    job = _create(client, _inline(["a cat", "a dog"]), "mine")
    assert job.name and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING and job.display_name == "mine"
    assert [j.display_name for j in client.batches.list()] == ["mine"]
    ge2_emulator.configure(batch_delay_s=0)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    answers = done.dest.inlined_embed_content_responses if done.dest else None
    assert answers is not None and len(answers) == 2
    values = answers[0].response.embedding.values  # type: ignore[union-attr]
    assert values is not None and len(values) == 128
    client.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as info:
        client.batches.get(name=job.name)
    assert info.value.code == 404


def test_list_pages(client: genai.Client) -> None:
    for i in range(3):
        _create(client, _inline([f"text {i}"]), f"job-{i}")
    names = [j.display_name for j in client.batches.list(config={"page_size": 2})]
    assert names == ["job-0", "job-1", "job-2"]


def test_cancel_and_bad_outcomes(client: genai.Client, ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(batch_delay_s=3600)
    job = _create(client, _inline(["x"]), "to-cancel")
    assert job.name
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    for outcome, state in (
        ("expired", types.JobState.JOB_STATE_EXPIRED),
        ("failed", types.JobState.JOB_STATE_FAILED),
    ):
        ge2_emulator.configure(batch_delay_s=0, batch_outcome=outcome)
        other = _create(client, _inline(["y"]), outcome)
        assert other.name and client.batches.get(name=other.name).state == state


def test_file_job_upload_download_and_per_item_limit_errors(
    client: genai.Client, ge2_emulator: Emulator, tmp_path: Path
) -> None:
    lines = [
        {"key": "good", "request": {"content": {"parts": [{"text": "hello"}]}}},
        {
            "key": "bad-mime",
            "request": {
                "content": {"parts": [{"inline_data": {"mime_type": "image/gif", "data": "R0lG"}}]}
            },
        },
        {
            "key": "too-small",
            "request": {"content": {"parts": [{"text": "x"}]}, "output_dimensionality": 12},
        },
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    uploaded = client.files.upload(
        file=str(path), config=types.UploadFileConfig(display_name="reqs", mime_type="jsonl")
    )
    assert uploaded.name and uploaded.name.startswith("files/")
    assert client.files.get(name=uploaded.name).size_bytes == path.stat().st_size
    job = _create(client, types.EmbeddingsBatchJobSource(file_name=uploaded.name), "file-job")
    assert job.name
    done = client.batches.get(name=job.name)
    assert done.dest and done.dest.file_name
    rows = [json.loads(x) for x in client.files.download(file=done.dest.file_name).splitlines()]
    by_key = {r["key"]: r for r in rows}
    assert len(by_key["good"]["response"]["embedding"]["values"]) == 3072
    assert by_key["bad-mime"]["error"]["code"] == 400
    assert "Unsupported MIME type" in by_key["bad-mime"]["error"]["message"]
    assert "out of range" in by_key["too-small"]["error"]["message"]
    stats = ge2_emulator.stats["batch"]
    assert (stats["items_embedded"], stats["item_errors"], stats["downloads"]) == (1, 2, 1)
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError):
        client.files.get(name=uploaded.name)


def test_job_level_limits_answer_400(client: genai.Client, ge2_emulator: Emulator) -> None:
    ge2_emulator.configure(batch_max_requests=2)
    with pytest.raises(errors.ClientError, match="at most 2 are allowed"):
        _create(client, _inline(["a", "b", "c"]), "too-many")
    ge2_emulator.configure(batch_max_requests=100, batch_inline_max_bytes=100)
    with pytest.raises(errors.ClientError, match="Upload a JSONL file"):
        _create(client, _inline(["a long text " * 20]), "too-big")
    with pytest.raises(errors.ClientError) as info:
        _create(client, types.EmbeddingsBatchJobSource(file_name="files/missing"), "no-file")
    assert info.value.code == 404


def test_batch_routes_need_a_key(ge2_emulator: Emulator) -> None:
    import httpx

    answer = httpx.get(f"{ge2_emulator.url}/v1beta/batches")
    assert answer.status_code == 403
    assert answer.json()["error"]["status"] == "PERMISSION_DENIED"
