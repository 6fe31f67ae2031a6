"""The Batch API and the Files API the SDK uses for embedding jobs, for the emulator.

``client.batches.create_embeddings`` posts ``:asyncBatchEmbedContent`` with inline requests
or the name of a JSONL file uploaded through the Files API's resumable protocol; jobs then
move through the API's states (pending, running, then succeeded, failed, cancelled or
expired) as time passes, and a succeeded job answers inline responses or a results file
to download. Each request is checked by the same code as the online path
(``protocol.prepare``): a bad one becomes a per-item error, as on the real service.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from . import protocol, vectors
from .config import EmulatorConfig
from .protocol import ApiError

if TYPE_CHECKING:
    from .server import Emulator, _Handler

#: The API's job states, as the wire spells them.
PENDING = "BATCH_STATE_PENDING"
RUNNING = "BATCH_STATE_RUNNING"
SUCCEEDED = "BATCH_STATE_SUCCEEDED"
FAILED = "BATCH_STATE_FAILED"
CANCELLED = "BATCH_STATE_CANCELLED"
EXPIRED = "BATCH_STATE_EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED})
_OUTCOMES = {"succeeded": SUCCEEDED, "failed": FAILED, "expired": EXPIRED}


def _stamp(t: float) -> str:
    return (
        datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    )


def new_stats() -> dict[str, int]:
    """The batch counters shown under ``stats["batch"]``."""
    return {
        "creates": 0,
        "items_submitted": 0,
        "items_embedded": 0,
        "item_errors": 0,
        "gets": 0,
        "lists": 0,
        "cancels": 0,
        "deletes": 0,
        "files_uploaded": 0,
        "upload_bytes": 0,
        "downloads": 0,
    }


@dataclass
class StoredFile:
    """A file in the emulator's Files API (an upload in progress until ``done``)."""

    name: str
    display_name: str | None
    mime_type: str
    size: int
    created: float
    data: bytearray = field(default_factory=bytearray)
    done: bool = False
    generated: bool = False

    def resource(self, base: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data) if self.done else self.size),
            "createTime": _stamp(self.created),
            "updateTime": _stamp(self.created),
            "expirationTime": _stamp(self.created + 48 * 3600),
            "uri": f"{base}/v1beta/{self.name}",
            "state": "ACTIVE" if self.done else "PROCESSING",
            "source": "GENERATED" if self.generated else "UPLOADED",
        }
        if self.display_name:
            out["displayName"] = self.display_name
        if self.generated:
            out["downloadUri"] = f"{base}/v1beta/{self.name}:download?alt=media"
        return out


@dataclass
class Job:
    """One embedding batch job and what it will answer."""

    name: str
    model: str
    display_name: str
    created: float
    requests: list[tuple[str | None, dict[str, Any]]]
    from_file: bool
    state: str = PENDING
    ended: float | None = None
    #: The finished job's ``metadata.output`` as JSON text (vectors are not re-parsed).
    output: str | None = None
    stats: dict[str, str] = field(default_factory=dict)

    def operation(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
            "model": f"models/{self.model}",
            "displayName": self.display_name,
            "createTime": _stamp(self.created),
            "updateTime": _stamp(self.ended or self.created),
            "state": self.state,
            "batchStats": self.stats or {"requestCount": str(len(self.requests))},
        }
        if self.ended is not None:
            meta["endTime"] = _stamp(self.ended)
        op: dict[str, Any] = {"name": self.name, "metadata": meta, "done": self.state in TERMINAL}
        if self.state in (FAILED, EXPIRED):
            op["error"] = {"code": 13 if self.state == FAILED else 4, "message": self.state}
        return op

    def operation_json(self) -> str:
        """``operation()`` as JSON text, with the output spliced into the metadata."""
        op = self.operation()
        if self.output is None:
            return json.dumps(op)
        meta = json.dumps(op.pop("metadata"))
        head = json.dumps(op)
        return f'{head[:-1]}, "metadata": {meta[:-1]}, "output": {self.output}}}}}'


