"""The two-node deployment the cluster tests share: two Ray nodes in two network namespaces, deploy/ray/serve.yaml
started with ``serve run`` on the head, one replica per node, and deploy/haproxy/haproxy.cfg in front.

Other multi-node tests reuse ``ray_cluster`` (tests/cluster/ray_cluster.py) or ``network_namespaces``
(tests/cluster/netns.py) directly; both stop what they started by pid and remove their namespaces.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.deployment import SERVE, Deployment, serve_behind_haproxy
from tests.cluster.ray_cluster import ray_cluster
from tests.service.conftest import make_app, tiny_model  # noqa: F401 - re-exported fixtures

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


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_cluster_tools()
    workdir = tmp_path_factory.mktemp("cluster")
    with ray_cluster(2, workdir, cpus_per_node=1, timeout_s=START_TIMEOUT_S) as cluster, \
            serve_behind_haproxy(cluster, workdir, START_TIMEOUT_S) as deployment:
        yield deployment
