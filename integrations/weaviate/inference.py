"""``ge2 weaviate-inference``: GE2 behind Weaviate's inference-container protocols.

Self-hosted Weaviate vectorises through modules that call an inference container over
HTTP. This server speaks those protocols exactly as the modules' Go clients send them (in
the weaviate repository):

- ``multi2vec-bind`` (``BIND_INFERENCE_API``; ``modules/multi2vec-bind/clients/vectorizer.go``):
  ``POST /vectorize`` ``{"texts", "images", "audio", "video", "imu", "thermal", "depth"}``
  (media as base64) -> ``{"textVectors", "imageVectors", "audioVectors", "videoVectors",
  ..., "error"}``;
- ``multi2vec-clip`` (``CLIP_INFERENCE_API`` or per-collection ``inferenceUrl``;
  ``modules/multi2vec-clip/clients/vectorizer.go``): the same path with texts and images;
- ``text2vec-transformers`` (``TRANSFORMERS_INFERENCE_API``;
  ``usecases/modulecomponents/clients/transformers/transformers.go``,
  ``modules/text2vec-transformers/clients/batch.go``): ``POST /vectors`` with
  ``{"text", "config": {"task_type": "passage" | "query"}}`` -> ``{"text", "vector",
  "dims"}``, or ``{"texts": [...]}`` -> ``{"vectors", "dims"}``;
- ``GET /.well-known/ready``, ``/.well-known/live`` and ``/meta`` (``clients/startup.go``,
  ``clients/meta.go``).

Media are sniffed, not trusted to their field: a PDF stored in a blob mapped as an image
field is embedded as a PDF. Over-limit media are split and their pieces mean-pooled, and
the cache, Vertex AI, the Gemini API or the emulator all come from the core embedder.
Weaviate's module clients send no credentials, so the optional token is accepted either as
``Authorization: Bearer <token>`` or as a path prefix ``/t/<token>`` (put it in the
module's URL, e.g. ``BIND_INFERENCE_API=http://ge2:8090/t/<token>``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import ge2

logger = logging.getLogger("ge2.weaviate.inference")

#: Request fields of the multi2vec-bind protocol and the response field each answers in.
MEDIA_FIELDS = {"images": "imageVectors", "audio": "audioVectors", "video": "videoVectors"}
UNSUPPORTED_FIELDS = {"imu": "imuVectors", "thermal": "thermalVectors", "depth": "depthVectors"}
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: text2vec-transformers ``config.task_type`` -> ge2 task.
TRANSFORMERS_TASKS = {"passage": "document", "query": "query"}


class BadRequest(Exception):
    """A request this server refuses, with its HTTP status (always a 4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class InferenceService:
    """The protocol logic, independent of the HTTP server (so unit tests need no socket).

    ``text_task`` is the task for texts arriving at ``/vectorize``: the bind and clip
    modules send object texts and ``near_text`` queries the same way, so one task serves
    both ("raw", the default, is what Weaviate's own Google module sends).
    """

    def __init__(
        self,
        embedder: ge2.Embedder,
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        text_task: str = "raw",
    ) -> None:
        self.embedder = embedder
        self._token = token or None
        self.max_body_bytes = max_body_bytes
        self.text_task = text_task

    def __repr__(self) -> str:
        return f"InferenceService({self.embedder!r}, token={'set' if self._token else 'none'})"

    # -- auth and routing -----------------------------------------------------------------

    def route(self, path: str, authorization: str | None) -> tuple[str, bool]:
        """The path without a ``/t/<token>`` prefix, and whether the caller is authorised."""
        path = path.split("?", 1)[0]
        given = None
        if path.startswith("/t/"):
            _, _, rest = path.partition("/t/")
            given, _, tail = rest.partition("/")
            path = "/" + tail
        if authorization and authorization.lower().startswith("bearer "):
            given = given or authorization[7:].strip()
        if self._token is None:
            return path, True
        ok = given is not None and hmac.compare_digest(given.encode(), self._token.encode())
        return path, ok

    def meta(self) -> dict[str, Any]:
        return {
            "model": {"name": self.embedder.model, "dimensions": self.embedder.dimensions},
            "ge2": ge2.__version__,
            "protocols": ["multi2vec-bind", "multi2vec-clip", "text2vec-transformers"],
            "textTask": self.text_task,
        }

    # -- protocols ------------------------------------------------------------------------

    def vectorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /vectorize`` (multi2vec-bind and multi2vec-clip)."""
        for name in UNSUPPORTED_FIELDS:
            if body.get(name):
                raise BadRequest(422, f"{name}: Gemini Embedding 2 does not embed {name} data")
        inputs: list[ge2.Input] = []
        spans: dict[str, tuple[int, int]] = {}
        texts = _strings(body, "texts")
        spans["textVectors"] = (0, len(texts))
        inputs.extend(ge2.Text(t) for t in texts)
        for name, answer in MEDIA_FIELDS.items():
            values = _strings(body, name)
            start = len(inputs)
            for i, value in enumerate(values):
                inputs.append(_media(value, f"{name}[{i}]"))
            spans[answer] = (start, len(inputs))
        vectors = self._embed(inputs, self.text_task)
        out: dict[str, Any] = {a: vectors[s:e] for a, (s, e) in spans.items()}
        out.update({a: [] for a in UNSUPPORTED_FIELDS.values()})
        return out

    def vectors(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /vectors`` (text2vec-transformers), single or batched."""
        config = body.get("config") or {}
        if not isinstance(config, dict):
            raise BadRequest(400, "config must be an object")
        task = TRANSFORMERS_TASKS.get(str(config.get("task_type") or ""), self.text_task)
        if "texts" in body:
            texts = _strings(body, "texts")
            vecs = self._embed([ge2.Text(t) for t in texts], task)
            return {"vectors": vecs, "dims": self.embedder.dimensions}
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise BadRequest(400, "text must be a non-empty string")
        vec = self._embed([ge2.Text(text)], task)[0]
        return {"text": text, "vector": vec, "dims": len(vec)}

    def _embed(self, inputs: list[ge2.Input], task: str) -> list[list[float]]:
        if not inputs:
            return []
        try:
            return self.embedder.embed(inputs, task=task)
        except ge2.InputError as exc:
            raise BadRequest(422, str(exc)) from exc


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(400, f"{name} must be a list of strings")
    return value


def _media(value: str, where: str) -> ge2.Input:
    """A base64 blob as the ge2 input its content says it is (a PDF stays a PDF)."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(400, f"{where}: not valid base64") from None
    try:
        item = ge2.load(data)
    except ge2.InputError as exc:
        raise BadRequest(415, f"{where}: {exc.problem}") from exc
    if isinstance(item, ge2.Text):
        raise BadRequest(415, f"{where}: holds text, not media; send it in texts")
    return item


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, payload: dict[str, Any] | None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        service = self.server.service
        path, ok = service.route(self.path, self.headers.get("Authorization"))
        if path in ("/.well-known/ready", "/.well-known/live"):
            self._send(204, None)
        elif not ok:
            self._send(401, {"error": "missing or wrong token"})
        elif path == "/meta":
            self._send(200, service.meta())
        else:
            self._send(404, {"error": f"GET {path} is not served here"})

    def do_POST(self) -> None:
        service = self.server.service
        path, ok = service.route(self.path, self.headers.get("Authorization"))
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(411, {"error": "Content-Length is required"})
            return
        if length > service.max_body_bytes:
            self.close_connection = True
            self._send(
                413,
                {
                    "error": f"request body of {length} bytes is over the limit of "
                    f"{service.max_body_bytes} bytes"
                },
            )
            return
        raw = self.rfile.read(length)
        if not ok:
            self._send(401, {"error": "missing or wrong token"})
            return
        handlers = {
            "/vectorize": service.vectorize,
            "/vectors": service.vectors,
            "/vectors/": service.vectors,
        }
        if path not in handlers:
            self._send(404, {"error": f"POST {path} is not served here"})
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise BadRequest(400, "the body must be a JSON object")
            self._send(200, handlers[path](body))
        except json.JSONDecodeError:
            self._send(400, {"error": "the body is not valid JSON"})
        except BadRequest as exc:
            self._send(exc.status, {"error": str(exc)})
        except ge2.GE2Error as exc:
            logger.warning("embedding failed: %s", exc)
            self._send(502, {"error": f"embedding failed: {exc}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: InferenceService) -> None:
        self.service = service
        super().__init__(address, _Handler)


class InferenceServer:
    """The service on a threaded stdlib HTTP server; ``with InferenceServer(emb) as s: s.url``.

    Binds 127.0.0.1 unless told otherwise; ``port=0`` picks a free port.
    """

    def __init__(
        self,
        embedder: ge2.Embedder,
        *,
        host: str = "127.0.0.1",
        port: int = 8090,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        text_task: str = "raw",
    ) -> None:
        self.service = InferenceService(
            embedder, token=token, max_body_bytes=max_body_bytes, text_task=text_task
        )
        self._httpd = _Server((host, port), self.service)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> InferenceServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="ge2-weaviate-inference", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ge2 weaviate-inference``."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; 0.0.0.0 inside a container)",
    )
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    parser.add_argument("--model", default=ge2.limits.DEFAULT_MODEL, help="embedding model")
    parser.add_argument(
        "--dimensions",
        type=int,
        default=ge2.limits.MAX_DIMENSIONS,
        help="vector size (128..3072; default 3072)",
    )
    parser.add_argument(
        "--cache",
        default=None,
        metavar="PATH",
        help="persistent embedding cache (SQLite file); off by default",
    )
    parser.add_argument(
        "--rpm",
        type=float,
        default=None,
        help="pace to this many inputs per minute (your quota tier), not into 429s",
    )
    parser.add_argument(
        "--text-task",
        default="raw",
        choices=ge2.TASKS,
        help="task for texts at /vectorize (default raw, as Weaviate's Google module sends them)",
    )
    parser.add_argument(
        "--token-env",
        default="GE2_INFERENCE_TOKEN",
        metavar="NAME",
        help="environment variable holding the optional access token "
        "(default GE2_INFERENCE_TOKEN; never pass secrets as arguments)",
    )
    parser.add_argument(
        "--max-request-mb",
        type=float,
        default=DEFAULT_MAX_BYTES / 2**20,
        help="largest request body accepted, in MiB (default 64)",
    )
    parser.add_argument(
        "--base-url", default=None, help="Gemini API base URL (a proxy or an emulator)"
    )
    parser.add_argument(
        "--vertexai",
        action="store_true",
        default=None,
        help="use Vertex AI (GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION)",
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="serve stand-in vectors from an in-process emulator (no key)",
    )


def embedder_from_args(
    args: argparse.Namespace, *, base_url: str | None = None, api_key: str | None = None
) -> ge2.Embedder:
    """The server's ``ge2.Embedder`` from the command line (no request is sent)."""
    return ge2.Embedder(
        args.model,
        args.dimensions,
        base_url=base_url,
        api_key=api_key,
        vertexai=args.vertexai,
        cache=args.cache or False,
        quota=ge2.Quota(args.rpm) if args.rpm else None,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; the API key comes from the SDK's environment variables."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    emulator = None
    base_url = args.base_url
    api_key = None
    if args.emulator:
        from ge2.emulator import Emulator

        emulator = Emulator()
        emulator.start()
        base_url, api_key = emulator.url, "ge2-emulator"
    embedder = embedder_from_args(args, base_url=base_url, api_key=api_key)
    server = InferenceServer(
        embedder,
        host=args.host,
        port=args.port,
        token=os.environ.get(args.token_env),
        max_body_bytes=int(args.max_request_mb * 2**20),
        text_task=args.text_task,
    )
    print(
        f"ge2 weaviate-inference: {embedder!r} at {server.url} "
        f"(token {'required' if server.service._token else 'off'})",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
        embedder.close()
        if emulator is not None:
            emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ge2 weaviate-inference",
        description="GE2 behind Weaviate's multi2vec-bind, multi2vec-clip and "
        "text2vec-transformers inference protocols.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
