"""``python -m benchmarks.run [--smoke] [--out DIR]``: the whole benchmark, one command.

1. Throughput: the emulator runs in its own process with a realistic profile (500 ms per
   request, 1 ms per item, a quota of 10 requests per second answering 429 beyond it). Every
   runner (the ge2 core, each ge2 adapter, the frameworks' own Google integrations, a plain
   google-genai loop) embeds the same corpus in its own process; the emulator's counters
   say what each one sent.
2. Client overhead: the emulator at zero latency and no quota; client CPU per text item of
   the ge2 core vs the plain SDK loop (same batches of 100), a cProfile of the ge2 run, and
   the bytes per item at 768 vs 3072 dimensions.
3. Memory: peak RSS of a process embedding the images and a long video through the core.

Writes ``RESULTS.md``, ``results.json`` and (with matplotlib) ``throughput.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import corpus, report
from .emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent

GE2_RUNNERS = [
    "ge2-core-auto",
    "ge2-core",
    "ge2-core-async",
    "ge2-langchain",
    "ge2-llamaindex",
    "ge2-haystack",
    "ge2-chroma",
]
PEER_RUNNERS = [
    "langchain-google-genai",
    "llamaindex-google-genai",
    "google-genai-haystack",
    "google-genai-loop",
]
#: Each ge2 adapter against the same framework's Google integration (the 5x target).
PAIRS = {
    "ge2-langchain": "langchain-google-genai",
    "ge2-llamaindex": "llamaindex-google-genai",
    "ge2-haystack": "google-genai-haystack",
    "ge2-core": "google-genai-loop",
}


@dataclass
class Profile:
    """Corpus sizes and the emulator's latency/quota profile."""

    texts: int = 10000
    images: int = 300
    #: The per-input profile takes 1 s per 100 texts at its ceiling; its text run uses the
    #: first ``input_texts`` of the corpus so the whole benchmark finishes in reasonable time.
    input_texts: int = 3000
    input_rate_limit: int = 100  # inputs per window (counted per embedded input)
    video_seconds: float = 600.0
    latency_ms: float = 500.0
    item_latency_ms: float = 1.0
    rate_limit: int = 10  # requests per window (counted per HTTP request)
    rate_window_s: float = 1.0
    dims: int = 768
    batch: int = 100
    concurrency: int = 16  # enough in flight to fill 10 req/s at ~0.7 s per call, with room
    overhead_repeats: int = 3
    memory_bound_mb: float = 256.0
    timeout_s: float = 900.0

    @property
    def rpm(self) -> float:
        return self.rate_limit * 60.0 / self.rate_window_s

    @property
    def requests_per_s(self) -> float:
        return self.rate_limit / self.rate_window_s

    @property
    def inputs_per_s(self) -> float:
        return self.input_rate_limit / self.rate_window_s

    def quota_args(self, quota: str) -> tuple[float, str]:
        """``(per minute, per)`` of the ``quota=`` the ge2 paths are given on this profile."""
        if quota == "input":
            return self.inputs_per_s * 60.0, "input"
        return self.rpm, "request"


FULL = Profile()
SMOKE = Profile(
    texts=300,
    input_texts=300,
    input_rate_limit=400,
    images=20,
    video_seconds=130.0,
    latency_ms=20.0,
    item_latency_ms=0.0,
    rate_limit=20,
    concurrency=8,
    overhead_repeats=1,
    timeout_s=120.0,
)


@dataclass
class Run:
    """One worker run and what the emulator saw meanwhile."""

    runner: str
    corpus: str
    result: dict[str, Any]
    quota: str = "request"  # what the emulator's quota counted: "request" or "input"
    emulator: dict[str, Any] = field(default_factory=dict)
    emulator_cpu_s: float | None = None
    wall_s: float = 0.0


def _env(url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_", "VERTEX")) and k != "PYTHONPATH"
    }
    env.update(
        GEMINI_API_KEY="test",
        GOOGLE_GEMINI_BASE_URL=url,
        PYTHONPATH=str(ROOT),
        TOKENIZERS_PARALLELISM="false",
        ANONYMIZED_TELEMETRY="False",  # chromadb
        HAYSTACK_TELEMETRY_ENABLED="False",
    )
    return env


def _readline(proc: subprocess.Popen[str], deadline: float) -> str | None:
    assert proc.stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if ready:
            line = proc.stdout.readline()
            return line if line else ""


