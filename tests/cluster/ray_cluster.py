"""A real multi-node Ray cluster on one machine: one Ray node per network namespace (tests/cluster/netns.py).

    with ray_cluster(2, workdir) as cluster:
        cluster.address                       # "198.18.N.2:6379": the head's GCS, i.e. RAY_ADDRESS
        cluster.env                           # what a driver needs: RAY_ADDRESS and the cluster's auth token
        cluster.head.run(["ray", "status"], timeout=60, env=cluster.env)        # a command on the head
        job = cluster.head.popen(["python", "job.py"], log="job", env=cluster.env)
        cluster.nodes[1].address              # each node's own IPv4 address (Serve's proxy: port 8000 there)
        cluster.kill_node(1)                  # SIGKILL every process of node 1: a machine crash
        cluster.start_node(1)                 # ... and the machine back: a fresh `ray start` joins the cluster

A Ray driver must run on a Ray node, so run drivers (``serve run``, a Ray Data job) inside a node's namespace
with ``node.popen``/``node.run``; the test process itself (root namespace) only talks HTTP to the nodes.
Each node runs ``ray start --block`` with ``cpus_per_node`` CPUs, its own temp dir (``/tmp/fer-ray-*/<i>-<n>``:
Ray's socket paths must stay short) and its log in ``workdir/ray-<i>.log``. The cluster uses token
authentication with a token of its own (in ``cluster.env``), so neither ``~/.ray/auth_token`` nor another
cluster on this machine gets in its way. On exit every process of every node is stopped by pid (never
``ray stop``, which kills Ray processes by name, other people's included) and the namespaces are removed.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.netns import Host, network_namespaces

log = logging.getLogger(__name__)

GCS_PORT = 6379
METRICS_PORT = 8080  # each node's Prometheus endpoint (ray_serve_* per replica): http://<node address>:8080/metrics
RAY = str(Path(sys.executable).with_name("ray"))

# Waits in a driver on the head until `count` nodes are alive (one driver start, instead of polling `ray status`).
WAIT_FOR_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="warning", log_to_driver=False)
deadline = time.monotonic() + float(sys.argv[3])
while sum(n["Alive"] for n in ray.nodes()) < int(sys.argv[2]):
    if time.monotonic() > deadline:
        sys.exit("only %d of %s nodes alive" % (sum(n["Alive"] for n in ray.nodes()), sys.argv[2]))
    time.sleep(0.2)
"""

# No usage reports (there is no network anyway), no dashboard's web UI; drivers keep their own log level.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}


@dataclass
class RayCluster:
    nodes: list[Host]
    workdir: Path
    token: str
    cpus_per_node: int
    temp_root: Path
    pin: bool = False  # node i's processes run on core i only (taskset): each node is a 1-core machine
    starts: int = 0

    @property
    def head(self) -> Host:
        return self.nodes[0]

    @property
    def address(self) -> str:
        return f"{self.head.address}:{GCS_PORT}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for every Ray process of this cluster: its nodes and drivers."""
        return {**RAY_ENV, "RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def kill_node(self, index: int) -> list[int]:
        """SIGKILL every process of node ``index`` (raylet, workers, Serve's proxy and replicas): a crash."""
        return self.nodes[index].kill_all()

    def start_node(self, index: int) -> None:
        """``ray start --block`` on node ``index`` (the head: ``--head``), in a temp dir of its own."""
        node = self.nodes[index]
        self.starts += 1
        taskset = ["taskset", "-c", str(index % (os.cpu_count() or 1))] if self.pin else []
        argv = [*taskset, RAY, "start", "--block", "--disable-usage-stats", f"--node-ip-address={node.address}",
                f"--num-cpus={self.cpus_per_node}", "--object-store-memory=100000000",
                f"--metrics-export-port={METRICS_PORT}", f"--temp-dir={self.temp_root / f'{index}-{self.starts}'}"]
        if node is self.head:
            argv += ["--head", f"--port={GCS_PORT}", "--include-dashboard=false"]
        else:
            argv += [f"--address={self.address}"]
        node.popen(argv, log=f"ray-{node.index}", env=self.env)

    def logs(self) -> str:
        return "\n".join(f"--- ray-{n.index} ---\n{n.log_tail(f'ray-{n.index}')}" for n in self.nodes)


@contextmanager
def ray_cluster(count: int, workdir: Path, cpus_per_node: int = 1, timeout_s: float = 120,
                pin: bool = False) -> Iterator[RayCluster]:
    """``count`` Ray nodes, node 0 the head; yields once all are alive. See the module docstring.

    ``pin``: node i runs on core i (mod the machine's cores) only, so that nodes do not borrow each other's
    cores; otherwise every node's processes may run on every core of the machine."""
    # Ray's unix sockets live under the temp dir and must stay under ~100 characters: a short path in /tmp.
    temp_root = Path(tempfile.mkdtemp(prefix="fer-ray-"))
    try:
        with network_namespaces(count, workdir) as hosts:
            cluster = RayCluster(hosts, workdir, secrets.token_hex(32), cpus_per_node, temp_root, pin)
            for node in hosts:
                cluster.start_node(node.index)
            started = time.monotonic()
            waited = cluster.head.run([sys.executable, "-c", WAIT_FOR_NODES, cluster.address, str(count),
                                       str(timeout_s)], timeout=timeout_s + 30, env=cluster.env)
            if waited.returncode != 0:
                raise RuntimeError(f"Ray cluster did not come up: {waited.stderr[-2000:]}\n{cluster.logs()}")
            log.info("%d Ray nodes alive after %.1f s", count, time.monotonic() - started)
            yield cluster
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
