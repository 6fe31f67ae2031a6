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
PREFETCH_LIMITS = (50, 100, 200, 400)
K = 10


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def structured_texts(count: int, topics: int = 1000, seed: int = 21) -> list[str]:
    """Texts in topical clusters, as real corpora are: 60% of each text's words come from
    its topic's 40-word vocabulary, the rest from an 8,000-word one."""
    rng = random.Random(seed)
    vocab = corpus._vocabulary(rng, 8000)
    topic_words = [rng.sample(vocab, 40) for _ in range(topics)]
    out = []
    for i in range(count):
        own = topic_words[i % topics]
        n = rng.randint(50, 100)
        out.append(
            " ".join(rng.choice(own) if rng.random() < 0.6 else rng.choice(vocab) for _ in range(n))
        )
    return out


def build(points: int, queries: int) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    texts = structured_texts(points)
    full = np.stack([vectors.text_vector(t) for t in texts]).astype(np.float32)
    rng = random.Random(5)
    qs = []
    sources = rng.sample(range(points), queries)
    for i in sources:
        words = texts[i].split()
        qs.append(" ".join(rng.sample(words, max(8, len(words) // 3))))  # a third of its words
    q = np.stack([vectors.text_vector(t) for t in qs]).astype(np.float32)
    return full, q, texts, sources


def recall(
    full: np.ndarray, q: np.ndarray, sources: list[int], size: int, limit: int
) -> tuple[float, float]:
    """(recall@10 against exact 3072-d top-10, share of queries whose source is in the top 10)."""
    exact = np.argpartition(-(q @ full.T), K, axis=1)[:, :K]
    small = _unit(full[:, :size])
    cand = np.argpartition(-(_unit(q[:, :size]) @ small.T), limit, axis=1)[:, :limit]
    hits = found = 0
    for row in range(len(q)):
        rescored = cand[row][np.argsort(-(full[cand[row]] @ q[row]))[:K]]
        hits += len(set(rescored.tolist()) & set(exact[row].tolist()))
        found += int(sources[row] in set(rescored.tolist()))
    return hits / (K * len(q)), found / len(q)


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
    full, q, texts, sources = build(args.points, args.queries)
    built = time.perf_counter() - t0
    exact_found = recall(full, q, sources, 3072, K)[1]
    rows = []
    for size in PREFETCH_SIZES:
        for limit in PREFETCH_LIMITS:
            r, f = recall(full, q, sources, size, limit)
            rows.append((size, limit, r, f))
            print(
                f"prefix {size:4d}, prefetch {limit:3d}: recall@10 {r:.3f}, source {f:.3f}",
                flush=True,
            )
    rng = random.Random(3)
    query_texts = [" ".join(rng.sample(t.split(), 20)) for t in rng.sample(texts, 30)]
    lat = latency(full, texts, min(args.latency_points, args.points), query_texts)
    lines = [
        "# Qdrant: two-stage Matryoshka search",
        "",
        f"`python -m benchmarks.qdrant --points {args.points} --queries {args.queries}` on "
        f"{platform.machine()}, {platform.python_version()}; vectors built in {built:.0f} s.",
        "",
        f"{args.points:,} generated texts in 1,000 topical clusters, {args.queries} queries "
        "(each a third of one stored text's words). Recall@10 of prefetch-on-a-prefix + "
        "rescore-on-3072 against exact 3072-d search, and how often the query's own source "
        f"text is in the top 10 (exact 3072-d search: {exact_found:.3f}). Computed exactly, "
        "as Qdrant scores the two stages:",
        "",
        "| prefetch vector | prefetch limit | recall@10 vs exact | source in top 10 |",
        "|---:|---:|---:|---:|",
        *(f"| {s} | {lim} | {r:.3f} | {f:.3f} |" for s, lim, r, f in rows),
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
