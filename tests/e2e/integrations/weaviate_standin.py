"""A small wire-level stand-in for a Weaviate server, for the real weaviate-client v4.

The way weaviate-python-client's own ``mock_tests`` test it: a local REST server (``/v1/meta``,
``/v1/schema``, ``/v1/.well-known/*``, ``/v1/nodes``) and a local gRPC server implementing
the ``weaviate.v1.Weaviate`` service (``BatchObjects``, ``Search`` for ``fetch_objects`` /
``near_vector`` / ``hybrid``) and the health check, with the proto stubs that ship inside
weaviate-client. Enough to see what the client sends (vectors, properties) and to hand
back real replies; it is not Weaviate (exact cosine search, a toy BM25).
"""

from __future__ import annotations

import json
import threading
import uuid as uuidlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from weaviate.proto.v1 import (
    base_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

_HNSW = {
    "cleanupIntervalSeconds": 300,
    "distance": "cosine",
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "ef": -1,
    "efConstruction": 128,
    "filterStrategy": "sweeping",
    "flatSearchCutoff": 40000,
    "maxConnections": 32,
    "skip": False,
    "vectorCacheMaxObjects": 1000000000000,
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
}


def _vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


class WeaviateStandIn:
    """REST + gRPC on 127.0.0.1 (free ports); ``objects[collection][uuid]`` holds what arrived."""

    def __init__(self, version: str = "1.36.5") -> None:
        self.version = version
        self.schemas: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.batch_requests: list[batch_pb2.BatchObjectsRequest] = []
        self.search_requests: list[search_get_pb2.SearchRequest] = []
        #: uuids the batch refuses, as Weaviate refuses an object (per-object error).
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> WeaviateStandIn:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(self))
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(self), self._grpc)
        self._grpc.add_generic_rpc_handlers([_health_handler()])
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self.http_port = self._http.server_address[1]
        return self

    def stop(self) -> None:
        self._grpc.stop(grace=None)
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> WeaviateStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connect(self) -> Any:
        import weaviate

        return weaviate.connect_to_custom(
            http_host="127.0.0.1",
            http_port=self.http_port,
            http_secure=False,
            grpc_host="127.0.0.1",
            grpc_port=self.grpc_port,
            grpc_secure=False,
        )

    # -- schema ---------------------------------------------------------------------------

    def create(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = json.loads(json.dumps(schema))
        for prop in schema.get("properties", []):
            text = prop["dataType"][0] in ("text", "text[]")
            prop.setdefault("indexFilterable", True)
            prop.setdefault("indexSearchable", text)
            prop.setdefault("tokenization", "word" if text else None)
        for named in (schema.get("vectorConfig") or {}).values():
            named.setdefault("vectorIndexType", "hnsw")
            named.setdefault("vectorIndexConfig", dict(_HNSW))
        with self._lock:
            self.schemas[schema["class"]] = schema
            self.objects.setdefault(schema["class"], {})
        return schema

    # -- gRPC behaviour -------------------------------------------------------------------

    def batch(self, request: batch_pb2.BatchObjectsRequest) -> batch_pb2.BatchObjectsReply:
        self.batch_requests.append(request)
        errors = []
        for index, obj in enumerate(request.objects):
            props = MessageToDict(obj.properties.non_ref_properties)
            for arr in obj.properties.text_array_properties:
                props[arr.prop_name] = list(arr.values)
            for arr in obj.properties.int_array_properties:
                props[arr.prop_name] = list(arr.values)
            vectors = {v.name: _vector(v.vector_bytes) for v in obj.vectors}
            if obj.vector_bytes:
                vectors["default"] = _vector(obj.vector_bytes)
            problem = self._problem(obj.collection, obj.uuid, vectors)
            if problem:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=problem))
                continue
            with self._lock:
                self.objects.setdefault(obj.collection, {})[obj.uuid] = {
                    "properties": props,
                    "vectors": vectors,
                }
        return batch_pb2.BatchObjectsReply(took=0.001, errors=errors)

    def _problem(self, collection: str, uid: str, vectors: dict[str, np.ndarray]) -> str | None:
        if uid in self.refuse:
            return f"refused by the stand-in: object {uid}"
        for name, vec in vectors.items():
            for stored in self.objects.get(collection, {}).values():
                other = stored["vectors"].get(name)
                if other is not None and len(other) != len(vec):
                    # Weaviate's own wording for a dimension mismatch.
                    return (
                        f"new node has a vector with length {len(vec)}. Existing nodes "
                        f"have vectors with length {len(other)}"
                    )
        return None

    def search(self, request: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        self.search_requests.append(request)
        items = list(self.objects.get(request.collection, {}).items())
        scored: list[tuple[float, float, str, dict[str, Any]]] = []
        target, query = None, None
        alpha = 1.0
        if request.HasField("near_vector"):
            target, query = _query(request.near_vector)
        elif request.HasField("hybrid_search"):
            h = request.hybrid_search
            alpha = h.alpha if h.use_alpha_param or h.alpha else 0.7
            target, query = _query(h)
            words = set(h.query.lower().split())
        for uid, obj in items:
            distance = 0.0
            score = 1.0
            if query is not None:
                vec = obj["vectors"].get(target or next(iter(obj["vectors"]), ""))
                if vec is None:
                    continue
                cos = float(vec @ query / (np.linalg.norm(vec) * np.linalg.norm(query) or 1))
                distance, score = 1 - cos, cos
            if request.HasField("hybrid_search"):
                text = " ".join(str(v) for v in obj["properties"].values()).lower().split()
                bm25 = len(words & set(text)) / (len(words) or 1)
                score = alpha * score + (1 - alpha) * bm25
                distance = 1 - score
            scored.append((distance, -score, uid, obj))
        scored.sort(key=lambda t: (t[0], t[2]))
        limit = request.limit or 10
        wanted = list(request.properties.non_ref_properties)
        want_vectors = list(request.metadata.vectors)
        results = []
        for distance, neg_score, uid, obj in scored[:limit]:
            fields = {
                k: _value(v) for k, v in obj["properties"].items() if not wanted or k in wanted
            }
            meta = search_get_pb2.MetadataResult(
                id=uid,
                distance=distance,
                distance_present=query is not None,
                score=-neg_score,
                score_present=request.HasField("hybrid_search"),
                vectors=[
                    base_pb2.Vectors(name=n, vector_bytes=obj["vectors"][n].astype("<f4").tobytes())
                    for n in want_vectors
                    if n in obj["vectors"]
                ],
            )
            results.append(
                search_get_pb2.SearchResult(
                    properties=search_get_pb2.PropertiesResult(
                        non_ref_props=properties_pb2.Properties(fields=fields),
                        target_collection=request.collection,
                    ),
                    metadata=meta,
                )
            )
        return search_get_pb2.SearchReply(took=0.001, results=results)


def _query(msg: Any) -> tuple[str | None, np.ndarray | None]:
    targets = list(msg.targets.target_vectors) or list(msg.target_vectors)
    target = targets[0] if targets else None
    if len(msg.vectors):
        return msg.vectors[0].name or target, _vector(msg.vectors[0].vector_bytes)
    if msg.vector_bytes:
        return target, _vector(msg.vector_bytes)
    if "near_vector" in msg.DESCRIPTOR.fields_by_name and msg.HasField("near_vector"):
        return _query(msg.near_vector)
    return target, None


def _value(value: Any) -> properties_pb2.Value:
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return properties_pb2.Value(int_value=value)
    if isinstance(value, float):
        if value.is_integer():
            return properties_pb2.Value(int_value=int(value))
        return properties_pb2.Value(number_value=value)
    if isinstance(value, list):
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(
                text_values=properties_pb2.TextValues(values=[str(v) for v in value])
            )
        )
    return properties_pb2.Value(text_value=str(value))


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, standin: WeaviateStandIn) -> None:
        self.standin = standin

    def BatchObjects(self, request: Any, context: Any) -> Any:
        return self.standin.batch(request)

    def Search(self, request: Any, context: Any) -> Any:
        return self.standin.search(request)


