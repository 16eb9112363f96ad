"""A real service for the HTTP, WebSocket and memory sections: ``python -m service.cli`` on a free port of
127.0.0.1, started by the bench, ready when /readyz says so, stopped (SIGTERM, then SIGKILL) on exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    workers: int

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(workers: int, env: dict[str, str] | None = None, ready_timeout_s: float = 120) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "--port", str(port), "--workers", str(workers)],
                            cwd=ROOT, env={**os.environ, "FER_LOG_LEVEL": "warning", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, workers, ready_timeout_s)
        yield Server(url, proc.pid, workers)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, workers: int, timeout_s: float) -> None:
    """Until /readyz answers 200 on 10 x workers new connections in a row: each worker loads its own model, and
    the first one ready would otherwise answer for all."""
    deadline = time.monotonic() + timeout_s
    in_a_row = 0
    while in_a_row < 10 * workers:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service was not ready after {timeout_s:.0f} s")
        try:
            ok = httpx.get(url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            ok = False
        in_a_row = in_a_row + 1 if ok else 0
        if not ok:
            time.sleep(0.2)
