"""The HTTP side: routes, auth, quota, fault injection, stats.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive, so the real google-genai
SDK (httpx) talks to it exactly as to Google: same paths, headers, bodies and error bodies.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ge2 import media

from . import batches, protocol, vectors
from .config import FAULT_STATUSES, EmulatorConfig
from .protocol import ApiError, Prepared

_GEMINI_ROUTE = re.compile(
    r"^/(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):(?P<method>embedContent|batchEmbedContents)$"
)
_VERTEX_ROUTE = re.compile(
    r"^/(?P<version>v1|v1beta1)/(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"publishers/google/models/(?P<model>[^/:]+):(?P<method>embedContent|batchEmbedContents)$"
)

_QUOTA_METRIC = "generativelanguage.googleapis.com/embed_content_free_tier_requests"
_MINUTE_QUOTA_ID = "EmbedContentRequestsPerMinutePerProjectPerModel-FreeTier"
_DAY_QUOTA_ID = "EmbedContentRequestsPerDayPerProjectPerModel-FreeTier"
_RATE_DOCS = "https://ai.google.dev/gemini-api/docs/rate-limits"

_MODALITIES = ("text", "image", "audio", "video", "pdf")
#: Request headers the log never keeps (credentials); the rest show what a client sent.
_SECRET_HEADERS = frozenset({"x-goog-api-key", "authorization", "proxy-authorization", "cookie"})


def _new_stats() -> dict[str, Any]:
    return {
        "requests": 0,
        "items": 0,
        "status_codes": {},
        "rate_limited": 0,
        "faults_injected": 0,
        "dropped": 0,
        "truncated_inputs": 0,
        "task_type_ignored": 0,
        "modalities": dict.fromkeys(_MODALITIES, 0),
        "tokens": 0,
        "bytes_in": 0,
        "bytes_out": 0,
        #: embed calls being answered at once, and the most seen: the client's real concurrency
        "in_flight": 0,
        "max_in_flight": 0,
    }


def _duration(seconds: float) -> str:
    """protobuf Duration JSON, rounded UP to the millisecond so waiting it is always enough."""
    millis = max(1, math.ceil(seconds * 1000))
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis / 1000:.3f}s"


class _Quota:
    """Sliding-window and daily counters; precise enough that waiting retryDelay succeeds."""

    def __init__(self) -> None:
        self.window: deque[tuple[float, int]] = deque()
        self.used = 0
        self.daily = 0

    def reset(self) -> None:
        self.window.clear()
        self.used = 0
        self.daily = 0

    def admit(self, units: int, cfg: EmulatorConfig, model: str) -> ApiError | None:
        """Consume ``units`` or return the 429 the API would answer."""
        if cfg.daily_limit is not None and self.daily + units > cfg.daily_limit:
            return _quota_error(model, cfg.daily_limit, None, _DAY_QUOTA_ID)
        if cfg.rate_limit is not None:
            now = time.monotonic()
            window = cfg.rate_window_s
            while self.window and self.window[0][0] + window <= now:
                self.used -= self.window.popleft()[1]
            if self.used + units > cfg.rate_limit:
                delay = window
                if units <= cfg.rate_limit:
                    need = self.used + units - cfg.rate_limit
                    freed = 0
                    for stamp, count in self.window:
                        freed += count
                        if freed >= need:
                            delay = stamp + window - now
                            break
                return _quota_error(model, cfg.rate_limit, delay, _MINUTE_QUOTA_ID)
            self.window.append((now, units))
            self.used += units
        self.daily += units
        return None


def _quota_error(model: str, limit: int, delay: float | None, quota_id: str) -> ApiError:
    """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and (per-minute only) RetryInfo."""
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        f"information on this error, head to: {_RATE_DOCS}. To monitor your current usage, head "
        f"to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: {_QUOTA_METRIC}, limit: "
        f"{limit}, model: {model}"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": _QUOTA_METRIC,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(limit),
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_DOCS}],
        },
    ]
    if delay is not None:
        retry = _duration(delay)
        message += f"\nPlease retry in {retry}."
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry})
    return ApiError(429, "RESOURCE_EXHAUSTED", message, details)


def _api_key_invalid() -> ApiError:
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    )


def _not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    """One connection; serves keep-alive requests until the client or ``stop()`` closes it."""

    protocol_version = "HTTP/1.1"
    server_version = "ge2-emulator"
    sys_version = ""
    timeout = 300
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.emulator._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.config.verbose:
            sys.stderr.write(f"ge2-emulator: {self.address_string()} {format % args}\n")

    # -- plumbing -------------------------------------------------------------------------

    def _read_body(self, limit: int) -> tuple[bytes, int]:
        """The body (empty if over ``limit``, but always drained) and its size."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline()
                length = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(length)
                self.rfile.readline()
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
            return (b"".join(chunks) if size <= limit else b""), size
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            length = 0
        if length <= limit:
            return self.rfile.read(length), length
        remaining = length
        while remaining > 0:
            got = self.rfile.read(min(remaining, 1 << 20))
            if not got:
                break
            remaining -= len(got)
        return b"", length

    def _send_json(self, code: int, payload: bytes | str | dict[str, Any]) -> int:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return len(data)

    # -- verbs ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        emu = self.server.emulator
        if path == "/emulator/stats":
            self._send_json(200, emu.stats)
        elif path == "/emulator/config":
            self._send_json(200, emu.config.to_dict())
        elif path in ("/", "/emulator/health"):
            self._send_json(200, {"status": "ok", "models": protocol.served_ids()})
        else:
            self._answer_api_get(path)

    def do_POST(self) -> None:
        path = unquote(urlsplit(self.path).path)
        emu = self.server.emulator
        if path.startswith("/emulator/"):
            self._admin_post(path)
            return
        if self._batch_api(path):
            return
        emu._handle_embed(self, path)

    def do_DELETE(self) -> None:
        if not self._batch_api(unquote(urlsplit(self.path).path)):
            self._method_not_found()

    def do_PUT(self) -> None:
        self._method_not_found()

    do_PATCH = do_PUT

    def _batch_api(self, path: str) -> bool:
        """Serve a Batch API or Files API route (``batches.py``); False if it is not one."""
        found = batches.match(self.command, path)
        if found is None:
            return False
        batches.handle(self.server.emulator, self, *found)
        return True

    def _method_not_found(self) -> None:
        self._read_body(0)
        path = urlsplit(self.path).path
        self._send_json(404, _not_found(f"{self.command} {path} is not a known method.").body())

    def _answer_api_get(self, path: str) -> None:
        if self._batch_api(unquote(path)):
            return
        emu = self.server.emulator
        log = {"time": time.time(), "method": "GET", "path": path}
        emu._finish(self, 404, _not_found(f"GET {path} is not a known method.").body(), log)

    def _admin_post(self, path: str) -> None:
        body, _ = self._read_body(1 << 20)
        emu = self.server.emulator
        if path == "/emulator/config":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise TypeError("expected a JSON object of options")
                emu.configure(**changes)
            except (ValueError, TypeError) as exc:
                self._send_json(400, protocol.invalid(str(exc)).body())
                return
            self._send_json(200, emu.config.to_dict())
        elif path == "/emulator/reset":
            emu.reset_stats()
            emu.reset_quota()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, _not_found(f"POST {path} is not a known method.").body())


