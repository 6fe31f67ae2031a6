"""One benchmark run in its own process: ``python -m benchmarks.worker RUNNER CORPUS ...``.

The worker builds the runner (imports, constructors, framework Documents: not timed), prints
``READY``, waits for ``GO`` on stdin (the parent zeroes the emulator's counters meanwhile),
embeds the corpus once (timed), and prints ``RESULT {json}``. A runner whose package is
missing prints ``RESULT`` with ``available: false`` and the reason instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Vectors = list[Any]


@dataclass
class Settings:
    """What every runner is given: where the emulator is and the pacing to the user's tier."""

    url: str
    dims: int
    concurrency: int
    rpm: float | None  # the quota per minute (see ``per``); None: no quota
    batch: int = 100
    per: str = "request"  # what the quota counts: HTTP requests or embedded inputs


@dataclass
class Prepared:
    """A built runner: ``run(items)`` embeds (timed on ``items``, warmed up on a slice first).

    ``items`` are the runner's ready-made inputs (texts, paths, framework Documents);
    ``usage()`` reads ge2's own counters.
    """

    run: Callable[[list[Any]], Vectors]
    items: list[Any]
    usage: Callable[[], Any] | None = None
    note: str = ""

    def embed(self) -> Vectors:
        return self.run(self.items)


class Unavailable(Exception):
    """The runner's package is not installed, or it cannot take this corpus."""


