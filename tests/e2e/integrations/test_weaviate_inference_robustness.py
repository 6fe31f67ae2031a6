"""``ge2 weaviate-inference`` under load and against hostile or unlucky clients, over loopback.

Each case failed on the stdlib server this service used to run on: 50 concurrent requests
got connection resets (listen backlog 5), an unauthenticated client could make it read
60 MB before the 401 or hold a connection forever, a 20000x20000 PNG, a lone surrogate or
JSON nested 100,000 deep got no HTTP response at all. Clients here are raw sockets, so
each test controls exactly what is sent, and when.
"""

from __future__ import annotations

import base64
import http.client
import json
import resource
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import ge2
from ge2.integrations.weaviate import InferenceServer

pytestmark = pytest.mark.e2e

TIMEOUT = 60  # a socket timeout so a regression fails instead of hanging; not an assertion


def connect(server: InferenceServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return sock


def head(method: str, path: str, length: int | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(path: str, body: bytes, **headers: str) -> bytes:
    return head("POST", path, len(body), Content_Type="application/json", **headers) + body


def answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Read one response: status, headers (lower-case names), JSON body or None."""
    res = http.client.HTTPResponse(sock)
    res.begin()
    data = res.read()
    headers = {k.lower(): v for k, v in res.getheaders()}
    return res.status, headers, json.loads(data) if data else None


def closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def server(embedder: ge2.Embedder) -> Iterator[InferenceServer]:
    with InferenceServer(embedder, port=0) as srv:
        yield srv


@pytest.fixture
def impatient(embedder: ge2.Embedder) -> Iterator[InferenceServer]:
    """A server with a 1 s read timeout, for the slow-client cases."""
    with InferenceServer(embedder, port=0, read_timeout=1.0) as srv:
        yield srv


# -- load ------------------------------------------------------------------------------------


def test_250_concurrent_connections_are_all_answered(server: InferenceServer) -> None:
    """All connections are open before any request is sent: every one must get its vector."""
    n = 250
    socks = [connect(server) for _ in range(n)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(post("/vectorize", json.dumps({"texts": [f"request {i}"]}).encode()))
        answers = [answer(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert [status for status, _, _ in answers] == [200] * n
    assert all(len(out["textVectors"]) == 1 for _, _, out in answers)
    assert len({json.dumps(out["textVectors"][0]) for _, _, out in answers}) == n


def test_keep_alive_serves_several_requests_on_one_connection(server: InferenceServer) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        for text in ("one", "two", "three"):
            conn.request("POST", "/vectorize", json.dumps({"texts": [text]}))
            res = conn.getresponse()
            assert res.status == 200 and len(json.loads(res.read())["textVectors"]) == 1
        conn.request("GET", "/meta")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


# -- slow and stalled clients ---------------------------------------------------------------


def test_a_stalled_body_gets_a_408_while_others_are_served(impatient: InferenceServer) -> None:
    slow = connect(impatient)
    try:
        slow.sendall(head("POST", "/vectorize", 100) + b'{"texts": [')  # ...and nothing more
        with connect(impatient) as other:
            other.sendall(post("/vectorize", b'{"texts": ["served meanwhile"]}'))
            assert answer(other)[0] == 200
        status, headers, out = answer(slow)
        assert status == 408 and "read-timeout" in out["error"]
        assert headers["connection"] == "close" and closed(slow)
    finally:
        slow.close()


def test_trickled_headers_and_idle_connections_are_closed_with_a_408(
    impatient: InferenceServer,
) -> None:
    trickle, idle = connect(impatient), connect(impatient)
    try:
        trickle.sendall(b"POST /vectorize HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers unfinished
        with connect(impatient) as other:
            other.sendall(post("/vectorize", b'{"texts": ["served meanwhile"]}'))
            assert answer(other)[0] == 200
        for sock in (trickle, idle):
            status, _, out = answer(sock)
            assert status == 408 and "headers" in out["error"]
            assert closed(sock)
    finally:
        trickle.close()
        idle.close()


# -- limits before the body is read ---------------------------------------------------------


def test_no_token_gets_a_401_without_the_body_being_read(embedder: ge2.Embedder) -> None:
    """Headers announce 60 MB and no byte of it is sent: the 401 can only come back if the
    server answered without waiting for the body."""
    with InferenceServer(embedder, port=0, token="s3cret") as srv, connect(srv) as sock:
        sock.sendall(head("POST", "/vectorize", 60_000_000, Content_Type="application/json"))
        status, headers, out = answer(sock)
        assert status == 401 and out == {"error": "missing or wrong token"}
        assert headers["connection"] == "close" and closed(sock)


def test_an_oversized_content_length_gets_a_413_before_the_body(server: InferenceServer) -> None:
    with connect(server) as sock:
        sock.sendall(head("POST", "/vectorize", 65 * 2**20, Content_Type="application/json"))
        status, _, out = answer(sock)
    assert status == 413 and "over the limit of 67108864 bytes" in out["error"]
    assert "--max-request-mb" in out["error"]


def test_a_chunked_body_is_cut_off_at_the_limit(embedder: ge2.Embedder) -> None:
    with InferenceServer(embedder, port=0, max_body_bytes=2048) as srv, connect(srv) as sock:
        sock.sendall(head("POST", "/vectorize", Transfer_Encoding="chunked"))
        for _ in range(3):  # 3 KiB sent, the rest never is
            sock.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
        status, _, out = answer(sock)
    assert status == 413 and "over the limit of 2048 bytes" in out["error"]


def test_bodies_over_the_memory_budget_wait_then_get_a_503(embedder: ge2.Embedder) -> None:
    with InferenceServer(
        embedder, port=0, max_body_bytes=4096, max_inflight_bytes=4096, queue_timeout=0.2
    ) as srv:
        holder = connect(srv)
        try:
            holder.sendall(head("POST", "/vectorize", 4000) + b"{")  # holds 4000 bytes
            with connect(srv) as late:
                late.sendall(head("POST", "/vectorize", 4000))
                status, headers, out = answer(late)
            assert status == 503 and headers["retry-after"] == "1" and "retry" in out["error"]
        finally:
            holder.close()
        with connect(srv) as after:  # the budget is given back
            after.sendall(post("/vectorize", b'{"texts": ["room again"]}'))
            assert answer(after)[0] == 200


# -- malformed bodies: always a JSON 4xx ------------------------------------------------------


def test_json_nested_100000_deep_gets_a_400(server: InferenceServer) -> None:
    with connect(server) as sock:
        sock.sendall(post("/vectorize", b"[" * 100_000 + b"]" * 100_000))
        status, _, out = answer(sock)
    assert status == 400 and "nested too deeply" in out["error"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/vectorize", b'{"texts": ["fine", "half a pair \\ud83d"]}', "texts[1]"),
        ("/vectors", b'{"text": "\\udc00 alone"}', "text"),
    ],
)
def test_a_lone_surrogate_gets_a_422_naming_the_field(
    server: InferenceServer, path: str, body: bytes, field: str
) -> None:
    with connect(server) as sock:
        sock.sendall(post(path, body))
        status, _, out = answer(sock)
    assert status == 422 and out["error"].startswith(f"{field}: holds a lone UTF-16 surrogate")


def test_invalid_utf8_and_a_wrong_method_get_json_4xx(server: InferenceServer) -> None:
    with connect(server) as sock:
        sock.sendall(post("/vectorize", b'{"texts": ["\xff\xfe"]}'))
        status, _, out = answer(sock)
    assert status == 400 and "UTF-8" in out["error"]
    with connect(server) as sock:
        sock.sendall(head("PUT", "/vectorize", 2) + b"{}")
        status, _, out = answer(sock)
    assert status == 405 and "POST" in out["error"]
    with connect(server) as sock:  # an unknown path is refused before its body is read
        sock.sendall(head("POST", "/upload", 10_000_000))
        status, _, out = answer(sock)
    assert status == 404 and "/vectorize" in out["error"]


def test_a_huge_pixel_png_is_refused_from_its_header(
    embedder: ge2.Embedder, ge2_emulator: Any
) -> None:
    """20000x20000 pixels in a 50 KB file: refused by its header, so nothing decodes it (the
    emulator gets no request and the process does not grow by the decoded 400 MB)."""
    bomb = base64.b64encode(ge2.samples.huge_png(20_000, 20_000))
    assert len(bomb) < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    requests = ge2_emulator.stats["requests"]
    with InferenceServer(embedder, port=0) as srv, connect(srv) as sock:
        sock.sendall(post("/vectorize", b'{"texts": ["x"], "images": ["' + bomb + b'"]}'))
        status, _, out = answer(sock)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert status == 422
    assert out["error"].startswith("images[0]: image")
    assert "limit of 50,000,000 pixels" in out["error"] and "--max-image-pixels" in out["error"]
    assert ge2_emulator.stats["requests"] == requests
    assert grown_mb < 200


def test_the_pixel_limit_is_configurable(embedder: ge2.Embedder) -> None:
    png = base64.b64encode(ge2.samples.huge_png(3000, 2000))
    body = b'{"images": ["' + png + b'"]}'
    with InferenceServer(embedder, port=0, max_image_pixels=1_000_000) as srv:
        with connect(srv) as sock:
            sock.sendall(post("/vectorize", body))
            status, _, out = answer(sock)
        assert status == 422 and "3000x2000 = 6,000,000 pixels" in out["error"]
    with InferenceServer(embedder, port=0, max_image_pixels=6_000_000) as srv:
        with connect(srv) as sock:
            sock.sendall(post("/vectorize", body))
            status, _, out = answer(sock)
        assert status == 200 and len(out["imageVectors"]) == 1


def test_malformed_http_gets_a_json_400(server: InferenceServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /vectorize HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        status, headers, out = answer(sock)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "not a valid HTTP/1.1 request" in out["error"]


def test_the_server_answers_while_an_embedding_is_in_progress(
    embedder: ge2.Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedding runs in worker threads: while one request's embedding is held up, probes,
    /meta and other requests are answered (the held one finishes once released)."""
    release = threading.Event()
    real_embed = embedder.embed

    def held(inputs: Any, **kwargs: Any) -> Any:
        if any(getattr(i, "text", "") == "hold me" for i in inputs):
            assert release.wait(TIMEOUT)
        return real_embed(inputs, **kwargs)

    monkeypatch.setattr(embedder, "embed", held)
    with InferenceServer(embedder, port=0) as srv, connect(srv) as slow:
        try:
            slow.sendall(post("/vectorize", b'{"texts": ["hold me"]}'))
            for request in (head("GET", "/.well-known/ready"), head("GET", "/meta")):
                with connect(srv) as sock:
                    sock.sendall(request)
                    assert answer(sock)[0] in (200, 204)
            with connect(srv) as sock:
                sock.sendall(post("/vectorize", b'{"texts": ["not held"]}'))
                assert answer(sock)[0] == 200
        finally:
            release.set()
        status, _, out = answer(slow)
        assert status == 200 and len(out["textVectors"]) == 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/vectorize", {"texts": "one text"}, "texts: expected a list of texts, got a string"),
        ("/vectorize", {"texts": ["ok", 7]}, "texts[1]: expected a string, got a number"),
        ("/vectorize", {"images": {"a": 1}}, "images: expected a list of base64 strings"),
        ("/vectorize", {"images": [None]}, "images[0]: expected a string, got null"),
        ("/vectorize", {"images": ["data:image/png;base64,AAAA"]}, "images[0]: not valid base64"),
        ("/vectorize", {"images": [_b64(b"")]}, "images[0]: the data is empty (0 bytes)"),
        ("/vectorize", {"images": [_b64(ge2.samples.png()[:60])]}, "images[0]: not a readable"),
        ("/vectorize", {"texts": ["a"], "images": ["x"] * 40}, "41 inputs in one request"),
        ("/vectorize", {"texts": ["fine", "   "]}, "texts[1]: empty text"),
        ("/vectors", {"text": 5}, "text: expected a non-empty string, got a number"),
        ("/vectors", {"text": "x", "config": []}, "config: expected an object, got a list"),
    ],
)
def test_bad_fields_get_a_422_naming_the_field_and_the_fix(
    embedder: ge2.Embedder, ge2_emulator: Any, path: str, body: dict[str, Any], words: str
) -> None:
    """Every field-level problem: a JSON 422 that starts with the field, never a 5xx, a
    dropped connection or a request to the API."""
    requests = ge2_emulator.stats["requests"]
    with InferenceServer(embedder, port=0, max_items=40) as srv, connect(srv) as sock:
        sock.sendall(post(path, json.dumps(body).encode()))
        status, headers, out = answer(sock)
    assert status == 422, out
    assert headers["content-type"] == "application/json"
    assert words in out["error"] and ";" in out["error"], out["error"]  # problem; fix
    assert ge2_emulator.stats["requests"] == requests
