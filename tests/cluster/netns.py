"""Hosts for multi-node tests on one machine: one Linux network namespace per host, joined by a bridge.

    with network_namespaces(2, workdir) as hosts:       # needs root (ip netns, veth, bridge)
        hosts[0].address                                 # "198.18.N.2": the host's own IPv4 address
        hosts[0].popen(["python", "-m", "http.server", "8000"], log="web")   # runs inside that namespace
        httpx.get(f"http://{hosts[0].address}:8000/")    # reachable from the test (root namespace)
        hosts[1].kill_all()                              # SIGKILL every process in the namespace: a host crash

Each host gets a namespace ``fer<pid>-<i>`` with loopback up and one veth leg on the bridge. Addresses come
from 198.18.0.0/15 (RFC 2544 benchmarking range): one free /24, the bridge (the root namespace) at .1 and
host i at .(i + 2). No namespace has a default route, so traffic reaches only loopback and these addresses.
On exit every process still inside a namespace is stopped by pid (SIGTERM, then SIGKILL) and the
namespaces, the veths and the bridge are removed, also when set-up failed half-way.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TEST_RANGE = ipaddress.ip_network("198.18.0.0/15")
ALLOC_LOCK = Path("/tmp/fer-netns.lock")  # two test runs at once must not pick the same /24


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    """One network namespace: its name, its address, and processes started inside it (stdout+stderr
    to ``workdir/<log>.log``)."""

    index: int
    netns: str
    address: str
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)  # kept to be reaped on exit

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside this host's namespace (``ip netns exec NS ...``)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def popen(self, argv: Sequence[str], log: str, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{log}.log").open("ab") as out:
            proc = subprocess.Popen(self.command(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env={**os.environ, **(env or {})})

    def log_tail(self, log: str, lines: int = 40) -> str:
        path = self.workdir / f"{log}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def pids(self) -> list[int]:
        """Every process whose network namespace is this host's."""
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill_all(self, sig: int = signal.SIGKILL) -> list[int]:
        pids = self.pids()
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids



def stop_all(hosts: Sequence[Host], grace_s: float = 5.0) -> None:
    """SIGTERM every process in the hosts' namespaces, SIGKILL what is left after ``grace_s``."""
    for host in hosts:
        host.kill_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(h.pids() for h in hosts) and time.monotonic() < deadline:
        time.sleep(0.1)
    for host in hosts:
        while host.kill_all(signal.SIGKILL):
            time.sleep(0.1)
        for proc in host.procs:
            proc.wait()


def _free_subnet() -> ipaddress.IPv4Network:
    """The first 198.18.x.0/24 that no interface of the root namespace uses."""
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    taken = {ipaddress.ip_interface(word).network for word in used.split() if word.count(".") == 3 and "/" in word}
    for subnet in TEST_RANGE.subnets(new_prefix=24):
        if subnet.network_address.packed[2] == 0:
            continue  # skip 198.18.0.0/24 and 198.19.0.0/24: someone's first choice
        if not any(subnet.overlaps(t) for t in taken):
            return subnet  # type: ignore[return-value]
    raise RuntimeError("no free /24 left in 198.18.0.0/15")


@contextmanager
def network_namespaces(count: int, workdir: Path) -> Iterator[list[Host]]:
    """``count`` hosts on one bridge; see the module docstring. Needs root."""
    tag = f"fer{os.getpid() % 100_000}"
    bridge = f"{tag}br"
    created_ns: list[str] = []
    created_links: list[str] = []
    hosts: list[Host] = []
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with ALLOC_LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subnet = _free_subnet()
            ip("link", "add", bridge, "type", "bridge")
            created_links.append(bridge)
            ip("addr", "add", f"{subnet[1]}/24", "dev", bridge)
            ip("link", "set", bridge, "up")
        for i in range(count):
            netns, leg = f"{tag}-{i}", f"{tag}v{i}"
            ip("netns", "add", netns)
            created_ns.append(netns)
            ip("link", "add", leg, "type", "veth", "peer", "name", "eth0", "netns", netns)
            created_links.append(leg)
            ip("link", "set", leg, "master", bridge, "up")
            address = str(subnet[i + 2])
            ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            ip("-n", netns, "link", "set", "lo", "up")
            hosts.append(Host(i, netns, address, workdir))
        log.info("hosts %s on %s (bridge %s)", [h.address for h in hosts], subnet, bridge)
        yield hosts
    finally:
        stop_all(hosts)
        for netns in created_ns:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        for link in reversed(created_links):  # veths die with their namespace; delete whatever is left
            subprocess.run(["ip", "link", "del", link], capture_output=True)
