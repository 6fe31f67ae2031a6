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

The server is uvicorn running a Starlette app (``asgi``); request parsing is pure and
lives in ``protocol``. Limits (body size, items, image pixels, read timeout, bodies in
memory) are options of the command and of ``InferenceServer``.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import ge2

try:
    import uvicorn
except ImportError as exc:
    raise ge2.MissingExtraError("uvicorn", "weaviate") from exc

from .asgi import build_app, guarded_protocol
from .protocol import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_ITEMS,
    MEDIA_FIELDS,
    TRANSFORMERS_TASKS,
    UNSUPPORTED_FIELDS,
    BadRequest,
    Limits,
    Parsed,
    parse_request,
    parse_vectorize,
    parse_vectors,
)

__all__ = [
    "MEDIA_FIELDS",
    "TRANSFORMERS_TASKS",
    "UNSUPPORTED_FIELDS",
    "BadRequest",
    "InferenceServer",
    "InferenceService",
    "Limits",
    "main",
]

logger = logging.getLogger("ge2.weaviate.inference")

#: Connections the kernel queues while the server is busy accepting (the stdlib server's
#: default of 5 reset the 6th concurrent client).
BACKLOG = 2048
DEFAULT_READ_TIMEOUT = 60.0
#: Request bodies held in memory at once, all requests together.
DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024
#: How long a request waits for room in that budget before a 503.
DEFAULT_QUEUE_TIMEOUT = 10.0


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
        max_items: int = DEFAULT_MAX_ITEMS,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> None:
        self.embedder = embedder
        self._token = token or None
        self.limits = Limits(
            max_body_bytes=max_body_bytes, max_items=max_items, max_image_pixels=max_image_pixels
        )
        self.text_task = text_task

    def __repr__(self) -> str:
        return f"InferenceService({self.embedder!r}, token={'set' if self._token else 'none'})"

    @property
    def max_body_bytes(self) -> int:
        return self.limits.max_body_bytes

    @property
    def token_required(self) -> bool:
        return self._token is not None

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
        ok = given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self._token.encode()
        )
        return path, ok

    def meta(self) -> dict[str, Any]:
        return {
            "model": {"name": self.embedder.model, "dimensions": self.embedder.dimensions},
            "ge2": ge2.__version__,
            "protocols": ["multi2vec-bind", "multi2vec-clip", "text2vec-transformers"],
            "textTask": self.text_task,
        }

    # -- protocols ------------------------------------------------------------------------

    def parse(self, path: str, raw: bytes | bytearray) -> Parsed:
        """``POST path`` with body ``raw``, understood (no embedding); raises ``BadRequest``."""
        return parse_request(path, raw, self.limits, self.text_task)

    def handle(self, path: str, raw: bytes | bytearray) -> dict[str, Any]:
        """``POST path``: parse, embed, answer (blocking: the HTTP side runs it in a thread)."""
        return self.answer(self.parse(path, raw))

    def answer(self, parsed: Parsed) -> dict[str, Any]:
        """The response body of a parsed request, embedding its inputs."""
        try:
            vectors = self._embed(parsed.inputs, parsed.task)
        except ge2.InputError as exc:
            where = parsed.field(exc.index) if exc.index is not None else "request"
            fix = f"; {exc.fix}" if exc.fix else ""
            raise BadRequest(422, f"{where}: {exc.problem}{fix}") from exc
        return parsed.answer(vectors, self.embedder.dimensions)

    def vectorize(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /vectorize`` (multi2vec-bind and multi2vec-clip)."""
        return self.answer(parse_vectorize(body, self.limits, self.text_task))

    def vectors(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /vectors`` (text2vec-transformers), single or batched."""
        return self.answer(parse_vectors(body, self.limits, self.text_task))

    def _embed(self, inputs: list[ge2.Input], task: str) -> list[list[float]]:
        if not inputs:
            return []
        vectors: list[list[float]] = self.embedder.embed(inputs, task=task)
        return vectors


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket, bound now so ``url`` is known (``port=0`` picks a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class InferenceServer:
    """The service on uvicorn; ``with InferenceServer(emb) as s: s.url``.

    Binds 127.0.0.1 unless told otherwise; ``port=0`` picks a free port. ``start`` serves
    from a background thread, ``serve_forever`` from the calling one (Ctrl-C or SIGTERM
    stop it gracefully).
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
        max_items: int = DEFAULT_MAX_ITEMS,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
        queue_timeout: float = DEFAULT_QUEUE_TIMEOUT,
    ) -> None:
        self.service = InferenceService(
            embedder,
            token=token,
            max_body_bytes=max_body_bytes,
            text_task=text_task,
            max_items=max_items,
            max_image_pixels=max_image_pixels,
        )
        app = build_app(
            self.service,
            read_timeout=read_timeout,
            max_inflight_bytes=max_inflight_bytes,
            queue_timeout=queue_timeout,
        )
        self._socket = _listen(host, port, BACKLOG)
        config = uvicorn.Config(
            app,
            http=guarded_protocol(read_timeout),
            lifespan="off",
            backlog=BACKLOG,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,
            log_config=None,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> InferenceServer:
        """Serve from a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="ge2-weaviate-inference",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the inference server did not start within 30 s")
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the inference server stopped while starting; see the log")
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until interrupted (SIGINT/SIGTERM)."""
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._socket.close()

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- command line -----------------------------------------------------------------------


def _positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero, or a usage error that says so."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be above zero")
        return value

    parse.__name__ = kind.__name__
    return parse


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
        type=_positive(float),
        default=DEFAULT_MAX_BYTES / 2**20,
        help="largest request body accepted, in MiB (default 64)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=_positive(int),
        default=DEFAULT_MAX_IMAGE_PIXELS,
        help="largest image accepted, in pixels (width x height, read from the header "
        f"before decoding; default {DEFAULT_MAX_IMAGE_PIXELS:,})",
    )
    parser.add_argument(
        "--max-items",
        type=_positive(int),
        default=DEFAULT_MAX_ITEMS,
        help=f"most inputs (texts + media) in one request (default {DEFAULT_MAX_ITEMS:,})",
    )
    parser.add_argument(
        "--read-timeout",
        type=_positive(float),
        default=DEFAULT_READ_TIMEOUT,
        help="seconds a client has to send its request headers, and again its body "
        f"(default {DEFAULT_READ_TIMEOUT:g}); slower clients get a 408",
    )
    parser.add_argument(
        "--max-inflight-mb",
        type=_positive(float),
        default=DEFAULT_MAX_INFLIGHT_BYTES / 2**20,
        help="request bodies held in memory at once, all clients together, in MiB "
        f"(default {DEFAULT_MAX_INFLIGHT_BYTES // 2**20}); past it requests wait "
        f"{DEFAULT_QUEUE_TIMEOUT:g} s, then get a 503 with Retry-After",
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
    for name in ("httpx", "httpx2"):  # the SDK's HTTP client: not one line per API call
        logging.getLogger(name).setLevel(logging.WARNING)
    # Pillow warns on opening a very large image; the service refuses those by their header
    # with a clear answer to the client, so the warning would only be noise in this log.
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    emulator = None
    base_url = args.base_url
    api_key = None
    if args.emulator:
        from ge2.emulator import Emulator

        emulator = Emulator()
        emulator.start()
        base_url, api_key = emulator.url, "ge2-emulator"
    embedder = embedder_from_args(args, base_url=base_url, api_key=api_key)
    try:
        server = InferenceServer(
            embedder,
            host=args.host,
            port=args.port,
            token=os.environ.get(args.token_env),
            max_body_bytes=int(args.max_request_mb * 2**20),
            text_task=args.text_task,
            max_items=args.max_items,
            max_image_pixels=args.max_image_pixels,
            read_timeout=args.read_timeout,
            max_inflight_bytes=int(args.max_inflight_mb * 2**20),
        )
    except OSError as exc:
        print(
            f"ge2 weaviate-inference: cannot listen on {args.host}:{args.port} "
            f"({exc.strerror or exc}); pick another --port or --host",
            file=sys.stderr,
        )
        embedder.close()
        if emulator is not None:
            emulator.stop()
        return 1
    print(
        f"ge2 weaviate-inference: {embedder!r} at {server.url} "
        f"(token {'required' if server.service.token_required else 'off'})",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
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
