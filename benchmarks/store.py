"""The ``ge2`` store at scale: LanceDB (today) beside Qdrant local mode (before), 768-d.

Synthetic vectors (clustered like embeddings: 2,000 centres, each piece near one), so
the API is not in the loop. For each size it measures writing the pieces through
``Store.write`` (the path ``ge2 index`` takes), building the indexes, the store on disk
against the raw float32 vectors, in-process search latency (exact and ANN), recall@10 of
ANN against exact, and a whole ``ge2 search`` process (start to printed table; the store
is an offline one, so the query is embedded by the in-process emulator) with its peak RSS.
Results go to benchmarks/store_results.json (merged across runs), benchmarks/STORE.md
and benchmarks/store_latency.png.

    python -m benchmarks.store --sizes 10000,100000 --qdrant 20000,100000
    python -m benchmarks.store --sizes 1000000          # long: measure once
    python -m benchmarks.store --report                 # re-render STORE.md from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "store_results.json"
REPORT = HERE / "STORE.md"
CHART = HERE / "store_latency.png"
DIM = 768
CENTRES = 2000
PIECES_PER_FILE = 10
WRITE_BATCH = 10_000
QUERIES = 30
SEARCH_RUNS = 5


def _vectors(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    noise = rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    v = centres[rng.integers(0, len(centres), n)] + noise
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _centres(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _entries(start: int, vectors: np.ndarray) -> list[Any]:
    import ge2
    from ge2.embedder import Piece
    from ge2.store import FileEntry

    out = []
    for f in range(0, len(vectors), PIECES_PER_FILE):
        n = start + f
        pieces = [
            Piece(
                ge2.Text(
                    f"note {n + i} about topic {(n + i) % 997} code K{(n + i) * 7919 % 1000003}",
                    provenance={"char_start": i * 100, "char_end": i * 100 + 100},
                ),
                vectors[f + i],
                i,
            )
            for i in range(min(PIECES_PER_FILE, len(vectors) - f))
        ]
        out.append(
            FileEntry(
                f"/bench/dir{n // 1000}/file{n}.txt", 1000, n, f"sha{n}", "text/plain", pieces
            )
        )
    return out


def _cpu_children() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _search_process(store: Path, *extra: str) -> tuple[float, int, float]:
    """Wall time of a whole ``ge2 search`` process, its peak RSS (KB) and CPU seconds."""
    child = textwrap.dedent(
        """
        import sys
        from ge2.cli import main
        code = main(sys.argv[1:])
        # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's).
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print(hwm.split()[1], file=sys.stderr)
        sys.exit(code)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    cpu = _cpu_children()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            child,
            "search",
            "topic 42 code K1234",
            "--store",
            str(store),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    seconds = time.perf_counter() - started
    assert proc.stdout.splitlines()[0].split()[0] == "#", proc.stdout
    return seconds, int(proc.stderr.strip().splitlines()[-1]), _cpu_children() - cpu


def bench_lancedb(n: int, workdir: Path, threshold: int) -> dict[str, Any]:
    from ge2.store import Store, search

    folder = workdir / f"lance-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    centres = _centres()
    rng = np.random.default_rng(n)
    out: dict[str, Any] = {"pieces": n, "dimensions": DIM}
    write_s = write_cpu = 0.0
    with Store.open(folder, dimensions=DIM, offline=True) as store:
        for start in range(0, n, WRITE_BATCH):
            vecs = _vectors(rng, centres, min(WRITE_BATCH, n - start))
            entries = _entries(start, vecs)
            t, c = time.perf_counter(), time.process_time()
            store.write(entries)
            write_s += time.perf_counter() - t
            write_cpu += time.process_time() - c
        out["write_s"] = round(write_s, 2)
        out["write_pieces_per_s"] = round(n / write_s)
        out["write_cpu_s"] = round(write_cpu, 2)
        t = time.perf_counter()
        m = store.refresh_indexes(threshold)
        out["index_s"] = round(time.perf_counter() - t, 2)
        out["vector_index"] = m.vector_index
        out["disk_bytes"] = _du(folder / "lance")
        out["raw_bytes"] = n * DIM * 4
        out["disk_ratio"] = round(out["disk_bytes"] / out["raw_bytes"], 3)
        queries = _vectors(np.random.default_rng(1), centres, QUERIES)
        exact_ms, ann_ms, recalls = [], [], []
        for q in queries:
            t = time.perf_counter()
            ex = search(store, q, 10, exact=True)
            exact_ms.append((time.perf_counter() - t) * 1000)
            if store.has_vector_index():
                t = time.perf_counter()
                ann = search(store, q, 10)
                ann_ms.append((time.perf_counter() - t) * 1000)
                truth = {h.payload["id"] for h in ex}
                recalls.append(len(truth & {h.payload["id"] for h in ann}) / len(truth))
        out["exact_ms_median"] = round(statistics.median(exact_ms), 1)
        if ann_ms:
            out["ann_ms_median"] = round(statistics.median(ann_ms), 1)
            out["recall_at_10"] = round(float(np.mean(recalls)), 4)
    runs = [_search_process(folder) for _ in range(SEARCH_RUNS)]
    out["process_s_median"] = round(statistics.median(r[0] for r in runs), 3)
    out["process_rss_mb_max"] = round(max(r[1] for r in runs) / 1024)
    out["process_cpu_s_median"] = round(statistics.median(r[2] for r in runs), 3)
    if n <= 200_000 or not out.get("ann_ms_median"):
        ex_runs = [_search_process(folder, "--exact") for _ in range(3)]
        out["process_exact_s_median"] = round(statistics.median(r[0] for r in ex_runs), 3)
        out["process_exact_rss_mb_max"] = round(max(r[1] for r in ex_runs) / 1024)
        out["process_exact_cpu_s_median"] = round(statistics.median(r[2] for r in ex_runs), 3)
    base = [_import_only() for _ in range(3)]
    out["import_ge2_cli_s_median"] = round(statistics.median(base), 3)
    return out


