"""A small wire-level stand-in of the Vertex AI Vector Search v1 REST API, for offline tests.

Written from the API's published request and response messages (the types in
``google.cloud.vectorsearch_v1``) and the REST bindings of its transports
(``services/*/transports/rest_base.py``): collections (create, get, delete; the create and
delete long-running operations come back done), data objects (batchCreate, batchUpdate,
get) and search (``:search`` with vector, semantic or text search; ``:batchSearch`` with
reciprocal-rank fusion). The real ``google-cloud-vectorsearch`` client talks to it over
REST, so request shapes are the client's own.

Server-side embeddings (a field with ``vertexEmbeddingConfig``) are computed with the
emulator's text vectors, as the Gemini embedding emulator would for the rendered template:
a stand-in for the service, not the service. Point the client at it with
``client_options={"api_endpoint": emu.url}``, ``transport="rest"`` and anonymous
credentials; it binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from ge2.emulator import vectors

_COLL = r"projects/[^/]+/locations/[^/]+/collections/[^/:]+"
_PARENT = r"projects/[^/]+/locations/[^/]+"
_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def matches(data: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    """The service's JSON filter: {"field": {"$op": value}}, "$and" / "$or" lists."""
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            ok = all(matches(data, c) for c in cond)
        elif key == "$or":
            ok = any(matches(data, c) for c in cond)
        elif isinstance(cond, dict):
            ok = True
            for op, value in cond.items():
                if op not in _OPS:
                    raise Failure(400, f"unsupported filter operator {op!r}")
                ok = ok and bool(_OPS[op](data.get(key), value))
        else:
            raise Failure(400, f"filter on {key!r} must be an object like {{'$eq': value}}")
        if not ok:
            return False
    return True


