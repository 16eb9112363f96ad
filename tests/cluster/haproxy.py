"""deploy/haproxy/haproxy.cfg run for real: one ``haproxy -db`` process on 127.0.0.1, its runtime API socket,
stopped by its pid on exit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.server import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
BACKEND = "fer_nodes"


@dataclass
class Balancer:
    url: str
    stats_url: str
    socket_path: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def command(self, line: str) -> str:
        """One runtime API command (``set server fer_nodes/node1 state drain``), its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """``{"node0": "UP", ...}`` from ``show stat`` (CSV: pxname, svname, ..., status at column 18)."""
        states = {}
        for row in self.command("show stat").splitlines():
            cols = row.split(",")
            if len(cols) > 17 and cols[0] == BACKEND and cols[1] not in ("BACKEND", "FRONTEND"):
                states[cols[1]] = cols[17]
        return states

    def wait_states(self, expected: dict[str, str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (states := self.server_states()) != expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"HAProxy servers {states}, expected {expected}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def haproxy(nodes: Sequence[str], workdir: Path) -> Iterator[Balancer]:
    """HAProxy with deploy/haproxy/haproxy.cfg in front of ``nodes`` (``host:port``, node0 first)."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    port, stats_port = free_port(), free_port()
    sock = workdir / "haproxy.sock"
    env = {**os.environ, "FER_HAPROXY_BIND": f"127.0.0.1:{port}", "FER_HAPROXY_STATS_BIND": f"127.0.0.1:{stats_port}",
           "FER_HAPROXY_SOCKET": str(sock), **{f"FER_NODE{i}": addr for i, addr in enumerate(nodes)}}
    log_path = workdir / "haproxy.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([binary, "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT)
    balancer = Balancer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}", sock, proc, log_path)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start:\n{balancer.log_tail()}")
            time.sleep(0.05)
        yield balancer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
