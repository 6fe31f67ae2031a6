"""The ``ge2 serve`` ASGI app: a result page and a JSON API over one store, read-only.

Search goes through :func:`ge2.store.search`, the same function ``ge2 search`` uses; the
JSON rows are the ones ``ge2 search --json`` prints (:func:`ge2.store.hit_rows`). Files
are served by their store id only (never by a path taken from a request), thumbnails are
made once and kept in the store's ``thumbs/`` folder, and query files are embedded from
memory, never written into an indexed folder.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ge2.embedder import Embedder
from ge2.errors import GE2Error, InputError
from ge2.inputs import Input, Mixed, Text, load
from ge2.store import Store, hit_rows, search

from .thumbs import ThumbnailError, Thumbnails

logger = logging.getLogger("ge2.serve")

#: Largest query file accepted (bytes): an image, a clip or a PDF to search by.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_K = 100
MODALITIES = ("text", "image", "audio", "video", "pdf", "mixed")
COOKIE = "ge2_token"


class _TokenGate(BaseHTTPMiddleware):
    """Every request needs the token (bearer header, cookie, or ``?token=`` which sets the
    cookie), checked before anything is read from the request body."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    def _ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.token)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        query = request.query_params.get("token")
        if not (self._ok(bearer) or self._ok(request.cookies.get(COOKIE)) or self._ok(query)):
            return JSONResponse(
                {"error": "a token is required: open the address ge2 serve printed"}, 401
            )
        response = await call_next(request)
        if self._ok(query):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        return response


class App:
    """State shared by the routes: the store (read-only), one embedder, the thumbnails."""

    def __init__(self, store: Store, embedder: Embedder, max_upload: int) -> None:
        self.store = store
        self.embedder = embedder
        self.thumbs = Thumbnails(store.folder / "thumbs")
        self.max_upload = max_upload

    # -- API --------------------------------------------------------------------------

    async def stats(self, request: Request) -> Response:
        s = self.store
        counts = await run_in_threadpool(s.modality_counts)
        return JSONResponse(
            {
                "store": str(s.folder),
                "model": s.config.model,
                "dimensions": s.config.dimensions,
                "offline": s.config.offline,
                "pieces": sum(counts.values()),
                "files": len(await run_in_threadpool(s.files)),
                "modalities": counts,
                "vector_index": s.has_vector_index(),
                "text_index": s._index_named("text") is not None,
            }
        )

    async def _query(self, request: Request) -> tuple[Input, dict[str, Any]]:
        """The query and options from a GET query string or a multipart POST."""
        if request.method == "GET":
            form: Any = request.query_params
            upload = None
        else:
            length = int(request.headers.get("content-length") or 0)
            if length > self.max_upload + 64 * 1024:
                raise _Reject(413, f"the query file is over {self.max_upload // 2**20} MB")
            form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
            upload = form.get("file")
        text = str(form.get("q") or "").strip()
        parts: list[Any] = [Text(text)] if text else []
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            data = await upload.read(self.max_upload + 1)
            if len(data) > self.max_upload:
                raise _Reject(413, f"the query file is over {self.max_upload // 2**20} MB")
            name = upload.filename or "query file"
            try:
                item = load(data)
            except InputError as exc:
                raise _Reject(422, f"{name}: {exc}") from exc
            parts.append(item)
        if not parts:
            raise _Reject(400, "give a text query (q) or a file to search by")
        try:
            k = min(MAX_K, max(1, int(form.get("k") or 12)))
        except ValueError:
            raise _Reject(400, "k must be a whole number") from None
        modality = [m for m in str(form.get("modality") or "").split(",") if m]
        if any(m not in MODALITIES for m in modality):
            raise _Reject(400, f"modality must be among {', '.join(MODALITIES)}")
        under = str(form.get("under") or "").strip() or None
        options = {
            "k": k,
            "exact": str(form.get("exact") or "") in ("1", "true", "on"),
            "text": text if str(form.get("hybrid") or "") in ("1", "true", "on") and text else None,
            "modality": modality or None,
            "path_prefix": str(Path(under).expanduser().resolve()) if under else None,
        }
        query = parts[0] if len(parts) == 1 else Mixed(parts)
        return query, options

    async def search(self, request: Request) -> Response:
        try:
            query, options = await self._query(request)
            vector = await run_in_threadpool(self.embedder.embed_one, query, task="query")
        except _Reject as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        except InputError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        except GE2Error as exc:
            return JSONResponse({"error": f"embedding the query failed: {exc}"}, 502)
        hits = await run_in_threadpool(lambda: search(self.store, vector, **options))
        rows = hit_rows(hits)
        for row in rows:
            fid = row.get("file_id")
            if fid:
                row["file_url"] = f"/files/{fid}"
                row["thumb_url"] = self.thumbs.url(row)
        return JSONResponse({"results": rows, "fused": options["text"] is not None})

    # -- files ------------------------------------------------------------------------

    def _file(self, fid: str) -> tuple[dict[str, Any], Path] | None:
        row = self.store.file_row(fid)
        if row is None:
            return None
        path = Path(Path(row["path"]) if not row.get("path_bytes") else _fs_path(row["path_bytes"]))
        return (row, path) if path.is_file() else None

    async def file(self, request: Request) -> Response:
        found = await run_in_threadpool(self._file, request.path_params["fid"])
        if found is None:
            return JSONResponse({"error": "no such file in the store (or it was moved)"}, 404)
        row, path = found
        return FileResponse(
            path,
            media_type=row.get("mime") or None,
            filename=path.name,
            content_disposition_type="inline",
        )

    async def thumb(self, request: Request) -> Response:
        found = await run_in_threadpool(self._file, request.path_params["fid"])
        if found is None:
            return JSONResponse({"error": "no such file in the store"}, 404)
        row, path = found
        try:
            page = int(request.query_params.get("page") or 1)
            at = float(request.query_params.get("t") or 0)
        except ValueError:
            return JSONResponse({"error": "page and t must be numbers"}, 400)
        try:
            made = await run_in_threadpool(self.thumbs.make, row, path, page, at)
        except ThumbnailError as exc:
            logger.warning("no thumbnail for %s: %s", path, exc)
            return JSONResponse({"error": f"no thumbnail for {path.name}: {exc}"}, 422)
        if made is None:
            return JSONResponse({"error": "no thumbnail for this kind of file"}, 404)
        return FileResponse(
            made, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"}
        )


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _fs_path(raw: bytes) -> str:
    import os

    return os.fsdecode(bytes(raw))


def create_app(
    store: Store,
    embedder: Embedder,
    *,
    token: str | None = None,
    max_upload: int = MAX_UPLOAD_BYTES,
) -> Starlette:
    """The app over an open (read-only) store; ``token`` guards every route."""
    app = App(store, embedder, max_upload)
    static = resources.files("ge2.serve") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    routes = [
        Route("/", index),
        Route("/api/stats", app.stats),
        Route("/api/search", app.search, methods=["GET", "POST"]),
        Route("/files/{fid:str}", app.file),
        Route("/thumbs/{fid:str}", app.thumb),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    middleware = [Middleware(_TokenGate, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware)


def new_token() -> str:
    return secrets.token_urlsafe(24)