def _need(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{package} not installed ({exc})") from exc


def _quota(s: Settings) -> Any:
    import ge2

    return ge2.Quota(requests_per_minute=s.rpm, per=s.per) if s.rpm else None


def _core(s: Settings, **extra: Any) -> Any:
    import ge2

    return ge2.Embedder(
        dimensions=s.dims,
        base_url=s.url,
        api_key="test",
        quota=_quota(s),
        max_concurrency=s.concurrency,
        batch_size=s.batch,
        progress=False,
        **extra,
    )


def _core_inputs(corpus: str, data: list[Any]) -> list[Any]:
    import ge2

    return list(data) if corpus == "text" else [ge2.Image(p) for p in data]


# -- ge2 ------------------------------------------------------------------------------------


def ge2_core(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    emb = _core(s)
    return Prepared(lambda xs: emb.embed(_core_inputs(corpus, xs)), data, lambda: emb.usage)


def ge2_core_auto(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    """The default users get: no quota=, no max_concurrency, no batch size; only the model."""
    import ge2

    emb = ge2.Embedder(dimensions=s.dims, base_url=s.url, api_key="test", progress=False)
    return Prepared(
        lambda xs: emb.embed(_core_inputs(corpus, xs)),
        data,
        lambda: emb.usage,
        "no quota=, defaults only",
    )


def ge2_core_async(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    emb = _core(s)
    return Prepared(
        lambda xs: asyncio.run(emb.aembed(_core_inputs(corpus, xs))), data, lambda: emb.usage
    )


def ge2_langchain(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    mod = _need("ge2.integrations.langchain", "ge2[langchain]")
    emb = mod.GE2Embeddings(
        dimensions=s.dims,
        base_url=s.url,
        api_key="test",
        quota=_quota(s),
        max_concurrency=s.concurrency,
        batch_size=s.batch,
    )
    run = emb.embed_documents if corpus == "text" else emb.embed_image
    return Prepared(lambda xs: run(list(xs)), data, lambda: emb.embedder.usage)


def ge2_llamaindex(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    mod = _need("ge2.integrations.llamaindex", "ge2[llamaindex]")
    cls = mod.GE2Embedding
    kwargs: dict[str, Any] = {
        "dimensions": s.dims,
        "base_url": s.url,
        "api_key": "test",
        "num_workers": s.concurrency,
        "embed_batch_size": s.batch,
    }
    note = ""
    if "quota" in cls.model_fields:
        kwargs["quota"] = _quota(s)
    elif s.rpm:
        # No quota field: the documented way to configure the core is embedder=.
        kwargs = {"embedder": _core(s)}
        note = "quota passed via embedder=ge2.Embedder(...) (GE2Embedding has no quota field)"
    emb = cls(**kwargs)
    if corpus == "text":
        run = emb.get_text_embedding_batch
        return Prepared(lambda xs: run(list(xs)), data, lambda: emb.embedder.usage, note)
    return Prepared(
        lambda xs: emb.get_image_embedding_batch(list(xs)),
        [str(p) for p in data],
        lambda: emb.embedder.usage,
        note,
    )


def ge2_haystack(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    mod = _need("ge2.integrations.haystack", "ge2[haystack]")
    from haystack import Document
    from haystack.utils import Secret

    cls = mod.GE2DocumentEmbedder if corpus == "text" else mod.GE2DocumentImageEmbedder
    kwargs: dict[str, Any] = {
        "api_key": Secret.from_token("test"),
        "api_base_url": s.url,
        "dimensions": s.dims,
        "max_concurrency": s.concurrency,
        "batch_size": s.batch,
        "progress_bar": False,
    }
    note = ""
    if "quota" in inspect.signature(cls.__init__).parameters:
        kwargs["quota"] = _quota(s)
    elif s.rpm:
        note = "no quota option: unpaced, relies on retries after 429"
    comp = cls(**kwargs)
    comp.warm_up()
    if corpus == "text":
        docs = [Document(content=t) for t in data]
    else:
        docs = [Document(meta={"file_path": str(p)}) for p in data]

    def embed(batch: list[Any]) -> Vectors:
        return [d.embedding for d in comp.run(documents=batch)["documents"]]

    return Prepared(embed, docs, lambda: comp.embedder.usage, note)


def ge2_chroma(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    mod = _need("ge2.integrations.chroma", "ge2[chroma]")
    ef = mod.GE2EmbeddingFunction(
        dimensions=s.dims,
        api_key="test",
        base_url=s.url,
        quota=_quota(s),
        max_concurrency=s.concurrency,
        batch_size=s.batch,
    )
    if corpus == "text":
        return Prepared(lambda xs: ef(list(xs)), data, lambda: ef.embedder.usage)
    loader = mod.GE2DataLoader()  # what collection.add(uris=...) runs before the function
    return Prepared(lambda xs: ef(loader(xs)), [str(p) for p in data], lambda: ef.embedder.usage)


# -- peers ----------------------------------------------------------------------------------


def _text_only(corpus: str, what: str) -> None:
    if corpus != "text":
        raise Unavailable(f"{what} embeds text only")


def langchain_google_genai(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    _text_only(corpus, "GoogleGenerativeAIEmbeddings")
    mod = _need("langchain_google_genai", "langchain-google-genai")
    emb = mod.GoogleGenerativeAIEmbeddings(
        model="gemini-embedding-2",
        google_api_key="test",
        base_url=s.url,
        output_dimensionality=s.dims,
    )
    return Prepared(lambda xs: emb.embed_documents(list(xs)), data)


def llamaindex_google_genai(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    _text_only(corpus, "GoogleGenAIEmbedding")
    mod = _need("llama_index.embeddings.google_genai", "llama-index-embeddings-google-genai")
    from google.genai import types

    emb = mod.GoogleGenAIEmbedding(
        model_name="gemini-embedding-2",
        api_key="test",
        http_options=types.HttpOptions(base_url=s.url),
        embedding_config=types.EmbedContentConfig(output_dimensionality=s.dims),
        embed_batch_size=s.batch,
    )
    return Prepared(lambda xs: emb.get_text_embedding_batch(list(xs)), data)


def haystack_google_genai(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    mod = _need("haystack_integrations.components.embedders.google_genai", "google-genai-haystack")
    from haystack import Document
    from haystack.utils import Secret

    common = {
        "api_key": Secret.from_token("test"),
        "model": "gemini-embedding-2",
        "config": {"output_dimensionality": s.dims},
        "progress_bar": False,
    }
    if corpus == "text":
        comp = mod.GoogleGenAIDocumentEmbedder(**common)
        docs = [Document(content=t) for t in data]
    else:
        comp = mod.GoogleGenAIMultimodalDocumentEmbedder(**common)
        docs = [Document(meta={"file_path": str(p)}) for p in data]
    comp.warm_up()  # base URL: GOOGLE_GEMINI_BASE_URL (the component has no base_url option)

    def embed(batch: list[Any]) -> Vectors:
        return [d.embedding for d in comp.run(documents=batch)["documents"]]

    return Prepared(embed, docs, note=f"default batch_size={comp._batch_size}, sequential")


def google_genai_loop(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    """The plain SDK: batches of explicit Contents, one call after another, no retries."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=s.url))
    config = types.EmbedContentConfig(output_dimensionality=s.dims)

    def part(item: Any) -> types.Part:
        if corpus == "text":
            return types.Part(text=item)
        return types.Part.from_bytes(data=Path(item).read_bytes(), mime_type="image/png")

    def embed(items: list[Any]) -> Vectors:
        out: Vectors = []
        for start in range(0, len(items), s.batch):
            batch = items[start : start + s.batch]
            contents = [types.Content(role="user", parts=[part(x)]) for x in batch]
            response = client.models.embed_content(
                model="gemini-embedding-2", contents=contents, config=config
            )
            out.extend(e.values for e in response.embeddings or [])
        return out

    return Prepared(embed, data, note=f"batches of {s.batch}, sequential")


def memory(s: Settings, corpus: str, data: list[Any]) -> Prepared:
    """The core on images and a long video (split by the core): the peak RSS figure."""
    import ge2

    emb = _core(s)
    manifest = json.loads(Path(data[0]).read_text())
    items = [ge2.Image(p) for p in manifest["images"]] + [ge2.Video(manifest["video"])]
    return Prepared(lambda xs: emb.embed(xs), items, lambda: emb.usage)


RUNNERS: dict[str, Callable[[Settings, str, list[Any]], Prepared]] = {
    "ge2-core": ge2_core,
    "ge2-core-auto": ge2_core_auto,
    "ge2-core-async": ge2_core_async,
    "ge2-langchain": ge2_langchain,
    "ge2-llamaindex": ge2_llamaindex,
    "ge2-haystack": ge2_haystack,
    "ge2-chroma": ge2_chroma,
    "langchain-google-genai": langchain_google_genai,
    "llamaindex-google-genai": llamaindex_google_genai,
    "google-genai-haystack": haystack_google_genai,
    "google-genai-loop": google_genai_loop,
    "memory": memory,
}


# -- measuring ------------------------------------------------------------------------------


class ThreadProfiler:
    """cProfile across every thread the run starts (ge2 sends from a thread pool)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_in_thread(self, *_: Any) -> None:
        prof = cProfile.Profile()
        with self._lock:
            self.profiles.append(prof)
        prof.enable()  # replaces this hook for the thread

    def __enter__(self) -> ThreadProfiler:
        threading.setprofile(self._start_in_thread)
        self._start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self.profiles[0].disable()

    def dump(self, path: str) -> None:
        import pstats

        stats = pstats.Stats(self.profiles[0])
        for prof in self.profiles[1:]:
            stats.add(prof)
        stats.dump_stats(path)


def _rss_mb() -> float:
    """Peak RSS of this process so far, in MB.

    Linux's ``VmHWM`` first: ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a worker
    would report its parent's peak at fork time whenever that was higher.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _summary(vectors: Vectors, n_inputs: int, dims: int) -> dict[str, Any]:
    valid = [v for v in vectors if v is not None and len(v) == dims]
    distinct = len({tuple(round(float(x), 5) for x in v[:8]) for v in valid})
    return {
        "returned": len(vectors),
        "valid": len(valid),
        "distinct": distinct,
        "lost": max(0, n_inputs - len(valid)) if len(vectors) == n_inputs else n_inputs,
    }


def _usage(prepared: Prepared) -> dict[str, Any] | None:
    if prepared.usage is None:
        return None
    try:
        u = prepared.usage()
    except Exception:
        return None
    keys = ("requests", "items", "retries", "rate_limited", "failures", "learned_rate")
    return {k: getattr(u, k, None) for k in keys}


class WarningCounter(logging.Handler):
    """Counts the WARNING (and worse) lines ge2 logs during the timed run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    p.add_argument("runner", choices=sorted(RUNNERS))
    p.add_argument("corpus", choices=("text", "images", "memory"))
    p.add_argument("--manifest", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--dims", type=int, default=768)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--rpm", type=float, default=None)
    p.add_argument("--per", choices=("request", "input"), default="request")
    p.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    p.add_argument("--profile", default=None, help="write merged cProfile stats here")
    p.add_argument("--warmup", type=int, default=1, help="embed this many items first, untimed")
    args = p.parse_args(argv)

    manifest = json.loads(Path(args.manifest).read_text())
    if args.corpus == "text":
        data: list[Any] = json.loads(Path(manifest["texts"]).read_text())[: args.limit]
    elif args.corpus == "images":
        data = list(manifest["images"])
    else:
        data = [args.manifest]
    settings = Settings(args.url, args.dims, args.concurrency, args.rpm, per=args.per)
    n_inputs = len(manifest["images"]) + 1 if args.corpus == "memory" else len(data)
    base = {"runner": args.runner, "corpus": args.corpus, "inputs": n_inputs}
    try:
        prepared = RUNNERS[args.runner](settings, args.corpus, data)
        if args.warmup:  # the client, connections and lazy imports, outside the timed call
            prepared.run(prepared.items[: args.warmup])
    except Unavailable as exc:
        _emit({**base, "available": False, "reason": str(exc)})
        return 0
    except Exception as exc:
        _emit({**base, "available": False, "reason": f"setup failed: {type(exc).__name__}: {exc}"})
        return 0
    rss_before = _rss_mb()
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 1
    warnings = WarningCounter()
    logging.getLogger("ge2").addHandler(warnings)
    profiler = ThreadProfiler() if args.profile else None
    error = None
    vectors: Vectors = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        if profiler:
            with profiler:
                vectors = prepared.embed()
        else:
            vectors = prepared.embed()
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        vecs = getattr(exc, "vectors", None)  # ge2.EmbeddingError keeps what succeeded
        vectors = list(vecs) if vecs is not None else []
        if os.environ.get("GE2_BENCH_TRACEBACK"):
            traceback.print_exc()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if profiler and args.profile:
        profiler.dump(args.profile)
    _emit(
        {
            **base,
            "available": True,
            "seconds": seconds,
            "client_cpu_s": cpu,
            "error": error,
            "note": prepared.note,
            "usage": _usage(prepared),
            "warnings": warnings.count,
            "rss_before_mb": rss_before,
            "rss_peak_mb": _rss_mb(),
            **_summary(vectors, n_inputs, args.dims),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
