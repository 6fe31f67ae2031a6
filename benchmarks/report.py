"""Numbers -> RESULTS.md and throughput.png: metrics per run, target checks, profile summary."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "ge2",
    "google-genai",
    "httpx",
    "pydantic",
    "numpy",
    "langchain-core",
    "langchain-google-genai",
    "llama-index-core",
    "llama-index-embeddings-google-genai",
    "haystack-ai",
    "google-genai-haystack",
    "chromadb",
    "matplotlib",
)

LABELS = {
    "ge2-core-auto": "ge2 core, no quota= (defaults only)",
    "ge2-core": "ge2 core (Embedder.embed)",
    "ge2-core-async": "ge2 core (Embedder.aembed)",
    "ge2-langchain": "ge2 LangChain (GE2Embeddings)",
    "ge2-llamaindex": "ge2 LlamaIndex (GE2Embedding)",
    "ge2-haystack": "ge2 Haystack (GE2Document[Image]Embedder)",
    "ge2-chroma": "ge2 Chroma (GE2EmbeddingFunction)",
    "langchain-google-genai": "LangChain GoogleGenerativeAIEmbeddings",
    "llamaindex-google-genai": "LlamaIndex GoogleGenAIEmbedding",
    "google-genai-haystack": "Haystack GoogleGenAI[Multimodal]DocumentEmbedder",
    "google-genai-loop": "plain google-genai loop",
}

# Targets from issue 9.
TARGET_CEILING = 0.85
TARGET_429 = 0.05
TARGET_SPEEDUP = 5.0
TARGET_OVERHEAD = 1.5

# Targets from issue 18 (pacing): with no quota= and with quota= given.
PACING_TARGETS = {
    "auto_job": 0.90,
    "auto_429": 0.03,
    "auto_warnings": 5,
    "quota_job": 0.95,
    "quota_429": 0.01,
    "cpu_ratio": 1.12,
}
QUOTA_TITLES = {
    "request": "quota counted per HTTP request",
    "input": "quota counted per embedded input (as the Gemini API does)",
}


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, Python, OS, package versions, git commit, date."""
    ram = None
    model = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def metrics(run: dict[str, Any], profile: Any) -> dict[str, Any]:
    """Items/s, requests, 429s, retries, lost items and the ratios to the quota ceiling."""
    r, e = run["result"], run.get("emulator") or {}
    quota = run.get("quota", "request")
    m: dict[str, Any] = {
        "runner": run["runner"],
        "corpus": run["corpus"],
        "quota": quota,
        "available": bool(r.get("available")),
        "reason": r.get("reason"),
        "error": r.get("error"),
        "note": r.get("note") or "",
        "inputs": r.get("inputs"),
    }
    if not m["available"]:
        return m
    seconds = r.get("seconds")
    valid = r.get("valid") or 0
    ok = int((e.get("status_codes") or {}).get("200", 0))
    requests = int(e.get("requests", 0))
    limited = int(e.get("rate_limited", 0))
    usage = r.get("usage")
    if usage is not None:
        retries = int(usage.get("retries", 0))
    else:  # a peer: every failed call it re-sent is a retry (the last one, if it crashed, was not)
        retries = max(0, requests - ok - (1 if r.get("error") else 0))
    per_request = e.get("items", 0) / ok if ok else 0.0
    n = r.get("inputs") or 0
    call_s = (profile.latency_ms + per_request * profile.item_latency_ms) / 1000
    if quota == "input":
        # Inputs are what is counted: batching does not raise the ceiling.
        ceiling = profile.inputs_per_s
        fastest = max(0.0, n - per_request) / profile.inputs_per_s + call_s
    else:
        ceiling = per_request * profile.requests_per_s
        calls = math.ceil(n / per_request) if per_request else 0
        fastest = max(0, calls - 1) / profile.requests_per_s + call_s
    job_bound = n / fastest if per_request else 0.0
    rate = valid / seconds if seconds else 0.0
    m.update(
        seconds=seconds,
        items_per_s=rate,
        requests=requests,
        rate_limited=limited,
        share_429=limited / requests if requests else 0.0,
        retries=retries,
        lost=r.get("lost"),
        returned=r.get("returned"),
        distinct=r.get("distinct"),
        items_per_request=per_request,
        ceiling=ceiling,
        ratio_ceiling=rate / ceiling if ceiling else 0.0,
        job_bound=job_bound,
        ratio_job=rate / job_bound if job_bound else 0.0,
        client_cpu=(r.get("client_cpu_s") or 0) / seconds if seconds else None,
        emulator_cpu=(run.get("emulator_cpu_s") or 0) / seconds
        if seconds and run.get("emulator_cpu_s") is not None
        else None,
        bytes_out=e.get("bytes_out"),
        warnings=r.get("warnings"),
        learned_rate=(usage or {}).get("learned_rate"),
    )
    if valid and (r.get("distinct") or 0) < valid:
        m["note"] = (m["note"] + "; " if m["note"] else "") + (
            f"only {r['distinct']} distinct vectors for {valid} inputs"
        )
    return m