class BatchService:
    """Jobs and files, in memory, behind one lock; driven by ``server.Emulator``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, str] = {}  # upload id -> file name
        self.counters = new_stats()

    def reset_stats(self) -> None:
        with self._lock:
            self.counters = new_stats()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    # -- files ----------------------------------------------------------------------------

    def start_upload(self, body: dict[str, Any], size_header: str | None) -> tuple[str, str]:
        """A resumable upload session: (upload id, file name)."""
        meta = body.get("file") if isinstance(body.get("file"), dict) else {}
        assert isinstance(meta, dict)
        name = protocol._get(meta, "name") or f"files/{secrets.token_hex(6)}"
        if not str(name).startswith("files/"):
            name = f"files/{name}"
        size = int(size_header or protocol._get(meta, "sizeBytes") or 0)
        stored = StoredFile(
            name=str(name),
            display_name=protocol._get(meta, "displayName"),
            mime_type=str(protocol._get(meta, "mimeType") or "application/octet-stream"),
            size=size,
            created=time.time(),
        )
        upload_id = secrets.token_hex(8)
        with self._lock:
            if stored.name in self.files:
                raise ApiError(409, "ALREADY_EXISTS", f"File {stored.name} already exists.")
            self.files[stored.name] = stored
            self.uploads[upload_id] = stored.name
        return upload_id, stored.name

    def upload_chunk(
        self, upload_id: str, offset: int, chunk: bytes, finalize: bool
    ) -> StoredFile | None:
        """Append a chunk; the finished file when ``finalize``, else None."""
        with self._lock:
            name = self.uploads.get(upload_id)
            stored = self.files.get(name or "")
            if stored is None:
                raise ApiError(404, "NOT_FOUND", "Unknown upload session.")
            if offset != len(stored.data):
                raise protocol.invalid(
                    f"X-Goog-Upload-Offset {offset} does not match the {len(stored.data)} bytes "
                    "received so far."
                )
            stored.data.extend(chunk)
            self.counters["upload_bytes"] += len(chunk)
            if not finalize:
                return None
            stored.done = True
            self.uploads.pop(upload_id, None)
            self.counters["files_uploaded"] += 1
            return stored

    def file(self, name: str) -> StoredFile:
        with self._lock:
            stored = self.files.get(name)
        if stored is None or not stored.done:
            raise ApiError(404, "NOT_FOUND", f"File {name} does not exist.")
        return stored

    def download(self, name: str) -> bytes:
        stored = self.file(name)
        if not stored.generated:
            raise protocol.invalid(f"Only generated files can be downloaded; {name} was uploaded.")
        with self._lock:
            self.counters["downloads"] += 1
        return bytes(stored.data)

    def delete_file(self, name: str) -> None:
        with self._lock:
            if self.files.pop(name, None) is None:
                raise ApiError(404, "NOT_FOUND", f"File {name} does not exist.")

    # -- jobs -----------------------------------------------------------------------------

    def create(self, model: str, body: Any, cfg: EmulatorConfig) -> dict[str, Any]:
        """``:asyncBatchEmbedContent``: a new job from inline requests or an uploaded file."""
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            raise protocol.invalid("batch is required.", "batch")
        source = protocol._get(batch, "inputConfig")
        if not isinstance(source, dict):
            raise protocol.invalid("batch.input_config is required.", "batch.input_config")
        file_name = protocol._get(source, "fileName")
        inline = protocol._get(source, "requests")
        requests: list[tuple[str | None, dict[str, Any]]]
        if isinstance(file_name, str) and file_name:
            requests = self._file_requests(file_name)
        elif isinstance(inline, dict):
            raw = protocol._get(inline, "requests")
            if not isinstance(raw, list) or not raw:
                raise protocol.invalid(
                    "batch.input_config.requests.requests must not be empty.",
                    "batch.input_config.requests",
                )
            size = len(json.dumps(raw))
            if size > cfg.batch_inline_max_bytes:
                raise protocol.invalid(
                    f"The inline requests are {size} bytes; at most "
                    f"{cfg.batch_inline_max_bytes} bytes may be inlined. Upload a JSONL file "
                    "with the Files API instead.",
                    "batch.input_config.requests",
                )
            requests = []
            for i, entry in enumerate(raw):
                req = protocol._get(entry, "request") if isinstance(entry, dict) else None
                if not isinstance(req, dict):
                    raise protocol.invalid(
                        f"batch.input_config.requests.requests[{i}].request is required.",
                        f"batch.input_config.requests.requests[{i}]",
                    )
                requests.append((None, req))
        else:
            raise protocol.invalid(
                "batch.input_config needs requests or file_name.", "batch.input_config"
            )
        if len(requests) > cfg.batch_max_requests:
            raise protocol.invalid(
                f"The batch has {len(requests)} requests; at most {cfg.batch_max_requests} are "
                "allowed in one batch job.",
                "batch.input_config",
            )
        display = str(protocol._get(batch, "displayName") or "")
        job = Job(
            name=f"batches/{secrets.token_hex(8)}",
            model=model,
            display_name=display,
            created=time.time(),
            requests=requests,
            from_file=bool(file_name),
        )
        with self._lock:
            self.jobs[job.name] = job
            self.counters["creates"] += 1
            self.counters["items_submitted"] += len(requests)
            return job.operation()

    def _file_requests(self, file_name: str) -> list[tuple[str | None, dict[str, Any]]]:
        stored = self.file(file_name if file_name.startswith("files/") else f"files/{file_name}")
        out: list[tuple[str | None, dict[str, Any]]] = []
        for n, line in enumerate(bytes(stored.data).decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise protocol.invalid(f"{file_name} line {n} is not JSON.") from None
            req = protocol._get(row, "request") if isinstance(row, dict) else None
            if not isinstance(req, dict):
                raise protocol.invalid(f"{file_name} line {n} has no request object.")
            key = row.get("key")
            out.append((str(key) if key is not None else None, req))
        if not out:
            raise protocol.invalid(f"{file_name} holds no requests.")
        return out

    def get(self, name: str, cfg: EmulatorConfig) -> str:
        with self._lock:
            self.counters["gets"] += 1
            job = self._job(name)
            self._advance(job, cfg)
            return job.operation_json()

    def list(self, cfg: EmulatorConfig, page_size: int, token: str | None) -> str:
        with self._lock:
            self.counters["lists"] += 1
            names = sorted(self.jobs, key=lambda n: self.jobs[n].created)
            start = int(token) if token and token.isdigit() else 0
            page = names[start : start + page_size]
            ops = []
            for n in page:
                self._advance(self.jobs[n], cfg)
                ops.append(self.jobs[n].operation_json())
        more = ""
        if start + page_size < len(names):
            more = f', "nextPageToken": "{start + page_size}"'
        return f'{{"operations": [{", ".join(ops)}]{more}}}'

    def cancel(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.counters["cancels"] += 1
            job = self._job(name)
            if job.state not in TERMINAL:
                job.state = CANCELLED
                job.ended = time.time()
        return {}

    def delete(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.counters["deletes"] += 1
            self._job(name)
            del self.jobs[name]
        return {}

    def _job(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f"Batch {name} not found.")
        return job

    def _advance(self, job: Job, cfg: EmulatorConfig) -> None:
        """Move a job along its states as time passes (called under the lock)."""
        if job.state in TERMINAL:
            return
        elapsed = time.time() - job.created
        if elapsed < cfg.batch_delay_s:
            job.state = RUNNING if elapsed >= cfg.batch_delay_s / 2 else PENDING
            return
        outcome = _OUTCOMES[cfg.batch_outcome]
        job.ended = time.time()
        if outcome != SUCCEEDED:
            job.state = outcome
            return
        self._run(job, cfg)
        job.state = SUCCEEDED

    def _run(self, job: Job, cfg: EmulatorConfig) -> None:
        """Embed every request: an answer or a per-item error each, like the real service."""
        answers: list[tuple[str | None, str]] = []  # (key, the answer as JSON text)
        ok = failed = 0
        for i, (key, req) in enumerate(job.requests):
            where = f"requests[{i}]"
            try:
                if cfg.batch_item_fail_every and (i + 1) % cfg.batch_item_fail_every == 0:
                    raise ApiError(
                        500, "INTERNAL", f"{where}: injected item failure (ge2 emulator)."
                    )
                prepared = protocol.prepare(
                    i,
                    where,
                    req,
                    model=job.model,
                    api="gemini",
                    max_audio_seconds=cfg.max_audio_seconds,
                )
                vec = vectors.truncate(
                    protocol.content_vector(prepared, job.model), prepared.dimensions
                )
                answer = (
                    f'{{"response": {{"embedding": {{"values": {vectors.to_json_array(vec)}}}, '
                    f'"tokenCount": {prepared.tokens}}}}}'
                )
                ok += 1
            except ApiError as err:
                answer = json.dumps({"error": {"code": err.code, "message": err.message}})
                failed += 1
            answers.append((key, answer))
        self.counters["items_embedded"] += ok
        self.counters["item_errors"] += failed
        job.stats = {
            "requestCount": str(len(job.requests)),
            "successfulRequestCount": str(ok),
            "failedRequestCount": str(failed),
        }
        if not job.from_file:
            inner = ", ".join(a for _key, a in answers)
            job.output = f'{{"inlinedResponses": {{"inlinedResponses": [{inner}]}}}}'
            return
        if cfg.batch_missing_every:  # a results file with lines missing (inline is positional)
            answers = [a for n, a in enumerate(answers, 1) if n % cfg.batch_missing_every]
        if cfg.batch_unknown_key:
            answers.append(("no-such-key", '{"error": {"code": 500, "message": "orphan"}}'))
        lines = "".join(f'{{"key": {json.dumps(k)}, {a[1:]}\n' for k, a in answers)
        out = StoredFile(
            name=f"files/batch-{job.name.rsplit('/', 1)[-1]}",
            display_name=f"{job.display_name}-results",
            mime_type="application/jsonl",
            size=0,
            created=time.time(),
            data=bytearray(lines.encode("utf-8")),
            done=True,
            generated=True,
        )
        self.files[out.name] = out
        job.output = json.dumps({"responsesFile": out.name})


# -- HTTP routes (called by ``server._Handler``) ----------------------------------------

_V = r"(?P<version>v1|v1beta|v1alpha)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(rf"^/{_V}/models/(?P<model>[^/:]+):asyncBatchEmbedContent$"), "create"),
    ("GET", re.compile(rf"^/{_V}/batches$"), "list"),
    ("GET", re.compile(rf"^/{_V}/(?P<name>batches/[^/:]+)$"), "get"),
    ("POST", re.compile(rf"^/{_V}/(?P<name>batches/[^/:]+):cancel$"), "cancel"),
    ("DELETE", re.compile(rf"^/{_V}/(?P<name>batches/[^/:]+)$"), "delete"),
    ("POST", re.compile(rf"^/upload/{_V}/files$"), "upload"),
    ("GET", re.compile(rf"^/{_V}/(?P<name>files/[^/:]+):download$"), "download"),
    ("GET", re.compile(rf"^/{_V}/(?P<name>files/[^/:]+)$"), "file"),
    ("DELETE", re.compile(rf"^/{_V}/(?P<name>files/[^/:]+)$"), "delete_file"),
]


def match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The batch or files operation a request is for, or None (not one of these routes)."""
    for verb, pattern, op in _ROUTES:
        m = pattern.match(path)
        if m and verb == method:
            return op, m.groupdict()
    return None


