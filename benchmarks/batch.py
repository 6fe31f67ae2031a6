"""Batch API versus the online path for N texts, against the emulator; writes BATCH.md.

For each path: HTTP requests made, items embedded, the estimated price (the Batch API bills
half) and the wall time from the first call to the last vector in hand. The emulator runs
in its own process; each path runs in a fresh ``Embedder`` with no cache, so nothing is
shared. A real batch job also waits in Google's queue (minutes to hours), which no
emulator can stand for: the batch wall time here is ge2's own overhead (plan, write the
JSONL, upload, create, poll, download, parse, cache) with a job that finishes at once.

    python -m benchmarks.batch                  # 10,000 texts (BATCH.md)
    python -m benchmarks.batch --n 500 --out /tmp/b
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import ge2
from ge2.batch import BatchLimits

from .emulator import EmulatorProcess

HERE = Path(__file__).resolve().parent


def texts(n: int) -> list[str]:
    words = ["otter", "heron", "weir", "dawn", "river", "reed", "stone", "moss", "current", "bank"]
    return [
        f"Field note {i}: " + " ".join(words[(i * 7 + j) % len(words)] for j in range(40))
        for i in range(n)
    ]


def _spent(emu: EmulatorProcess, before: float | None) -> float | None:
    after = emu.cpu()
    return None if before is None or after is None else after - before


def _requests(stats: dict[str, Any]) -> int:
    return int(stats["requests"])


def run_online(emu: EmulatorProcess, items: list[str], dims: int) -> dict[str, Any]:
    emu.reset()
    emb = ge2.Embedder(base_url=emu.url, api_key="bench", dimensions=dims, progress=False)
    cpu = emu.cpu()
    start = time.perf_counter()
    vectors = emb.embed(items)
    wall = time.perf_counter() - start
    stats = emu.stats()
    usage = emb.usage
    return {
        "path": "online (embed)",
        "requests": _requests(stats),
        "items": stats["items"],
        "jobs": 0,
        "cost_usd": usage.cost_usd,
        "wall_s": wall,
        "emulator_cpu_s": _spent(emu, cpu),
        "vectors": len(vectors),
    }


def run_batch(
    emu: EmulatorProcess, items: list[str], dims: int, limits: BatchLimits, label: str
) -> dict[str, Any]:
    emu.reset()
    emb = ge2.Embedder(base_url=emu.url, api_key="bench", dimensions=dims, progress=False)
    cpu = emu.cpu()
    with tempfile.TemporaryDirectory() as state:
        start = time.perf_counter()
        job = emb.submit_batch(items, state_dir=state, limits=limits)
        vectors = job.results(poll=0.05)
        wall = time.perf_counter() - start
        modes = sorted({j.mode for j in job.jobs})
    stats = emu.stats()
    usage = emb.usage
    return {
        "path": f"batch ({label}: {', '.join(modes)})",
        "requests": _requests(stats),
        "items": stats["batch"]["items_embedded"],
        "jobs": stats["batch"]["creates"],
        "cost_usd": usage.batch_cost_usd,
        "wall_s": wall,
        "emulator_cpu_s": _spent(emu, cpu),
        "vectors": len(vectors),
    }


def report(rows: list[dict[str, Any]], n: int, dims: int) -> str:
    lines = [
        "# Batch API versus online: requests, price, wall time",
        "",
        f"{n:,} texts (~{rows[0]['cost_usd'] / 0.20 * 1e6 / n:.0f} tokens each), "
        f"{dims} dimensions, against the emulator in its own process, no cache. "
        f"Machine: {platform.machine()}, {platform.python_version()}. "
        "Produced by `python -m benchmarks.batch`.",
        "",
        "| path | HTTP requests | items | jobs | est. price | wall time | of it, emulator CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['requests']:,} | {r['items']:,} | {r['jobs']} | "
            f"${r['cost_usd']:.4f} | {r['wall_s']:.1f} s | "
            + ("n/a" if r["emulator_cpu_s"] is None else f"{r['emulator_cpu_s']:.1f} s")
            + " |"
        )
    lines += [
        "",
        "- The price column is ge2's estimate from its token count: the Batch API bills about",
        "  half the standard price, and `Embedder.usage` counts batch tokens and cost apart",
        "  (`batch_items`, `batch_tokens`, `batch_cost_usd`).",
        "- A real batch job also waits in Google's queue, from minutes to hours; the emulator's",
        "  jobs end at once, so the batch wall time is ge2's own overhead (plan, JSONL, upload,",
        "  create, poll, download, parse, cache) plus the emulator's own work (its CPU time is",
        "  shown: it embeds, serialises and parses in the same 2 cores). Batch is for bulk",
        "  indexing, not for latency.",
        "- The online path makes one HTTP request per 100 texts; the batch path a handful per",
        "  job (upload start and chunks, create, get, download), whatever the number of texts.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of texts")
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--out", type=Path, default=HERE, help="folder for BATCH.md/batch.json")
    args = parser.parse_args(argv)
    items = texts(args.n)
    with EmulatorProcess() as emu:
        rows = [
            run_online(emu, items, args.dims),
            run_batch(emu, items, args.dims, BatchLimits(), "default limits"),
            run_batch(emu, items, args.dims, BatchLimits(inline_bytes=1), "as a file"),
            run_batch(
                emu,
                items,
                args.dims,
                BatchLimits(inline_bytes=1, max_items=max(1, -(-args.n // 4))),
                "split in 4",
            ),
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    text = report(rows, args.n, args.dims)
    (args.out / "BATCH.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