def _health_handler() -> grpc.GenericRpcHandler:
    def check(request: Any, context: Any) -> Any:
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )
        },
    )


def _rest_handler(standin: WeaviateStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any = None) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/v1/meta":
                self._send(
                    200,
                    {
                        "version": standin.version,
                        "hostname": "http://standin",
                        "modules": {},
                        "grpcMaxMessageSize": 104858000,
                    },
                )
            elif path == "/v1/.well-known/openid-configuration":
                self._send(404)  # no OIDC, as a Weaviate without auth answers
            elif path.startswith("/v1/.well-known/"):
                self._send(200)
            elif path == "/v1/nodes":
                self._send(
                    200,
                    {
                        "nodes": [
                            {
                                "name": "standin",
                                "status": "HEALTHY",
                                "version": standin.version,
                                "shards": [],
                                "batchStats": {"queueLength": 0, "ratePerSecond": 0},
                            }
                        ]
                    },
                )
            elif path.startswith("/v1/schema/"):
                name = path.rsplit("/", 1)[1]
                found = standin.schemas.get(name)
                self._send(200, found) if found else self._send(
                    404, {"error": [{"message": f"class {name} not found"}]}
                )
            else:
                self._send(404, {"error": [{"message": f"GET {path}"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path.split("?", 1)[0] == "/v1/schema":
                self._send(200, standin.create(body))
            else:
                self._send(404, {"error": [{"message": f"POST {self.path}"}]})

        def do_DELETE(self) -> None:
            name = self.path.split("?", 1)[0].rsplit("/", 1)[1]
            standin.schemas.pop(name, None)
            standin.objects.pop(name, None)
            self._send(200)

    return Handler


def new_uuid() -> str:
    return str(uuidlib.uuid4())
