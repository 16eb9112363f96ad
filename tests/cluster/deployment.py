"""deploy/ray/serve.yaml on a RayCluster (``serve run`` on the head) and deploy/haproxy/haproxy.cfg in front
of every node's Serve proxy: what the cluster tests and bench/ray_cluster.py run against."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.cluster.haproxy import Balancer, haproxy
from tests.cluster.netns import Host
from tests.cluster.ray_cluster import RayCluster

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "deploy" / "ray" / "serve.yaml"
SERVE = str(Path(sys.executable).with_name("serve"))
PROXY_PORT = 8000


@dataclass
class Deployment:
    cluster: RayCluster
    balancer: Balancer
    replicas: dict[int, str]  # node index -> the name of the replica on that node (X-FER-Replica)

    @staticmethod
    def node_url(node: Host) -> str:
        return f"http://{node.address}:{PROXY_PORT}"

    def wait_local_replica(self, index: int, timeout_s: float) -> str:
        """Until node ``index``'s proxy answers /readyz from a replica on that node; its name."""
        node = self.cluster.nodes[index]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            name = local_replica(self.node_url(node))
            if name and name.endswith("@" + node.address):
                self.replicas[index] = name
                return name
            time.sleep(0.5)
        raise TimeoutError(f"no replica ready on node {index} after {timeout_s:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        head = self.cluster.head
        return f"{self.cluster.logs()}\n--- serve ---\n{head.log_tail('serve')}\n--- haproxy ---\n" \
               f"{self.balancer.log_tail()}"


def local_replica(url: str) -> str | None:
    """The replica that answers /readyz through one node's proxy (Serve prefers the node's own replica)."""
    try:
        r = httpx.get(url + "/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.headers.get("x-fer-replica") if r.status_code == 200 else None


@contextmanager
def serve_behind_haproxy(cluster: RayCluster, workdir: Path, timeout_s: float = 240) -> Iterator[Deployment]:
    """Yields once every node has a ready replica of its own and HAProxy sees every node UP."""
    serve = cluster.head.popen([SERVE, "run", str(SERVE_CONFIG)], log="serve", cwd=ROOT, env=cluster.env)
    replicas: dict[int, str] = {}
    deadline = time.monotonic() + timeout_s
    while len(replicas) < len(cluster.nodes):
        if time.monotonic() > deadline or serve.poll() is not None:
            raise RuntimeError(f"replicas not ready on every node: {replicas}\n{cluster.logs()}\n"
                               f"--- serve run (exit {serve.poll()}) ---\n{cluster.head.log_tail('serve')}")
        for node in cluster.nodes:
            name = local_replica(Deployment.node_url(node))
            if name and name.endswith("@" + node.address):
                replicas[node.index] = name
        time.sleep(0.5)
    with haproxy([f"{n.address}:{PROXY_PORT}" for n in cluster.nodes], workdir) as balancer:
        balancer.wait_states({f"node{n.index}": "UP" for n in cluster.nodes}, timeout_s=30)
        yield Deployment(cluster, balancer, replicas)