_WAITS = ("acquire", "poll", "select", "sleep", "wait", "<method 'recv", "'_thread.lock'")
_CATEGORIES = (
    ("waiting (I/O, locks; not CPU)", _WAITS),
    ("pydantic (SDK model validation)", ("pydantic",)),
    ("google-genai SDK (request building, response conversion)", ("google/genai",)),
    ("JSON encode/decode", ("json", "_json")),
    ("base64", ("base64", "b64")),
    ("HTTP stack (httpx, httpcore, h11, ssl, socket)", ("httpx", "httpcore", "h11", "ssl", "sock")),
    ("numpy (normalising, conversion)", ("numpy", "ndarray", "tolist")),
    ("ge2 core", ("/core/", "ge2/")),
    ("threading / concurrent.futures", ("threading", "concurrent")),
)


def _category(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, needles in _CATEGORIES:
        if any(n in where for n in needles):
            return label
    return "other"


def profile_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Own time by category and the top functions, from merged cProfile stats."""
    import pstats

    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_cat: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        cat = _category(filename, name)
        by_cat[cat] = by_cat.get(cat, 0.0) + tottime
        short = filename
        for marker in ("site-packages/", "/lib/python3"):
            if marker in short:
                short = short.split(marker, 1)[1]
        if "/core/" in short:
            short = "ge2/" + short.split("/core/", 1)[1]
        rows.append(
            {
                "function": f"{short}:{line}({name})" if line else name,
                "calls": ncalls,
                "tottime": tottime,
                "cumtime": cumtime,
                "category": cat,
            }
        )
    cpu_rows = [r for r in rows if not r["category"].startswith("waiting")]
    cpu_rows.sort(key=lambda r: r["tottime"], reverse=True)
    cpu_total = sum(v for k, v in by_cat.items() if not k.startswith("waiting"))
    return {"categories": by_cat, "cpu_total": cpu_total, "top": cpu_rows[:top]}


# -- chart -------------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> Path | None:
    """Items/s per runner and corpus against the quota ceiling; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [m for m in results["throughput"] if m.get("available")]
    corpora = [
        (q, c)
        for q in ("request", "input")
        for c in ("text", "images")
        if any(m["corpus"] == c and m.get("quota", "request") == q for m in rows)
    ]
    if not corpora:
        return None
    heights = [
        sum(1 for m in rows if m["corpus"] == c and m.get("quota", "request") == q)
        for q, c in corpora
    ]
    fig, axes = plt.subplots(
        len(corpora),
        1,
        figsize=(10, 1.0 + 0.42 * sum(heights) + 1.1 * len(corpora)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    p = results["profile"]
    for ax, (q, c) in zip(axes[:, 0], corpora, strict=True):
        group = [m for m in rows if m["corpus"] == c and m.get("quota", "request") == q]
        group.sort(key=lambda m: (not m["runner"].startswith("ge2-"), -m["items_per_s"]))
        names = [LABELS.get(m["runner"], m["runner"]) for m in group][::-1]
        values = [m["items_per_s"] for m in group][::-1]
        colors = ["#1a73e8" if m["runner"].startswith("ge2-") else "#9aa0a6" for m in group][::-1]
        bars = ax.barh(names, values, color=colors)
        for bar, m in zip(bars, group[::-1], strict=True):
            flag = ""
            if m.get("lost"):
                flag = f"  ({m['lost']} lost)"
            if m.get("error"):
                flag += "  (crashed)"
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {m['items_per_s']:.0f}{flag}",
                va="center",
                fontsize=8,
            )
        ceiling = max((m["ceiling"] for m in group if m["runner"].startswith("ge2-")), default=0)
        if ceiling:
            ax.axvline(ceiling, color="#d93025", linestyle="--", linewidth=1)
            ax.text(ceiling, len(group) - 0.4, " quota ceiling", color="#d93025", fontsize=8)
        bound = max((m["job_bound"] for m in group if m["runner"].startswith("ge2-")), default=0)
        if bound and ceiling and bound < 0.8 * ceiling:
            ax.axvline(bound, color="#f29900", linestyle=":", linewidth=1)
            ax.text(bound, -0.9, " best possible for this job", color="#f29900", fontsize=8)
        n = group[0]["inputs"]
        ax.set_title(f"{c}: {n} items; {QUOTA_TITLES[q]}", fontsize=10, loc="left")
        ax.set_xlabel("items per second (higher is better)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, max([*values, ceiling]) * 1.18)
    fig.suptitle(
        f"Throughput against a quota of {p['rate_limit']} requests or "
        f"{p.get('input_rate_limit', '?')} inputs per {p['rate_window_s']:g} s, "
        f"{p['latency_ms']:.0f} ms + {p['item_latency_ms']:g} ms/item latency (ge2 emulator)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- markdown ----------------------------------------------------------------------------------


def _f(value: Any, fmt: str = "{:.0f}", missing: str = "–") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return fmt.format(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| runner | items/s | of quota ceiling | of best possible for this job | requests | "
        "429s | retries | lost items | WARNING lines | seconds | client CPU | emulator CPU | "
        "notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in rows:
        label = LABELS.get(m["runner"], m["runner"])
        if not m["available"]:
            out.append(f"| {label} | not available | | | | | | | | | | | {m.get('reason', '')} |")
            continue
        note = m["note"]
        if m.get("error"):
            note = (note + "; " if note else "") + f"**crashed**: {m['error'][:160]}"
        out.append(
            f"| {label} | {_f(m['items_per_s'])} | {_f(m['ratio_ceiling'] * 100, '{:.0f}%')} | "
            f"{_f(m['ratio_job'] * 100, '{:.0f}%')} | {m['requests']} | {m['rate_limited']} | "
            f"{m['retries']} | {_f(m['lost'])} | {_f(m.get('warnings'))} | "
            f"{_f(m['seconds'], '{:.1f}')} | "
            f"{_f(m['client_cpu'] and m['client_cpu'] * 100, '{:.0f}%')} | "
            f"{_f(m['emulator_cpu'] and m['emulator_cpu'] * 100, '{:.0f}%')} | "
            f"{note.replace('|', '/')} |"
        )
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, met or missed, with the measured value."""
    out: list[dict[str, Any]] = []
    rows = [m for m in results["throughput"] if m["available"] and _kind(m) == "request"]
    by = {(m["runner"], m["corpus"]): m for m in rows}
    for m in rows:
        if not m["runner"].startswith("ge2-") or m["runner"] == "ge2-core-auto":
            continue
        name = f"{LABELS[m['runner']]}, {m['corpus']}"
        clean = not m.get("error") and not m.get("lost")
        out.append(
            {
                "target": f"{name}: ≥ {TARGET_CEILING:.0%} of quota ceiling",
                "value": f"{m['ratio_ceiling']:.0%} ({m['ratio_job']:.0%} of best possible)",
                "met": m["ratio_ceiling"] >= TARGET_CEILING,
            }
        )
        out.append(
            {
                "target": f"{name}: zero lost items, 429s < {TARGET_429:.0%} of requests",
                "value": f"lost {m['lost']}, 429s {m['rate_limited']}/{m['requests']} "
                f"({m['share_429']:.0%})",
                "met": clean and m["share_429"] < TARGET_429,
            }
        )
    for ours, theirs in results["pairs"].items():
        if ours == "ge2-core":
            continue
        a, b = by.get((ours, "text")), by.get((theirs, "text"))
        if a is None or b is None or not b.get("items_per_s"):
            out.append(
                {
                    "target": f"{LABELS[ours]} ≥ {TARGET_SPEEDUP:g}x {LABELS[theirs]} (text)",
                    "value": "not measured (one side not available)",
                    "met": None,
                }
            )
            continue
        speed = a["items_per_s"] / b["items_per_s"]
        out.append(
            {
                "target": f"{LABELS[ours]} ≥ {TARGET_SPEEDUP:g}x {LABELS[theirs]} (text)",
                "value": f"{speed:.1f}x ({a['items_per_s']:.0f} vs {b['items_per_s']:.0f} items/s)",
                "met": speed >= TARGET_SPEEDUP,
            }
        )
    s = results["overhead"]["summary"]
    ratio = s.get("ratio_cpu_us_per_item")
    out.append(
        {
            "target": f"client CPU per text item ≤ {TARGET_OVERHEAD:g}x the plain SDK loop",
            "value": f"{ratio:.2f}x" if ratio else "not measured",
            "met": ratio is not None and ratio <= TARGET_OVERHEAD,
        }
    )
    mem = results["memory"]["result"]
    bound = results["profile"]["memory_bound_mb"]
    peak = mem.get("rss_peak_mb")
    out.append(
        {
            "target": f"peak RSS (images + long video through the core) ≤ {bound:.0f} MB",
            "value": f"{peak:.0f} MB" if peak else "not measured",
            "met": bool(peak) and peak <= bound and not mem.get("lost"),
        }
    )
    return out


def pacing_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's targets on the text corpus under both quota kinds, met or missed."""
    t = PACING_TARGETS
    out: list[dict[str, Any]] = []
    for m in results["throughput"]:
        if not m.get("available") or m["corpus"] != "text" or not m["runner"].startswith("ge2-"):
            continue
        kind = QUOTA_TITLES[m.get("quota", "request")].split(" (")[0]
        name = f"{LABELS[m['runner']]}, {kind}"
        clean = not m.get("error") and not m.get("lost")
        if m["runner"] == "ge2-core-auto":
            out.append(
                {
                    "target": f"{name}: ≥ {t['auto_job']:.0%} of best possible, 429s ≤ "
                    f"{t['auto_429']:.0%} of calls, 0 lost, ≤ {t['auto_warnings']} WARNING lines",
                    "value": f"{m['ratio_job']:.0%} ({m['items_per_s']:.0f} items/s), 429s "
                    f"{m['rate_limited']}/{m['requests']} ({m['share_429']:.1%}), lost "
                    f"{m['lost']}, {m.get('warnings')} WARNING lines"
                    + (
                        f", learned {m['learned_rate']:.0f} inputs/s"
                        if m.get("learned_rate")
                        else ""
                    ),
                    "met": clean
                    and m["ratio_job"] >= t["auto_job"]
                    and m["share_429"] <= t["auto_429"]
                    and (m.get("warnings") or 0) <= t["auto_warnings"],
                }
            )
        else:
            out.append(
                {
                    "target": f"{name} (quota= given): ≥ {t['quota_job']:.0%} of best possible, "
                    f"429s ≤ {t['quota_429']:.0%}, 0 lost",
                    "value": f"{m['ratio_job']:.0%} ({m['items_per_s']:.0f} items/s), 429s "
                    f"{m['rate_limited']}/{m['requests']} ({m['share_429']:.1%}), lost {m['lost']}",
                    "met": clean
                    and m["ratio_job"] >= t["quota_job"]
                    and m["share_429"] <= t["quota_429"],
                }
            )
    ratio = results["overhead"]["summary"].get("ratio_cpu_us_per_item")
    out.append(
        {
            "target": f"client CPU per item ≤ {t['cpu_ratio']:.2f}x the plain SDK loop (as before)",
            "value": f"{ratio:.2f}x" if ratio else "not measured",
            "met": ratio is not None and ratio <= t["cpu_ratio"],
        }
    )
    return out


def _kind(m: dict[str, Any]) -> str:
    return str(m.get("quota", "request"))


def markdown(results: dict[str, Any], chart_path: Path | None) -> str:
    mach, p = results["machine"], results["profile"]
    input_rpm = p.get("input_rate_limit", 0) * 60 / p["rate_window_s"]
    rows = results["throughput"]
    rps = p["rate_limit"] / p["rate_window_s"]
    per_call_s = (p["latency_ms"] + p["batch"] * p["item_latency_ms"]) / 1000
    lines = [
        "# ge2 benchmark results"
        + (" (smoke run: small corpus, not representative)" if results["smoke"] else ""),
        "",
        f"Produced by `python -m benchmarks.run{' --smoke' if results['smoke'] else ''}` "
        f"(`make bench`) on {mach['date']} at commit `{mach['commit'] or '?'}`; the run took "
        f"{results['duration_s']:.0f} s. Raw numbers: `results.json`. Every row ran in its own "
        "process against one emulator process (real google-genai SDK, real HTTP).",
        "",
    ]
    if chart_path:
        lines += [f"![throughput]({chart_path.name})", ""]
    la = results["load_average"]
    lines += [
        "## Machine",
        "",
        f"- {mach['cores']} cores ({mach['cpu']}), {mach['ram_gb']} GB RAM, Python "
        f"{mach['python']}, {mach['platform']}",
        f"- load average (1 min) before the run {la['before'][0]:.2f}, after {la['after'][0]:.2f}"
        " (other processes on the machine compete for the same cores)",
        "- packages: "
        + ", ".join(f"{k} {v}" for k, v in mach["versions"].items() if v is not None),
        "- not installed: "
        + (", ".join(k for k, v in mach["versions"].items() if v is None) or "none"),
        "",
        "## Profile",
        "",
        f"- emulator (`python -m ge2.emulator`, its own process): {p['latency_ms']:.0f} ms per "
        f"request + {p['item_latency_ms']:g} ms per item; two quota profiles, each a "
        f"{p['rate_window_s']:g} s sliding window answering 429 RESOURCE_EXHAUSTED with RetryInfo "
        f"and QuotaFailure beyond it: {p['rate_limit']} HTTP requests per window (batching "
        f"helps), and {p.get('input_rate_limit', '?')} embedded inputs per window (as the "
        "Gemini API counts: batching does not raise the ceiling)",
        f"- corpus: {p['texts']} generated text chunks of 50-100 words (the per-input profile "
        f"uses the first {p.get('input_texts', p['texts'])}: at its ceiling 10,000 would take "
        f"{p['texts'] / max(1, p.get('input_rate_limit', 1)):.0f} s per runner); "
        f"{p['images']} PNGs "
        f"(64x64); a {p['video_seconds'] / 60:.0f}-minute 160x120 1 fps video for the memory run",
        f"- every runner asks for {p['dims']} dimensions (peers through `output_dimensionality`)",
        f'- ge2 paths: `quota=ge2.Quota(requests_per_minute={p["rpm"]:.0f}, per="request")` '
        "(per-request profile) or "
        f"`quota=ge2.Quota(requests_per_minute={input_rpm:.0f}, "
        'per="input")` (per-input profile), '
        f"`max_concurrency={p['concurrency']}`, `batch_size={p['batch']}`; "
        "**ge2 core, no quota=** gets no option at all beyond the model and output size (the "
        "default users get: the limit is learned from the server); peers run with their "
        "defaults plus the base URL, key, model and output size",
        f"- quota ceiling = items per request × {rps:g} allowed requests/s "
        f"({p['batch'] * rps:.0f} items/s at {p['batch']} per request). *Best possible for this "
        "job* also counts the one call latency no client can hide: N / ((calls − 1) / rate + "
        "latency of one call).",
        "",
    ]
    for quota in ("request", "input"):
        for corpus_name, title in (("text", "Text corpus"), ("images", "Image corpus")):
            group = [
                m for m in rows if m["corpus"] == corpus_name and m.get("quota", "request") == quota
            ]
            if not group:
                continue
            n = next((m["inputs"] for m in group if m.get("inputs")), "?")
            lines += [f"## {title} ({n} items), {QUOTA_TITLES[quota]}", "", *_table(group), ""]
    text_only = [LABELS[r] for r in ("langchain-google-genai", "llamaindex-google-genai")]
    lines += [
        f"{' and '.join(text_only)} embed text only, so they have no image row; the Haystack "
        "peer's image row is `GoogleGenAIMultimodalDocumentEmbedder` with file paths in meta.",
        "",
    ]
    # adapters vs frameworks
    by = {
        (m["runner"], m["corpus"]): m
        for m in rows
        if m["available"] and m.get("quota", "request") == "request"
    }
    lines += [
        "## ge2 adapters vs the frameworks' Google integrations (text, per-request quota)",
        "",
    ]
    lines += ["| ge2 | framework's own | speed-up |", "|---|---|---:|"]
    for ours, theirs in results["pairs"].items():
        a, b = by.get((ours, "text")), by.get((theirs, "text"))
        speed = (
            f"{a['items_per_s'] / b['items_per_s']:.1f}x"
            if a and b and b.get("items_per_s")
            else "n/a"
        )
        lines.append(f"| {LABELS[ours]} | {LABELS[theirs]} | {speed} |")
    seq_bound = rps * per_call_s
    lines += [
        "",
        f"A sequential client waits one call (≥ {per_call_s * 1000:.0f} ms here) per batch of "
        f"{p['batch']}, so it can never exceed {p['batch'] / per_call_s:.0f} items/s; a client "
        f"paced to the quota reaches {p['batch'] * rps:.0f}. The largest possible speed-up on "
        f"this profile is therefore {seq_bound:.1f}x (rate × call latency), and the peers' "
        "client and emulator CPU per call lowers their rate further.",
        "",
    ]
    # overhead
    over = results["overhead"]
    s = over["summary"]
    d = p["dims"]
    lines += [
        "## Client overhead (emulator at zero latency, no quota)",
        "",
        f"Same {p['texts']} texts, batches of {p['batch']}, one call at a time "
        f"(ge2 `max_concurrency=1`), after a warm-up batch; median of "
        f"{p['overhead_repeats']} runs at {d} dimensions. Client CPU is the worker process's "
        "CPU time (all threads) during the embed call.",
        "",
        "| client | dims | client CPU µs/item | wall µs/item | emulator bytes out/item |",
        "|---|---:|---:|---:|---:|",
    ]
    for runner in ("ge2-core", "google-genai-loop"):
        for dims in (d, 3072):
            row = s.get(f"{runner}@{dims}") or {}
            lines.append(
                f"| {LABELS[runner]} | {dims} | {_f(row.get('cpu_us_per_item'))} | "
                f"{_f(row.get('wall_us_per_item'))} | {_f(row.get('bytes_out_per_item'))} |"
            )
    ratio_cpu, ratio_wall = s.get("ratio_cpu_us_per_item"), s.get("ratio_wall_us_per_item")
    lines += [
        "",
        f"ge2 / plain SDK at {d} dims: client CPU {_f(ratio_cpu, '{:.2f}x')}, wall "
        f"{_f(ratio_wall, '{:.2f}x')}.",
    ]
    b_small = (s.get(f"ge2-core@{d}") or {}).get("bytes_out_per_item")
    b_full = (s.get("ge2-core@3072") or {}).get("bytes_out_per_item")
    if b_small and b_full:
        c_small = (s.get(f"ge2-core@{d}") or {}).get("cpu_us_per_item")
        c_full = (s.get("ge2-core@3072") or {}).get("cpu_us_per_item")
        lines += [
            "",
            f"Bytes: a {d}-float vector costs {b_small / 1024:.1f} KB of response JSON per item, "
            f"a 3072-float one {b_full / 1024:.1f} KB ({b_full / b_small:.1f}x), and client CPU "
            f"per item goes from {_f(c_small)} to {_f(c_full)} µs: ask for the size you need "
            "(ge2 asks once for the largest size requested and hands out smaller ones as "
            "re-normalised prefixes).",
        ]
    prof = over.get("profile")
    if prof:
        total = prof["cpu_total"] or 1.0
        cats = sorted(
            ((k, v) for k, v in prof["categories"].items() if not k.startswith("waiting")),
            key=lambda kv: -kv[1],
        )
        lines += [
            "",
            "### Where ge2's client CPU goes (cProfile over all threads, own time)",
            "",
            "| category | share of CPU |",
            "|---|---:|",
            *[f"| {k} | {v / total:.0%} |" for k, v in cats],
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---:|---:|---:|",
            *[
                f"| `{r['function']}` | {r['calls']} | {r['tottime']:.3f} | {r['cumtime']:.3f} |"
                for r in prof["top"]
            ],
            "",
            "(cProfile slows Python code down, so shares matter more than absolute seconds.)",
        ]
    # memory
    mem = results["memory"]["result"]
    lines += [
        "",
        "## Memory",
        "",
    ]
    if mem.get("available"):
        usage = mem.get("usage") or {}
        lines += [
            f"Peak RSS of a process embedding {p['images']} images and a "
            f"{p['video_seconds'] / 60:.0f}-minute video through the core "
            f"(`resource.getrusage`, whole process): **{mem['rss_peak_mb']:.0f} MB** "
            f"({mem['rss_before_mb']:.0f} MB after imports and set-up, before embedding); "
            f"bound set at {p['memory_bound_mb']:.0f} MB. {usage.get('requests', '?')} requests, "
            f"{usage.get('items', '?')} embedded items (the video is split into pieces), "
            f"lost {mem.get('lost')}. Media bytes are read only when their request is built, "
            "and a video is cut into pieces one at a time, so memory grows with the batch "
            "being sent, not with the corpus.",
        ]
    else:
        lines.append(f"not measured: {mem.get('reason')}")
    # targets
    lines += [
        "",
        "## Targets (issue 18: pacing, same run)",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for t in pacing_targets(results):
        mark = "met" if t["met"] else ("n/a" if t["met"] is None else "**missed**")
        lines.append(f"| {t['target']} | {t['value']} | {mark} |")
    lines += ["", "## Targets (issue 9)", "", "| target | measured | |", "|---|---|---|"]
    for t in targets(results):
        mark = "met" if t["met"] else ("n/a" if t["met"] is None else "**missed**")
        lines.append(f"| {t['target']} | {t['value']} | {mark} |")
    lines += ["", *notes(results), ""]
    return "\n".join(lines)


def notes(results: dict[str, Any]) -> list[str]:
    """Plain-language reasons for what was missed, computed from the numbers."""
    p = results["profile"]
    rps = p["rate_limit"] / p["rate_window_s"]
    out = ["## Notes", ""]
    rows = [m for m in results["throughput"] if m["available"] and _kind(m) == "request"]
    for m in rows:
        if not m["runner"].startswith("ge2-"):
            continue
        label = f"{LABELS[m['runner']]} ({m['corpus']})"
        calls = math.ceil(m["inputs"] / m["items_per_request"]) if m["items_per_request"] else 0
        call_ms = p["latency_ms"] + m["items_per_request"] * p["item_latency_ms"]
        reachable = m["job_bound"] / m["ceiling"] if m["ceiling"] else 0.0
        if m["ratio_ceiling"] < TARGET_CEILING and reachable < TARGET_CEILING:
            out.append(
                f"- {label}: {m['ratio_ceiling']:.0%} of the ceiling, {m['ratio_job']:.0%} of the "
                f"best possible: {m['inputs']} items are only {calls} calls, so one call's "
                f"latency ({call_ms:.0f} ms) dominates and no client can pass "
                f"{reachable:.0%} of the ceiling on this job."
            )
        elif m["ratio_ceiling"] < TARGET_CEILING:
            why = [
                f"the best possible is {reachable:.0%} of the ceiling ({calls} calls paced at "
                f"the quota plus one call's {call_ms:.0f} ms that no client can hide); ge2 paces "
                "2% under the quota so clock jitter does not cause 429s"
            ]
            if m["rate_limited"]:
                why.append(f"{m['rate_limited']} 429s each cost a re-queued call")
            for side in ("emulator", "client"):
                if (m[f"{side}_cpu"] or 0) > 0.7:
                    why.append(f"the {side} used {m[f'{side}_cpu']:.0%} of a core")
            if m["note"]:
                why.append(m["note"])
            out.append(
                f"- {label}: {m['ratio_ceiling']:.0%} of the ceiling, {m['ratio_job']:.0%} of "
                f"the best possible ({'; '.join(why)})."
            )
        if m["share_429"] >= TARGET_429:
            out.append(
                f"- {label}: {m['rate_limited']} 429s in {m['requests']} requests"
                + (f" ({m['note']})" if m["note"] else "")
                + "."
            )
    for m in rows:
        if m["runner"].startswith("ge2-"):
            continue
        if m.get("error") or m.get("lost"):
            out.append(
                f"- {LABELS[m['runner']]} ({m['corpus']}): lost {m['lost']} of {m['inputs']} items"
                + (f"; crashed with `{m['error'][:120]}`" if m.get("error") else "")
                + "."
            )
    out.append(
        "- Between a ge2 run and the best possible for the job: all inputs are checked and "
        "planned before the first call (about 0.1 s for 5,000 texts), the 5,000 vectors are "
        "turned back into Python lists after the last call (`tolist` in the profile above), "
        "and the last calls' own latency varies with the CPU the client and emulator share. "
        "Starting to send while the rest is still being planned would recover part of it."
    )
    out.append(
        f"- The quota is counted per HTTP request here ({rps:g}/s) so that batching matters; "
        "the Gemini API counts each embedded input, which ge2 paces with "
        '`Quota(..., per="input")` (the default).'
    )
    return out
