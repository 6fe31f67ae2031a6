"""The emulator in its own process (its CPU must not share the clients' GIL), driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (psutil, else /proc; None if neither)."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except ImportError:
        pass
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class EmulatorProcess:
    """``python -m ge2.emulator`` started with a latency/quota profile, stopped on exit."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> EmulatorProcess:
        args = [sys.executable, "-m", "ge2.emulator", "--port", "0"]
        for name, value in self.options.items():
            if value is not None:
                args += ["--" + name.replace("_", "-"), str(value)]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self.url = line.rsplit(" ", 1)[1].strip()
                return self
        self.__exit__()
        raise RuntimeError("the emulator process did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.communicate(timeout=10)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def configure(self, **options: Any) -> None:
        self._call("POST", "/emulator/config", options)

    def reset(self) -> None:
        """Zero the counters and forget quota usage, so each run starts from a clean window."""
        self._call("POST", "/emulator/reset", {})

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/emulator/stats")
        stats.pop("request_log", None)
        return stats

    def cpu(self) -> float | None:
        return cpu_seconds(self.pid)