class Emulator:
    """An in-process Gemini embedding API on 127.0.0.1 for tests, demos and CI.

    ``with Emulator(latency_ms=0) as emu:`` then point google-genai at ``emu.url``
    (``HttpOptions(base_url=emu.url)`` or ``GOOGLE_GEMINI_BASE_URL``). Options are the
    fields of ``EmulatorConfig``; change them while running with ``configure(**options)``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.config = (config or EmulatorConfig()).updated(**options)
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats = _new_stats()
        self._log: deque[dict[str, Any]] = deque(maxlen=self.config.log_size)
        self._seq = 0
        self._quota = _Quota()
        self._batches = batches.BatchService()
        self._connections: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; ``port=0`` picks a free port."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits at most this long
            name=f"ge2-emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections (clients see a closed socket)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for ``HttpOptions(base_url=...)`` / ``GOOGLE_GEMINI_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use `with`")
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is up."""
        return self._server is not None

    # -- control --------------------------------------------------------------------------

    def configure(self, **options: Any) -> EmulatorConfig:
        """Change options at runtime (unknown names raise TypeError, bad values ValueError)."""
        with self._lock:
            self.config = self.config.updated(**options)
            if self._log.maxlen != self.config.log_size:
                self._log = deque(self._log, maxlen=self.config.log_size)
            return self.config

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters plus ``request_log`` (the most recent requests)."""
        with self._lock:
            snapshot = copy.deepcopy(self._stats)
            snapshot["request_log"] = copy.deepcopy(list(self._log))
        snapshot["batch"] = self._batches.stats()
        return snapshot

    def reset_stats(self) -> None:
        """Zero the counters, the request log and the every-Nth fault counter."""
        with self._lock:
            self._stats = _new_stats()
            self._log.clear()
            self._seq = 0
        self._batches.reset_stats()

    def reset_quota(self) -> None:
        """Forget quota usage (per-window and daily)."""
        with self._lock:
            self._quota.reset()

    # -- internals ------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record_status(self, code: int, log: dict[str, Any] | None = None) -> None:
        with self._lock:
            self._stats["requests"] += 1
            codes = self._stats["status_codes"]
            codes[code] = codes.get(code, 0) + 1
            if log is not None:
                log["status"] = code
                self._log.append(log)

    def _handle_embed(self, handler: _Handler, path: str) -> None:
        cfg = self.config
        started = time.monotonic()
        body, size = handler._read_body(cfg.max_request_bytes)
        log: dict[str, Any] = {"time": time.time(), "method": "POST", "path": path}
        log["headers"] = {
            k.lower(): v for k, v in handler.headers.items() if k.lower() not in _SECRET_HEADERS
        }
        with self._lock:
            self._stats["bytes_in"] += size
        try:
            result = self._embed(handler, path, cfg, body, size, log, started)
        except ApiError as err:
            log["error"] = err.message[:200]
            self._finish(handler, err.code, err.body(), log)
            return
        if result is not None:
            self._finish(handler, 200, result, log)

    def _finish(
        self, handler: _Handler, code: int, payload: str | dict[str, Any], log: dict[str, Any]
    ) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        data = payload.encode("utf-8")
        # Count before answering: a client that reads /emulator/stats next must see this call.
        self._record_status(code, log)
        with self._lock:
            self._stats["bytes_out"] += len(data)
        handler._send_json(code, data)

    def _authenticate(self, handler: _Handler, api: str, cfg: EmulatorConfig) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        key = handler.headers.get("x-goog-api-key") or (query.get("key") or [""])[0]
        auth = handler.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if key:
            if cfg.api_keys is not None and key not in cfg.api_keys:
                raise _api_key_invalid()
            return
        if bearer:
            return  # OAuth: any non-empty token (the emulator cannot verify Google tokens)
        if api == "vertex":
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )

    def _embed(
        self,
        handler: _Handler,
        path: str,
        cfg: EmulatorConfig,
        body: bytes,
        size: int,
        log: dict[str, Any],
        started: float,
    ) -> str | None:
        match = _GEMINI_ROUTE.match(path)
        api: protocol.Api = "gemini"
        if match is None:
            match = _VERTEX_ROUTE.match(path)
            api = "vertex"
        if match is None:
            raise _not_found(f"POST {path} is not a known method.")
        method = match.group("method")
        log.update(api=api, model=match.group("model"), rpc=method)
        self._authenticate(handler, api, cfg)
        model = protocol.resolve_model(match.group("model"))
        if model is None:
            raise _not_found(
                f"models/{match.group('model')} is not found for API version "
                f"{match.group('version')}, or is not supported for {method}. Call ListModels to "
                "see the list of available models and their supported methods."
            )
        if size > cfg.max_request_bytes:
            raise protocol.invalid(
                f"Request payload size exceeds the limit: {cfg.max_request_bytes} bytes."
            )

        with self._lock:
            self._seq += 1
            seq = self._seq
        if cfg.drop_every and seq % cfg.drop_every == 0:
            with self._lock:
                self._stats["dropped"] += 1
                self._stats["requests"] += 1
                log["status"] = "dropped"
                self._log.append(log)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        if cfg.fail_every and seq % cfg.fail_every == 0:
            with self._lock:
                self._stats["faults_injected"] += 1
            status = FAULT_STATUSES[cfg.fail_status]
            raise ApiError(
                cfg.fail_status,
                status,
                "The service is currently unavailable (injected by the ge2 emulator)."
                if cfg.fail_status in (502, 503)
                else "Internal error encountered (injected by the ge2 emulator)."
                if cfg.fail_status == 500
                else "Deadline expired before operation could complete (injected).",
            )
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise protocol.invalid("Invalid JSON payload received. Unexpected token.") from None
        requests = protocol.parse_requests(parsed, method)
        log["contents"] = len(requests)
        prepared: list[Prepared] = []
        for index, (where, req) in enumerate(requests):
            prepared.append(
                protocol.prepare(
                    index,
                    where,
                    req,
                    model=model,
                    api=api,
                    max_audio_seconds=cfg.max_audio_seconds,
                )
            )
        log.update(
            parts=[p.mimes for p in prepared],
            task_types=[p.task_type for p in prepared],
            output_dimensionality=[p.dimensions for p in prepared],
            texts=[p.texts for p in prepared],
        )

        units = 1 if cfg.rate_limit_unit == "request" else len(prepared)
        with self._lock:
            refusal = self._quota.admit(units, cfg, model)
            if refusal is not None:
                self._stats["rate_limited"] += 1
        if refusal is not None:
            raise refusal  # at once, on arrival, as the API does: a 429 costs no latency
        delay_ms = cfg.latency_ms + cfg.item_latency_ms * len(prepared)
        with self._lock:
            self._stats["in_flight"] += 1
            self._stats["max_in_flight"] = max(
                self._stats["max_in_flight"], self._stats["in_flight"]
            )
        try:
            if delay_ms > 0:
                time.sleep(delay_ms / 1000)
        finally:
            with self._lock:
                self._stats["in_flight"] -= 1

        arrays = []
        for item in prepared:
            vec = vectors.truncate(protocol.content_vector(item, model), item.dimensions)
            arrays.append(vectors.to_json_array(vec))
        self._count(prepared, model)
        log["elapsed_ms"] = round((time.monotonic() - started) * 1000, 2)

        if method == "batchEmbedContents":
            return '{"embeddings": [' + ", ".join(f'{{"values": {a}}}' for a in arrays) + "]}"
        out = '{"embedding": {"values": ' + arrays[0] + "}"
        if api == "vertex":
            out += f', "usageMetadata": {{"promptTokenCount": {prepared[0].tokens}}}'
            if prepared[0].truncated:
                out += ', "truncated": true'
        return out + "}"

    def _count(self, prepared: list[Prepared], model: str) -> None:
        ignores_task = not protocol.MODELS[model].task_type_matters
        with self._lock:
            stats = self._stats
            stats["items"] += len(prepared)
            for item in prepared:
                stats["tokens"] += item.tokens
                if item.truncated:
                    stats["truncated_inputs"] += 1
                if item.task_type and ignores_task:
                    stats["task_type_ignored"] += 1
                for mime in item.mimes:
                    modality = media.modality_of(mime) or "text"
                    stats["modalities"][modality] = stats["modalities"].get(modality, 0) + 1