def handle(emu: Emulator, handler: _Handler, op: str, params: dict[str, str]) -> None:
    """Answer one Batch API / Files API request, with the API's error bodies."""
    cfg = emu.config
    service = emu._batches
    url = urlsplit(handler.path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    body, _size = handler._read_body(max(cfg.max_request_bytes, 64 << 20))
    log: dict[str, Any] = {"time": time.time(), "method": handler.command, "path": url.path}
    log["rpc"] = f"batch.{op}"
    base = f"http://{handler.headers.get('Host', f'{emu.host}:{emu.port}')}"
    try:
        if not (op == "upload" and "upload_id" in query):  # the session id is the credential
            emu._authenticate(handler, "gemini", cfg)
        if op == "upload":
            _upload(emu, handler, query, body, base, log)
            return
        if op == "download":
            data = service.download(params["name"])
            emu._record_status(200, log)
            _send_raw(handler, 200, data, {"Content-Type": "application/octet-stream"})
            return
        payload: dict[str, Any] | str
        if op == "create":
            model = protocol.resolve_model(params["model"])
            if model is None:
                raise ApiError(404, "NOT_FOUND", f"models/{params['model']} is not found.")
            try:
                parsed = json.loads(body or b"{}")
            except ValueError:
                raise protocol.invalid("Invalid JSON payload received.") from None
            payload = service.create(model, parsed, cfg)
        elif op == "get":
            payload = service.get(params["name"], cfg)
        elif op == "list":
            size = int(query.get("pageSize") or 50)
            payload = service.list(cfg, max(1, size), query.get("pageToken"))
        elif op == "cancel":
            payload = service.cancel(params["name"])
        elif op == "delete":
            payload = service.delete(params["name"])
        elif op == "file":
            payload = service.file(params["name"]).resource(base)
        else:  # delete_file
            service.delete_file(params["name"])
            payload = {}
    except ApiError as err:
        log["error"] = err.message[:200]
        emu._finish(handler, err.code, err.body(), log)
        return
    emu._finish(handler, 200, payload, log)


def _upload(
    emu: Emulator,
    handler: _Handler,
    query: dict[str, str],
    body: bytes,
    base: str,
    log: dict[str, Any],
) -> None:
    """The resumable upload protocol: ``start`` opens a session, chunks follow it."""
    service = emu._batches
    command = handler.headers.get("X-Goog-Upload-Command", "").lower()
    commands = {c.strip() for c in command.split(",")}
    if "start" in commands:
        try:
            meta = json.loads(body or b"{}")
        except ValueError:
            raise protocol.invalid("Invalid JSON payload received.") from None
        upload_id, _name = service.start_upload(
            meta if isinstance(meta, dict) else {},
            handler.headers.get("X-Goog-Upload-Header-Content-Length"),
        )
        emu._record_status(200, log)
        version = urlsplit(handler.path).path.split("/")[2]
        _send_raw(
            handler,
            200,
            b"",
            {
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-URL": f"{base}/upload/{version}/files?upload_id={upload_id}"
                "&upload_protocol=resumable",
            },
        )
        return
    upload_id = query.get("upload_id", "")
    try:
        offset = int(handler.headers.get("X-Goog-Upload-Offset") or 0)
    except ValueError:
        raise protocol.invalid("X-Goog-Upload-Offset must be an integer.") from None
    stored = service.upload_chunk(upload_id, offset, body, "finalize" in commands)
    emu._record_status(200, log)
    if stored is None:
        _send_raw(handler, 200, b"", {"X-Goog-Upload-Status": "active"})
        return
    data = json.dumps({"file": stored.resource(base)}).encode()
    _send_raw(
        handler,
        200,
        data,
        {"X-Goog-Upload-Status": "final", "Content-Type": "application/json; charset=UTF-8"},
    )


def _send_raw(handler: _Handler, code: int, data: bytes, headers: dict[str, str]) -> None:
    handler.send_response(code)
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