def run_worker(
    emu: EmulatorProcess,
    runner: str,
    corpus_name: str,
    manifest: Path,
    profile: Profile,
    *,
    rpm: float | None,
    concurrency: int,
    dims: int | None = None,
    profile_path: Path | None = None,
    warmup: int = 1,
    per: str = "request",
    limit: int | None = None,
) -> Run:
    """Start a worker, zero the emulator when it is ready, time one embed, collect counters."""
    args = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        runner,
        corpus_name,
        "--manifest",
        str(manifest),
        "--url",
        emu.url,
        "--dims",
        str(dims or profile.dims),
        "--concurrency",
        str(concurrency),
    ]
    if rpm:
        args += ["--rpm", str(rpm), "--per", per]
    if limit:
        args += ["--limit", str(limit)]
    if profile_path:
        args += ["--profile", str(profile_path)]
    args += ["--warmup", str(warmup)]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=_env(emu.url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        deadline = time.monotonic() + profile.timeout_s
        run = Run(runner, corpus_name, {})
        cpu0 = None
        started = 0.0
        try:
            while True:
                line = _readline(proc, deadline)
                if line is None:
                    raise TimeoutError(f"no answer within {profile.timeout_s:.0f}s")
                if line == "":
                    raise RuntimeError("the worker exited without a result")
                if line.startswith("READY"):
                    emu.reset()
                    cpu0 = emu.cpu()
                    started = time.monotonic()
                    assert proc.stdin is not None
                    proc.stdin.write("GO\n")
                    proc.stdin.flush()
                elif line.startswith("RESULT "):
                    run.wall_s = time.monotonic() - started if started else 0.0
                    run.result = json.loads(line[7:])
                    break
        except (TimeoutError, RuntimeError) as exc:
            proc.kill()
            err.seek(0)
            tail = err.read()[-600:].strip()
            run.result = {
                "runner": runner,
                "corpus": corpus_name,
                "available": started > 0,
                "reason": f"{exc}; stderr: {tail}",
                "error": f"{exc}",
                "seconds": None,
                "returned": 0,
                "valid": 0,
                "lost": None,
            }
        finally:
            if proc.poll() is None:
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
    if started:
        run.emulator = emu.stats()
        cpu1 = emu.cpu()
        if cpu0 is not None and cpu1 is not None:
            run.emulator_cpu_s = cpu1 - cpu0
    return run


def _status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _line(run: Run) -> str:
    r = run.result
    if not r.get("available"):
        return f"  {run.runner:<26} not available: {r.get('reason', '')[:100]}"
    rate = (r.get("valid") or 0) / r["seconds"] if r.get("seconds") else 0.0
    err = f"  ERROR {r['error'][:80]}" if r.get("error") else ""
    return (
        f"  {run.runner:<26} {rate:8.1f} items/s  {r.get('seconds') or 0:6.2f}s  "
        f"requests={run.emulator.get('requests')} 429={run.emulator.get('rate_limited')} "
        f"lost={r.get('lost')} warnings={r.get('warnings')}{err}"
    )


def warm(emu: EmulatorProcess, manifest: Path, profile: Profile) -> None:
    """Embed the corpus once, untimed, so no runner pays the emulator's first-sight costs.

    The emulator caches one direction per word; whichever runner went first would otherwise
    pay for computing the whole vocabulary.
    """
    import ge2

    emu.configure(latency_ms=0, item_latency_ms=0, rate_limit=None)
    data = json.loads(manifest.read_text())
    emb = ge2.Embedder(
        dimensions=profile.dims, base_url=emu.url, api_key="test", max_concurrency=4, progress=False
    )
    emb.embed(json.loads(Path(data["texts"]).read_text()))
    emb.embed([ge2.Image(p) for p in data["images"]])
    emu.configure(
        latency_ms=emu.options.get("latency_ms", 0),
        item_latency_ms=emu.options.get("item_latency_ms", 0),
        rate_limit=emu.options.get("rate_limit"),
    )
    emu.reset()


#: In a smoke run the per-input profile and the image corpus check these only (the full
#: run does every runner; the adapters' image paths have their own e2e tests).
SMOKE_INPUT_RUNNERS = ["ge2-core-auto", "ge2-core", "google-genai-loop"]


def throughput(work: Path, manifest: Path, profile: Profile, smoke: bool = False) -> list[Run]:
    """Every runner under both quota kinds: per HTTP request, and per embedded input (the
    Gemini API's own way). ge2 paths are given the matching ``quota=`` except
    ``ge2-core-auto``, which gets no option at all (the default users get)."""
    runs: list[Run] = []
    for quota in ("request", "input"):
        limit = profile.rate_limit if quota == "request" else profile.input_rate_limit
        with EmulatorProcess(
            latency_ms=profile.latency_ms,
            item_latency_ms=profile.item_latency_ms,
            rate_limit=limit,
            rate_window_s=profile.rate_window_s,
            rate_limit_unit="request" if quota == "request" else "item",
        ) as emu:
            warm(emu, manifest, profile)
            rpm, per = profile.quota_args(quota)
            smoke_input = smoke and quota == "input"
            for corpus_name in ("text",) if smoke_input else ("text", "images"):
                _status(f"throughput: {corpus_name} corpus, quota per {quota}")
                few = smoke_input or (smoke and corpus_name == "images")
                for runner in SMOKE_INPUT_RUNNERS if few else GE2_RUNNERS + PEER_RUNNERS:
                    paced = runner.startswith("ge2-") and runner != "ge2-core-auto"
                    run = run_worker(
                        emu,
                        runner,
                        corpus_name,
                        manifest,
                        profile,
                        rpm=rpm if paced else None,
                        per=per,
                        concurrency=profile.concurrency,
                        limit=profile.input_texts
                        if quota == "input" and corpus_name == "text"
                        else None,
                    )
                    run.quota = quota
                    if run.result.get("available") or "embeds text only" not in run.result.get(
                        "reason", ""
                    ):
                        runs.append(run)
                    _status(_line(run))
    return runs


def overhead(work: Path, manifest: Path, profile: Profile) -> dict[str, Any]:
    """Client CPU per item, ge2 core vs the plain SDK loop, on a zero-latency emulator."""
    _status("client overhead: emulator at zero latency, no quota")
    out: dict[str, Any] = {"runs": {}}
    with EmulatorProcess() as emu:
        warm(emu, manifest, profile)
        for dims in (profile.dims, 3072):
            for runner in ("ge2-core", "google-genai-loop"):
                runs = []
                for _ in range(profile.overhead_repeats if dims == profile.dims else 1):
                    run = run_worker(
                        emu,
                        runner,
                        "text",
                        manifest,
                        profile,
                        rpm=None,
                        concurrency=1,
                        dims=dims,
                        warmup=profile.batch,
                    )
                    _status(_line(run) + f"  [{dims} dims]")
                    runs.append(run)
                out["runs"][f"{runner}@{dims}"] = [asdict(r) for r in runs]
        prof_path = work / "ge2-core.prof"
        run = run_worker(
            emu,
            "ge2-core",
            "text",
            manifest,
            profile,
            rpm=None,
            concurrency=1,
            profile_path=prof_path,
            warmup=profile.batch,
        )
        out["profile"] = report.profile_summary(prof_path) if prof_path.exists() else None
    out["summary"] = _overhead_summary(out["runs"], profile)
    return out


def _overhead_summary(runs: dict[str, list[dict[str, Any]]], profile: Profile) -> dict[str, Any]:
    def per_item(key: str, what: str) -> float | None:
        values = [
            r["result"][what] / r["result"]["valid"] * 1e6
            for r in runs.get(key, [])
            if r["result"].get("available") and r["result"].get("valid")
        ]
        return statistics.median(values) if values else None

    def bytes_per_item(key: str) -> float | None:
        for r in runs.get(key, []):
            items = r["emulator"].get("items")
            if items:
                return float(r["emulator"]["bytes_out"]) / items
        return None

    d = profile.dims
    summary: dict[str, Any] = {}
    for runner in ("ge2-core", "google-genai-loop"):
        for dims in (d, 3072):
            key = f"{runner}@{dims}"
            summary[key] = {
                "cpu_us_per_item": per_item(key, "client_cpu_s"),
                "wall_us_per_item": per_item(key, "seconds"),
                "bytes_out_per_item": bytes_per_item(key),
            }
    a, b = summary[f"ge2-core@{d}"], summary[f"google-genai-loop@{d}"]
    for what in ("cpu_us_per_item", "wall_us_per_item"):
        if a[what] and b[what]:
            summary[f"ratio_{what}"] = a[what] / b[what]
    return summary


def memory(manifest: Path, profile: Profile) -> Run:
    _status("memory: images + long video through the core")
    with EmulatorProcess() as emu:
        run = run_worker(
            emu, "memory", "memory", manifest, profile, rpm=None, concurrency=profile.concurrency
        )
    _status(_line(run) + f"  peak RSS {run.result.get('rss_peak_mb', 0):.0f} MB")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small corpus, short latency (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="results folder")
    parser.add_argument("--keep-work", action="store_true", help="keep the generated corpus")
    args = parser.parse_args(argv)
    profile = SMOKE if args.smoke else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ge2-bench-"))
    started = time.time()
    load_before = os.getloadavg()
    try:
        _status(
            f"corpus: {profile.texts} texts, {profile.images} images, "
            f"{profile.video_seconds:.0f} s video -> {work}"
        )
        corpus.write(work, profile.texts, profile.images, profile.video_seconds)
        manifest = work / "manifest.json"
        runs = throughput(work, manifest, profile, smoke=args.smoke)
        over = overhead(work, manifest, profile)
        mem = memory(manifest, profile)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    results = {
        "smoke": args.smoke,
        "profile": asdict(profile) | {"rpm": profile.rpm},
        "machine": report.machine(),
        "started": started,
        "duration_s": time.time() - started,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "throughput": [report.metrics(asdict(r), profile) for r in runs],
        "pacing_targets": report.PACING_TARGETS,
        "overhead": over,
        "memory": asdict(mem),
        "pairs": PAIRS,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    chart = report.chart(results, args.out / "throughput.png")
    (args.out / "RESULTS.md").write_text(report.markdown(results, chart))
    _status(f"wrote {args.out / 'RESULTS.md'}" + (f" and {chart.name}" if chart else ""))
    _status(f"done in {math.ceil(time.time() - started)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