class VectorSearchStandIn:
    """In-memory collections and data objects behind the REST routes."""

    def __init__(self, max_data_bytes: int = 512 * 1024) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.max_data_bytes = max_data_bytes
        self.fail_batch_create: set[int] = set()  # 1-based call numbers that fail (503)
        self._batch_creates = 0
        self._lock = threading.Lock()
        self._ops = 0

    # -- routing --------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        with self._lock:
            self.requests.append((method, path, body))
            p = path.removeprefix("/v1/")
            if method == "POST" and (m := re.fullmatch(f"({_PARENT})/collections", p)):
                return self._create_collection(m[1], query.get("collectionId", [""])[0], body)
            if method == "GET" and re.fullmatch(_COLL, p):
                return self._collection(p)
            if method == "DELETE" and re.fullmatch(_COLL, p):
                self._collection(p)
                del self.collections[p]
                self.objects.pop(p, None)
                return self._done({"@type": "type.googleapis.com/google.protobuf.Empty"})
            if m := re.fullmatch(f"({_COLL})/dataObjects:(\\w+)", p):
                coll = self._collection(m[1])
                verb = m[2]
                if method == "POST" and verb == "batchCreate":
                    return self._batch_create(m[1], coll, body)
                if method == "POST" and verb == "batchUpdate":
                    return self._batch_update(m[1], coll, body)
                if method == "POST" and verb == "search":
                    return self._search(m[1], coll, body)
                if method == "POST" and verb == "batchSearch":
                    return self._batch_search(m[1], coll, body)
            if method == "GET" and (m := re.fullmatch(f"({_COLL})/dataObjects/([^/]+)", p)):
                self._collection(m[1])
                obj = self.objects.get(m[1], {}).get(m[2])
                if obj is None:
                    raise Failure(404, f"data object {p} not found")
                return obj
            raise Failure(404, f"no route for {method} {path}")

    def _done(self, response: dict[str, Any]) -> dict[str, Any]:
        self._ops += 1
        return {
            "name": f"projects/p/locations/l/operations/op-{self._ops}",
            "done": True,
            "response": response,
        }

    def _collection(self, name: str) -> dict[str, Any]:
        if name not in self.collections:
            raise Failure(
                404, f"Collection {name} not found (check the project, location and collection id)"
            )
        return self.collections[name]

    def _create_collection(self, parent: str, cid: str, body: dict[str, Any]) -> Any:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", cid):
            raise Failure(400, f"invalid collection id {cid!r}")
        name = f"{parent}/collections/{cid}"
        if name in self.collections:
            raise Failure(409, f"Collection {name} already exists")
        for field, spec in (body.get("vectorSchema") or {}).items():
            dims = (spec.get("denseVector") or {}).get("dimensions")
            if not dims or dims > 4096:
                raise Failure(400, f"vector field {field!r}: dimensions must be 1..4096")
        coll = {**body, "name": name}
        self.collections[name] = coll
        self.objects[name] = {}
        return self._done(
            {"@type": "type.googleapis.com/google.cloud.vectorsearch.v1.Collection", **coll}
        )

    # -- data objects ---------------------------------------------------------------------

    def _prepared(self, cname: str, coll: dict[str, Any], oid: str, obj: dict[str, Any]) -> Any:
        if not oid:
            raise Failure(400, "dataObjectId is required")
        if len(json.dumps(obj.get("data") or {})) > self.max_data_bytes:
            raise Failure(
                400, f"data object {oid!r}: its data is larger than {self.max_data_bytes} bytes"
            )
        schema = coll.get("vectorSchema") or {}
        given = obj.get("vectors") or {}
        out_vectors = {}
        for field in given:
            if field not in schema:
                raise Failure(400, f"data object {oid!r}: unknown vector field {field!r}")
        for field, spec in schema.items():
            dense = spec.get("denseVector") or {}
            values = ((given.get(field) or {}).get("dense") or {}).get("values")
            if values is None:
                cfg = dense.get("vertexEmbeddingConfig")
                if cfg is None:
                    raise Failure(400, f"data object {oid!r}: vector field {field!r} is required")
                text = string.Formatter().vformat(
                    cfg.get("textTemplate", ""), (), obj.get("data") or {}
                )
                values = vectors.truncate(vectors.text_vector(text), dense["dimensions"]).tolist()
            if len(values) != dense["dimensions"]:
                raise Failure(
                    400,
                    f"data object {oid!r}: vector field {field!r} expects "
                    f"{dense['dimensions']} dimensions, got {len(values)}",
                )
            out_vectors[field] = {"dense": {"values": values}}
        return {
            "name": f"{cname}/dataObjects/{oid}",
            "dataObjectId": oid,
            "data": obj.get("data") or {},
            "vectors": out_vectors,
        }

    def _batch_create(self, cname: str, coll: dict[str, Any], body: dict[str, Any]) -> Any:
        self._batch_creates += 1
        if self._batch_creates in self.fail_batch_create:
            raise Failure(503, "the service is unavailable")
        reqs = body.get("requests") or []
        if len(reqs) > 1000:
            raise Failure(400, "at most 1000 data objects per batchCreate")
        made = []
        for r in reqs:
            oid = r.get("dataObjectId", "")
            if oid in self.objects[cname]:
                raise Failure(409, f"data object {oid!r} already exists")
            made.append(self._prepared(cname, coll, oid, r.get("dataObject") or {}))
        for obj in made:  # all or nothing, like one transaction
            self.objects[cname][obj["dataObjectId"]] = obj
        return {"dataObjects": made}

    def _batch_update(self, cname: str, coll: dict[str, Any], body: dict[str, Any]) -> Any:
        made = []
        for r in body.get("requests") or []:
            obj = r.get("dataObject") or {}
            oid = obj.get("name", "").rsplit("/", 1)[-1]
            if oid not in self.objects[cname]:
                raise Failure(404, f"data object {oid!r} not found")
            made.append(self._prepared(cname, coll, oid, obj))
        for obj in made:
            self.objects[cname][obj["dataObjectId"]] = obj
        return {}

    # -- search ---------------------------------------------------------------------------

    def _output(self, obj: dict[str, Any], fields: dict[str, Any] | None) -> dict[str, Any]:
        fields = fields or {}
        out: dict[str, Any] = {"name": obj["name"], "dataObjectId": obj["dataObjectId"]}
        data = fields.get("dataFields") or []
        if data:
            out["data"] = (
                obj["data"] if "*" in data else {k: v for k, v in obj["data"].items() if k in data}
            )
        vf = fields.get("vectorFields") or []
        if vf:
            out["vectors"] = {k: v for k, v in obj["vectors"].items() if "*" in vf or k in vf}
        return out

    def _ranked(
        self, cname: str, coll: dict[str, Any], s: dict[str, Any]
    ) -> list[tuple[Any, float]]:
        kind = next((k for k in ("vectorSearch", "semanticSearch", "textSearch") if k in s), None)
        if kind is None:
            raise Failure(400, "one of vectorSearch, semanticSearch or textSearch is required")
        flt = s[kind].get("filter")
        objs = [o for o in self.objects[cname].values() if matches(o["data"], flt)]
        if "textSearch" in s:
            t = s["textSearch"]
            words = set(vectors.words(t["searchText"]))
            scored = []
            for o in objs:
                text = " ".join(str(o["data"].get(f, "")) for f in t.get("dataFieldNames") or [])
                hits = len(words & set(vectors.words(text)))
                if hits:
                    scored.append((o, float(hits)))
            return sorted(scored, key=lambda x: -x[1])[: t.get("topK", 10)]
        if "semanticSearch" in s:
            sem = s["semanticSearch"]
            field = sem.get("searchField", "")
            dense = ((coll.get("vectorSchema") or {}).get(field) or {}).get("denseVector")
            if not dense or "vertexEmbeddingConfig" not in dense:
                raise Failure(
                    400,
                    f"semantic search needs a vector field with an embedding "
                    f"config; {field!r} has none",
                )
            q = vectors.truncate(vectors.text_vector(sem["searchText"]), dense["dimensions"])
            vs = {
                "vector": {"values": q.tolist()},
                "searchField": field,
                "topK": sem.get("topK", 10),
            }
            return self._knn(coll, objs, vs)
        return self._knn(coll, objs, s["vectorSearch"])

    def _knn(self, coll: dict[str, Any], objs: list[Any], vs: dict[str, Any]) -> list[Any]:
        field = vs.get("searchField", "")
        dense = ((coll.get("vectorSchema") or {}).get(field) or {}).get("denseVector")
        if dense is None:
            raise Failure(400, f"unknown vector field {field!r}")
        q = np.asarray(vs["vector"]["values"], dtype=np.float64)
        if len(q) != dense["dimensions"]:
            raise Failure(
                400, f"query vector has {len(q)} dimensions, field {field!r} {dense['dimensions']}"
            )
        cosine = vs.get("distanceMetric") == "COSINE_DISTANCE"
        scored = []
        for o in objs:
            v = np.asarray(o["vectors"][field]["dense"]["values"], dtype=np.float64)
            dot = float(v @ q)
            if cosine:
                dot = 1.0 - dot / (float(np.linalg.norm(v) * np.linalg.norm(q)) or 1.0)
            scored.append((o, dot))
        scored.sort(key=lambda x: x[1] if cosine else -x[1])
        return scored[: vs.get("topK", 10)]

    def _search(self, cname: str, coll: dict[str, Any], body: dict[str, Any]) -> Any:
        kind = next(k for k in ("vectorSearch", "semanticSearch", "textSearch") if k in body)
        ranked = self._ranked(cname, coll, body)
        fields = body[kind].get("outputFields")
        return {
            "results": [{"dataObject": self._output(o, fields), "distance": d} for o, d in ranked]
        }

    def _batch_search(self, cname: str, coll: dict[str, Any], body: dict[str, Any]) -> Any:
        lists = [self._ranked(cname, coll, s) for s in body.get("searches") or []]
        combine = body.get("combine")
        if not combine:
            return {
                "results": [
                    {
                        "results": [
                            {"dataObject": self._output(o, None), "distance": d} for o, d in r
                        ]
                    }
                    for r in lists
                ]
            }
        weights = ((combine.get("ranker") or {}).get("rrf") or {}).get("weights") or [1.0] * len(
            lists
        )
        fused: dict[str, float] = {}
        by_id: dict[str, Any] = {}
        for w, ranked in zip(weights, lists, strict=False):
            for rank, (o, _) in enumerate(ranked):
                fused[o["dataObjectId"]] = fused.get(o["dataObjectId"], 0.0) + w / (60 + rank + 1)
                by_id[o["dataObjectId"]] = o
        order = sorted(fused, key=lambda k: -fused[k])[: combine.get("topK", 10)]
        out = [
            {
                "dataObject": self._output(by_id[k], combine.get("outputFields")),
                "distance": fused[k],
            }
            for k in order
        ]
        return {"results": [{"results": out}]}


class VectorSearchEmulator:
    """The stand-in served on 127.0.0.1 (``with VectorSearchEmulator() as vs: vs.url``)."""

    def __init__(self, state: VectorSearchStandIn | None = None, port: int = 0) -> None:
        self.state = state or VectorSearchStandIn()
        self._port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Vector Search stand-in is not running: call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> VectorSearchEmulator:
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                    code, out = 200, state.handle(self.command, url.path, parse_qs(url.query), body)
                except Failure as exc:
                    code, out = exc.code, _error(exc.code, str(exc))
                except (ValueError, KeyError, TypeError) as exc:
                    code, out = 400, _error(400, f"bad request: {exc}")
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VectorSearchEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": _STATUS.get(code, "UNAVAILABLE")}}
