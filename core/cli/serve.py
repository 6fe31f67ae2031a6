"""``ge2 serve``: the result page and JSON API over a store, on uvicorn (read-only)."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from ._common import EXIT_OK, EXIT_USAGE, Fail, use_backend

DEFAULT_PORT = 8765


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_store(
    store_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    public: bool = False,
    offline: bool = False,
    backend_ready: bool = False,
    open_browser: bool = False,
) -> int:
    """Serve ``store_dir`` until interrupted. A non-loopback host needs a token (or
    ``public=True``, saying you mean it)."""
    if not _loopback(host) and not token and not public:
        raise Fail(
            f"ge2: --host {host} makes the page reachable from other machines; add "
            "--token SECRET (every request must carry it), or --public if you mean it",
            EXIT_USAGE,
        )
    try:
        import uvicorn

        from ge2.serve import create_app
    except ImportError as exc:
        raise Fail(f'ge2: ge2 serve needs its extra: pip install "ge2[serve]" ({exc})') from exc
    from ge2.store import Store, StoreError

    config = Store.read_config(store_dir)
    if config is None:
        raise Fail(
            f"ge2: {store_dir} is not a ge2 store; build one with `ge2 index PATH --store "
            f"{store_dir}`",
            EXIT_USAGE,
        )
    if not backend_ready:
        use_backend(config.offline or offline, "queries")
    try:
        store = Store.open(store_dir, create=False, writable=False)
    except StoreError as exc:
        raise Fail(f"ge2: {exc}") from exc
    embedder = store.embedder()
    app = create_app(store, embedder, token=token)
    address = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    shown = address + (f"?token={token}" if token else "")
    print(f"ge2 serve: {store_dir} at {shown}  (Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(shown)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", backlog=512)
    finally:
        embedder.close()
        store.close()
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="DIR", help="the store to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--token", help="require this token on every request (needed off loopback)")
    p.add_argument(
        "--public", action="store_true", help="allow a non-loopback --host without a token"
    )
    p.add_argument("--offline", action="store_true", help="embed queries with the emulator")
    p.add_argument("--open", action="store_true", help="open the page in a browser")


def command(args: argparse.Namespace) -> int:
    return serve_store(
        Path(args.store),
        host=args.host,
        port=args.port,
        token=args.token,
        public=args.public,
        offline=args.offline,
        open_browser=args.open,
    )
