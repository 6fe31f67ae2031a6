"""``ge2 emulator`` / ``python -m ge2.emulator``: run the emulator in the foreground.

The main ``ge2`` CLI calls ``add_arguments`` and ``run``; nothing here parses sys.argv.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from ge2 import limits

from .config import FAULT_STATUSES
from .server import Emulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options as command-line flags (same names as ``EmulatorConfig``)."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (0 picks a free one)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable); default: any non-empty key",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sleep per request")
    parser.add_argument("--item-latency-ms", type=float, default=0.0, help="sleep per input")
    parser.add_argument("--rate-limit", type=int, default=None, help="quota per window (429)")
    parser.add_argument("--rate-window-s", type=float, default=60.0, help="quota window seconds")
    parser.add_argument(
        "--rate-limit-unit",
        choices=("request", "item"),
        default="item",
        help="count quota per HTTP request or per embedded input (the API counts inputs)",
    )
    parser.add_argument("--daily-limit", type=int, default=None, help="per-day quota (429)")
    parser.add_argument("--fail-every", type=int, default=None, help="every Nth request fails")
    parser.add_argument(
        "--fail-status", type=int, default=503, choices=sorted(FAULT_STATUSES), help="5xx to send"
    )
    parser.add_argument("--drop-every", type=int, default=None, help="every Nth: drop connection")
    parser.add_argument(
        "--max-request-bytes", type=int, default=limits.MAX_REQUEST_BYTES, help="body size cap"
    )
    parser.add_argument(
        "--max-audio-seconds",
        type=float,
        default=limits.MAX_AUDIO_SECONDS,
        help="audio cap (Vertex GA 180; the cookbook and preview say 80)",
    )
    parser.add_argument(
        "--batch-delay-s", type=float, default=0.0, help="Batch API: seconds until a job ends"
    )
    parser.add_argument(
        "--batch-outcome",
        choices=("succeeded", "failed", "expired"),
        default="succeeded",
        help="Batch API: how jobs end",
    )
    parser.add_argument(
        "--batch-item-fail-every", type=int, default=None, help="Batch API: every Nth item fails"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        "api_keys",
        "latency_ms",
        "item_latency_ms",
        "rate_limit",
        "rate_window_s",
        "rate_limit_unit",
        "daily_limit",
        "fail_every",
        "fail_status",
        "drop_every",
        "max_request_bytes",
        "max_audio_seconds",
        "batch_delay_s",
        "batch_outcome",
        "batch_item_fail_every",
        "verbose",
    )
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM), printing how to point the SDK at the emulator."""
    stop = threading.Event()
    emu = Emulator(host=args.host, port=args.port, **_options(args))
    emu.start()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main else None
    try:
        url = emu.url
        print(f"ge2 emulator listening on {url}")
        print("A stand-in for Gemini Embedding 2's semantics, not the model.")
        print("Point google-genai at it:")
        print(f"  export GOOGLE_GEMINI_BASE_URL={url}")
        print("  export GEMINI_API_KEY=test")
        print(f"  genai.Client(api_key='test', http_options=types.HttpOptions(base_url='{url}'))")
        print(f"Stats: {url}/emulator/stats   Config: POST {url}/emulator/config")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        final = emu.stats
        emu.stop()
    final.pop("request_log", None)
    print("\nstopped; stats: " + json.dumps(final, default=str), flush=True)
    return 0