def _import_only() -> float:
    """CPU seconds of a process that only imports ge2.cli (the floor under any command)."""
    cpu = _cpu_children()
    subprocess.run([sys.executable, "-c", "import ge2.cli"], check=True)
    return _cpu_children() - cpu


_QDRANT_SEARCH = textwrap.dedent(
    """
    import sys, time
    t0 = time.perf_counter()
    import ge2
    from ge2.emulator import Emulator
    from qdrant_client import QdrantClient
    with Emulator() as emu:
        emb = ge2.Embedder(dimensions=768, base_url=emu.url, api_key="x", progress=False)
        q = emb.embed_one("topic 42 code K1234", task="query")
        t1 = time.perf_counter()
        client = QdrantClient(path=sys.argv[1])
        t2 = time.perf_counter()
        hits = client.query_points("ge2", query=q, limit=10, with_payload=True).points
        t3 = time.perf_counter()
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    print(t2 - t1, t3 - t2, hwm.split()[1])
    """
)


def bench_qdrant(n: int, workdir: Path) -> dict[str, Any]:
    """Qdrant local mode as the store was before (one collection, cosine, payloads)."""
    from qdrant_client import QdrantClient, models

    folder = workdir / f"qdrant-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    centres = _centres()
    rng = np.random.default_rng(n)
    client = QdrantClient(path=str(folder))
    client.create_collection(
        "ge2", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    write_s = 0.0
    for start in range(0, n, 1000):
        vecs = _vectors(rng, centres, min(1000, n - start))
        points = [
            models.PointStruct(
                id=start + i,
                vector=v.tolist(),
                payload={"path": f"/bench/file{(start + i) // 10}.txt", "piece": i % 10},
            )
            for i, v in enumerate(vecs)
        ]
        t = time.perf_counter()
        client.upsert("ge2", points=points)
        write_s += time.perf_counter() - t
    client.close()
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _QDRANT_SEARCH, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        total = time.perf_counter() - t
        open_s, query_s, rss = proc.stdout.split()
        runs.append((total, float(open_s), float(query_s), int(rss)))
    return {
        "pieces": n,
        "write_s": round(write_s, 2),
        "write_pieces_per_s": round(n / write_s),
        "disk_bytes": _du(folder),
        "raw_bytes": n * DIM * 4,
        "disk_ratio": round(_du(folder) / (n * DIM * 4), 3),
        "process_s_median": round(statistics.median(r[0] for r in runs), 3),
        "open_s_median": round(statistics.median(r[1] for r in runs), 3),
        "query_ms_median": round(statistics.median(r[2] for r in runs) * 1000, 1),
        "process_rss_mb_max": round(max(r[3] for r in runs) / 1024),
    }


# -- report --------------------------------------------------------------------------------


def _mb(b: int) -> str:
    return f"{b / 1e6:,.0f} MB"


def render(results: dict[str, Any]) -> None:
    lance = sorted(results.get("lancedb", {}).values(), key=lambda r: r["pieces"])
    qdrant = sorted(results.get("qdrant", {}).values(), key=lambda r: r["pieces"])
    lines = [
        "# The ge2 store at scale: LanceDB, beside Qdrant local mode",
        "",
        f"Machine: {results.get('machine', '?')}. Generated by `python -m benchmarks.store` "
        "(synthetic 768-d vectors clustered around 2,000 centres, 10 text pieces per file; "
        "no API in the loop: the store is an offline one, so `ge2 search` embeds the query "
        "with the in-process emulator). The machine is shared with other jobs, so absolute "
        "times are noisy; ratios are what to read.",
        "",
        "## LanceDB (the store today)",
        "",
        "| pieces | write (pieces/s) | indexes built | disk / raw float32 | exact search "
        "(in-process) | ANN search (in-process) | recall@10 ANN vs exact | whole `ge2 search` "
        "wall (median) | its CPU time | peak RSS | `--exact` whole process wall / CPU | "
        "`import ge2.cli` alone (CPU) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lance:
        cpu = f" ({r['write_cpu_s']} s CPU)" if "write_cpu_s" in r else ""
        lines.append(
            f"| {r['pieces']:,} | {r['write_pieces_per_s']:,}{cpu} | {r['vector_index']} "
            f"({r['index_s']} s) | {_mb(r['disk_bytes'])} / {_mb(r['raw_bytes'])} = "
            f"{r['disk_ratio']}x | {r['exact_ms_median']} ms | "
            f"{str(r.get('ann_ms_median', '-')) + ' ms' if 'ann_ms_median' in r else '-'} | "
            f"{r.get('recall_at_10', '-')} | {r['process_s_median']} s | "
            f"{r['process_cpu_s_median']} s | {r['process_rss_mb_max']} MB | "
            + (
                f"{r['process_exact_s_median']} s / {r['process_exact_cpu_s_median']} s"
                if "process_exact_s_median" in r
                else "-"
            )
            + f" | {r['import_ge2_cli_s_median']} s |"
        )
    lines += [
        "",
        "## Qdrant local mode (the store before), same vectors, same run",
        "",
        "| pieces | write (pieces/s) | disk / raw float32 | open the store | query | "
        "whole search process (median) | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in qdrant:
        lines.append(
            f"| {r['pieces']:,} | {r['write_pieces_per_s']:,} | {_mb(r['disk_bytes'])} / "
            f"{_mb(r['raw_bytes'])} = {r['disk_ratio']}x | {r['open_s_median']} s | "
            f"{r['query_ms_median']} ms | {r['process_s_median']} s | "
            f"{r['process_rss_mb_max']} MB |"
        )
    lines += ["", "![search latency against store size](store_latency.png)", ""]
    notes = results.get("notes", [])
    if notes:
        lines += ["## Targets and notes", "", *[f"- {n}" for n in notes], ""]
    REPORT.write_text("\n".join(lines))
    _chart(lance, qdrant)


def _chart(lance: list[dict[str, Any]], qdrant: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = [r["pieces"] for r in lance]
    ax.plot(xs, [r["exact_ms_median"] for r in lance], "o-", label="LanceDB exact (in-process)")
    ann = [r for r in lance if "ann_ms_median" in r]
    if ann:
        ax.plot(
            [r["pieces"] for r in ann],
            [r["ann_ms_median"] for r in ann],
            "s-",
            label="LanceDB IVF_PQ + refine (in-process)",
        )
    ax.plot(
        xs,
        [r["process_s_median"] * 1000 for r in lance],
        "^-",
        label="whole `ge2 search` (LanceDB)",
    )
    if qdrant:
        ax.plot(
            [r["pieces"] for r in qdrant],
            [r["process_s_median"] * 1000 for r in qdrant],
            "x--",
            label="whole search process (Qdrant local)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pieces in the store (768-d)")
    ax.set_ylabel("milliseconds (median)")
    ax.set_title("ge2 store: search latency against size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="LanceDB store sizes (pieces)")
    ap.add_argument("--qdrant", default="", help="Qdrant local store sizes (pieces)")
    ap.add_argument("--threshold", type=int, default=None, help="ANN threshold (default ge2's)")
    ap.add_argument("--workdir", default=None, help="where the stores go (default a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--report", action="store_true", help="only re-render STORE.md")
    args = ap.parse_args()
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report:
        from ge2.store import ann_threshold

        threshold = args.threshold or ann_threshold()
        results["machine"] = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        )
        work = Path(args.workdir or tempfile.mkdtemp(prefix="ge2-store-bench-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            for n in [int(s) for s in args.qdrant.split(",") if s]:
                print(f"qdrant {n:,} ...", flush=True)
                results.setdefault("qdrant", {})[str(n)] = r = bench_qdrant(n, work)
                print(json.dumps(r), flush=True)
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
                if not args.keep:
                    shutil.rmtree(work / f"qdrant-{n}", ignore_errors=True)
            for n in [int(s) for s in args.sizes.split(",") if s]:
                print(f"lancedb {n:,} ...", flush=True)
                results.setdefault("lancedb", {})[str(n)] = r = bench_lancedb(n, work, threshold)
                print(json.dumps(r), flush=True)
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
                if not args.keep:
                    shutil.rmtree(work / f"lance-{n}", ignore_errors=True)
        finally:
            if not args.keep and not args.workdir:
                shutil.rmtree(work, ignore_errors=True)
    render(results)


if __name__ == "__main__":
    main()
