"""The two-node deployment the cluster tests share: two Ray nodes in two network namespaces, deploy/ray/serve.yaml
started with ``serve run`` on the head, one replica per node, and deploy/haproxy/haproxy.cfg in front.

Other multi-node tests reuse ``ray_cluster`` (tests/cluster/ray_cluster.py) or ``network_namespaces``
(tests/cluster/netns.py) directly; both stop what they started by pid and remove their namespaces.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cluster.haproxy import Balancer, haproxy
from tests.cluster.netns import Host
from tests.cluster.ray_cluster import RayCluster, ray_cluster

ROOT = Path(__file__).resolve().parents[2]
SERVE_CONFIG = ROOT / "deploy" / "ray" / "serve.yaml"
SERVE = str(Path(sys.executable).with_name("serve"))
PROXY_PORT = 8000
START_TIMEOUT_S = 240  # cluster + two replicas loading the model, on a 2-core machine that may be training


def require_cluster_tools() -> None:
    """These tests need root (namespaces) and the installs of scripts/install-test-deps.sh: fail, not skip."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (ip netns)")
    for tool in ("ip", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            problems.append(tool)
    if not Path(SERVE).exists():
        problems.append("ray[serve] in this venv (pip install '.[ray]')")
    if problems:
        pytest.fail("cluster tests need: " + ", ".join(problems))


@dataclass
class Deployment:
    cluster: RayCluster
    balancer: Balancer
    replicas: dict[int, str]  # node index -> the name of the replica on that node (X-FER-Replica)

    def node_url(self, node: Host) -> str:
        return f"http://{node.address}:{PROXY_PORT}"

    def logs(self) -> str:
        head = self.cluster.head
        return f"{self.cluster.logs()}\n--- serve ---\n{head.log_tail('serve')}\n--- haproxy ---\n" \
               f"{self.balancer.log_tail()}"


def _local_replica(url: str) -> str | None:
    """The replica that answers /readyz through one node's proxy (Serve prefers the node's own replica)."""
    try:
        r = httpx.get(url + "/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.headers.get("x-fer-replica") if r.status_code == 200 else None


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_cluster_tools()
    workdir = tmp_path_factory.mktemp("cluster")
    with ray_cluster(2, workdir, cpus_per_node=1, timeout_s=START_TIMEOUT_S) as cluster:
        serve = cluster.head.popen([SERVE, "run", str(SERVE_CONFIG)], log="serve", cwd=ROOT,
                           env=cluster.env)
        replicas: dict[int, str] = {}
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(replicas) < len(cluster.nodes):
            if time.monotonic() > deadline or serve.poll() is not None:
                pytest.fail(f"replicas not ready on every node: {replicas}\n{cluster.logs()}\n"
                            f"--- serve run (exit {serve.poll()}) ---\n{cluster.head.log_tail('serve')}")
            for node in cluster.nodes:
                name = _local_replica(f"http://{node.address}:{PROXY_PORT}")
                if name and name.endswith("@" + node.address):
                    replicas[node.index] = name
            time.sleep(0.5)
        with haproxy([f"{n.address}:{PROXY_PORT}" for n in cluster.nodes], workdir) as balancer:
            balancer.wait_states({"node0": "UP", "node1": "UP"}, timeout_s=30)
            yield Deployment(cluster, balancer, replicas)
