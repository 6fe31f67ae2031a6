"""Two-stage Matryoshka search in Qdrant: recall@10 and latency by prefetch size.

``python -m benchmarks.qdrant [--points 100000] [--queries 200]`` writes
``benchmarks/QDRANT.md``. Vectors are the emulator's (deterministic, lexical, 3072-d) for
generated texts, computed in-process: the API is not in the loop. Queries are other
passages that share part of a stored text's words, so each has a real nearest neighbour.

Recall is computed exactly in NumPy, the way Qdrant scores the two stages (cosine on the
re-normalised prefix for ``limit`` candidates, then cosine on the full vector); latency is
measured through ``CollectionVectors.search`` on a real ``QdrantClient`` in local mode.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks import corpus
from ge2.emulator import vectors

HERE = Path(__file__).parent
PREFETCH_SIZES = (128, 256, 512)
PREFETCH_LIMITS = (40, 100, 200)
K = 10


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def build(points: int, queries: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    texts = corpus.texts(points, seed=21)
    full = np.stack([vectors.text_vector(t) for t in texts]).astype(np.float32)
    rng = random.Random(5)
    qs = []
    for i in rng.sample(range(points), queries):
        words = texts[i].rstrip(".").split()
        keep = rng.sample(words, max(8, len(words) // 3))  # a third of the passage's words
        qs.append(" ".join(keep))
    q = np.stack([vectors.text_vector(t) for t in qs]).astype(np.float32)
    return full, q, texts


def recall(full: np.ndarray, q: np.ndarray, size: int, limit: int) -> float:
    exact = np.argpartition(-(q @ full.T), K, axis=1)[:, :K]
    small = _unit(full[:, :size])
    cand = np.argpartition(-(_unit(q[:, :size]) @ small.T), limit, axis=1)[:, :limit]
    hits = 0
    for row in range(len(q)):
        rescored = cand[row][np.argsort(-(full[cand[row]] @ q[row]))[:K]]
        hits += len(set(rescored.tolist()) & set(exact[row].tolist()))
    return hits / (K * len(q))


def latency(full: np.ndarray, texts: list[str], n: int, queries: list[str]) -> dict[str, float]:
    """Median ms per search through the helper on local-mode Qdrant (``n`` points)."""
    from qdrant_client import QdrantClient, models

    import ge2
    from ge2.emulator import Emulator
    from ge2.integrations.qdrant import CollectionVectors

    out: dict[str, float] = {}
    with Emulator() as emu:
        emb = ge2.Embedder(base_url=emu.url, api_key="bench", dimensions=3072, cache=False)
        for label, sizes in (
            ("exact 3072", (3072,)),
            *((f"two-stage {s}", (s, 3072)) for s in PREFETCH_SIZES),
        ):
            client = QdrantClient(":memory:")
            cv = CollectionVectors(client, "b", emb, sizes=sizes, prefetch_limit=100)
            cv.create_or_adopt()
            for a in range(0, n, 2000):
                client.upsert(
                    "b",
                    points=[
                        models.PointStruct(
                            id=i,
                            vector={
                                f"ge2_{s}": (full[i, :s] / np.linalg.norm(full[i, :s])).tolist()
                                for s in sizes
                            },
                        )
                        for i in range(a, min(n, a + 2000))
                    ],
                )
            for text in queries[:3]:
                cv.search(text, limit=K)  # warm the embedder's connection
            times = []
            for text in queries:
                t = time.perf_counter()
                cv.search(text, limit=K)
                times.append((time.perf_counter() - t) * 1000)
            out[label] = statistics.median(times)
            client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--latency-points", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=HERE / "QDRANT.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    full, q, texts = build(args.points, args.queries)
    built = time.perf_counter() - t0
    rows = []
    for size in PREFETCH_SIZES:
        for limit in PREFETCH_LIMITS:
            rows.append((size, limit, recall(full, q, size, limit)))
            print(f"prefix {size:4d}, prefetch {limit:3d}: recall@10 {rows[-1][2]:.3f}", flush=True)
    rng = random.Random(3)
    query_texts = [" ".join(rng.sample(t.split(), 20)) for t in rng.sample(texts, 30)]
    lat = latency(full, texts, min(args.latency_points, args.points), query_texts)
    lines = [
        "# Qdrant: two-stage Matryoshka search",
        "",
        f"`python -m benchmarks.qdrant --points {args.points} --queries {args.queries}` on "
        f"{platform.machine()}, {platform.python_version()}; vectors built in {built:.0f} s.",
        "",
        f"Recall@10 of prefetch-on-a-prefix + rescore-on-3072 against exact 3072-d search, "
        f"{args.points:,} points, {args.queries} queries (computed exactly, as Qdrant scores):",
        "",
        "| prefetch vector | prefetch limit | recall@10 |",
        "|---:|---:|---:|",
        *(f"| {s} | {lim} | {r:.3f} |" for s, lim, r in rows),
        "",
        f"Median latency of `CollectionVectors.search` (one embedding call through the "
        f"emulator + one Query API call), local-mode Qdrant, "
        f"{min(args.latency_points, args.points):,} points, prefetch limit 100:",
        "",
        "| search | median ms |",
        "|---|---:|",
        *(f"| {k} | {v:.1f} |" for k, v in lat.items()),
        "",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
