"""The HTTP side of ``ge2 weaviate-inference``: a Starlette app on uvicorn, hardened.

What a hostile or unlucky client can do, and what it gets:

- no or wrong token: 401 from the headers alone, the body is never read;
- a body over the limit: 413 from ``Content-Length`` before reading, or as soon as a
  streamed body passes the limit;
- too slow (headers or body): 408 once ``read_timeout`` passes, then the connection closes;
- more bodies in flight than ``max_inflight_bytes`` allows: waits up to ``queue_timeout``,
  then 503 with ``Retry-After``;
- anything malformed: the 4xx of ``protocol.parse_request``.

Every answer is JSON. Parsing and embedding run in a worker thread, so the event loop keeps
accepting, timing out and refusing while the embedder works.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import ge2

try:
    import anyio
    import h11
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as exc:
    _root = (exc.name or "").split(".")[0]
    raise ge2.MissingExtraError(
        "uvicorn" if _root in ("uvicorn", "h11") else "starlette", "weaviate"
    ) from exc

from .protocol import BadRequest, check_post_path

if TYPE_CHECKING:
    from .inference import InferenceService

logger = logging.getLogger("ge2.weaviate.inference")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PROBES = ("/.well-known/ready", "/.well-known/live")


class BodyBudget:
    """Bytes of request bodies held in memory at once, across all requests.

    A request reserves its ``Content-Length`` (or the body limit when it sends none)
    before reading, and gives it back once its vectors are computed. When the budget is
    spent, requests wait in turn, briefly; a client that cannot get in is told to retry.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond: asyncio.Condition | None = None

    async def acquire(self, size: int, timeout: float) -> bool:
        """Reserve ``size`` bytes, waiting at most ``timeout`` seconds; False if it could not."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        size = min(size, self.limit)
        async with self._cond:
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self.used + size <= self.limit), timeout
                )
            except asyncio.TimeoutError:
                return False
            self.used += size
            return True

    async def release(self, size: int) -> None:
        assert self._cond is not None
        async with self._cond:
            self.used -= min(size, self.limit)
            self._cond.notify_all()


def json_response(
    status: int, payload: dict[str, Any] | None, *, close: bool = False, **headers: str
) -> Response:
    """A JSON answer (204 has no body); ``close`` when the request body was left unread."""
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    if close:
        hdrs["Connection"] = "close"
    if payload is None:
        return Response(status_code=status, headers=hdrs)
    return Response(json.dumps(payload), status, hdrs, media_type="application/json")


def build_app(
    service: InferenceService,
    *,
    read_timeout: float,
    max_inflight_bytes: int,
    queue_timeout: float,
) -> Starlette:
    """The Starlette app: one endpoint that routes by path (the token may prefix it)."""
    budget = BodyBudget(max(max_inflight_bytes, service.limits.max_body_bytes))

    async def endpoint(request: Request) -> Response:
        path, ok = service.route(request.url.path, request.headers.get("authorization"))
        method = request.method
        if path in _PROBES and method in ("GET", "HEAD"):
            return json_response(204, None)
        posting = method == "POST"
        if not ok:
            return json_response(401, {"error": "missing or wrong token"}, close=posting)
        if method == "GET":
            if path == "/meta":
                return json_response(200, service.meta())
            return json_response(404, {"error": f"GET {path} is not served here"})
        if not posting:
            return json_response(
                405, {"error": f"{method} is not served here; use GET or POST"}, close=True
            )
        try:
            return await _post(request, path)
        except BadRequest as exc:
            return json_response(exc.status, {"error": str(exc)}, close=True)
        except Exception:
            logger.exception("unexpected error on POST %s", path)
            return json_response(500, {"error": "internal error; see the server's log"}, close=True)

    async def _post(request: Request, path: str) -> Response:
        check_post_path(path)
        limit = service.limits.max_body_bytes
        length = _content_length(request.headers.get("content-length"))
        if length is not None and length > limit:
            raise BadRequest(
                413,
                f"request body of {length} bytes is over the limit of {limit} bytes; "
                "send fewer items per request or raise --max-request-mb",
            )
        reserved = limit if length is None else length
        if not await budget.acquire(reserved, queue_timeout):
            return json_response(
                503,
                {"error": "the server is busy with other requests' bodies; retry shortly"},
                close=True,
                Retry_After="1",
            )
        try:
            raw = await _read_body(request, limit, read_timeout)
            try:
                status, data = await run_in_threadpool(_work, service, path, raw)
            finally:
                del raw
        except ClientDisconnect:
            return json_response(400, {"error": "the client went away"}, close=True)
        finally:
            await budget.release(reserved)
        return Response(data, status, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=_METHODS)])


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise BadRequest(400, f"Content-Length {value!r} is not a byte count")
    return length


async def _read_body(request: Request, limit: int, timeout: float) -> bytearray:
    """The body, read chunk by chunk under one deadline, and never past ``limit`` bytes."""
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                if len(body) + len(chunk) > limit:
                    raise BadRequest(
                        413,
                        f"request body is over the limit of {limit} bytes; send fewer items "
                        "per request or raise --max-request-mb",
                    )
                body += chunk
    except TimeoutError:
        raise BadRequest(
            408,
            f"the request body did not arrive within {timeout:g} s (got {len(body)} bytes); "
            "send it faster or raise --read-timeout",
        ) from None
    return body


def _work(service: InferenceService, path: str, raw: bytearray) -> tuple[int, bytes]:
    """Parse, embed and render one request (in a worker thread): (status, JSON bytes)."""
    try:
        payload = service.handle(path, raw)
        status = 200
    except BadRequest as exc:
        status, payload = exc.status, {"error": str(exc)}
    except ge2.GE2Error as exc:
        logger.warning("embedding failed: %s", exc)
        status, payload = 502, {"error": f"embedding failed: {exc}"}
    except Exception:
        logger.exception("unexpected error on POST %s", path)
        status, payload = 500, {"error": "internal error; see the server's log"}
    return status, json.dumps(payload).encode()


_TIMEOUT_ANSWER = json.dumps(
    {"error": "the request headers did not arrive in time; the connection is closed"}
).encode()
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_TIMEOUT_ANSWER)).encode() + b"\r\n\r\n"
) + _TIMEOUT_ANSWER


def guarded_protocol(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on request headers.

    uvicorn times out idle keep-alive connections but not a client that trickles its
    headers (or connects and sends nothing): such a client would hold its connection
    forever. Here headers must arrive within ``header_timeout`` seconds of the connection
    opening or of the previous response; past that the client gets a 408 and is closed.
    """

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _armed_for: object = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            """Malformed HTTP (bad framing, headers too large): a JSON 400, then close."""
            body = json.dumps({"error": f"{msg.rstrip('.')}: not a valid HTTP/1.1 request"})
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers)))
            self.transport.write(self.conn.send(h11.Data(data=body.encode())))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

        def _arm(self) -> None:
            self._disarm()
            self._armed_for = self.cycle
            self._timer = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._timer = None
            cycle = self.cycle
            waiting = cycle is self._armed_for and (cycle is None or cycle.response_complete)
            if waiting and not self.transport.is_closing():
                self.transport.write(_TIMEOUT_RESPONSE)
                self.transport.close()

    return GuardedH11Protocol
