"""fer-batch --ray-address on a real two-node Ray cluster (two network namespaces, tests/cluster/ray_cluster.py,
one CPU each): the driver runs on the head, an actor on each node; the rows equal the local route's."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq

from tests.batch.conftest import LocalRun
from tests.cluster.conftest import require_cluster_tools
from tests.cluster.ray_cluster import ray_cluster
from tests.service.conftest import ROOT

START_TIMEOUT_S = 240  # two Ray nodes on a 2-core machine that may be training


def test_two_ray_nodes_give_the_same_rows_as_the_local_route(local_run: LocalRun, tmp_path):
    require_cluster_tools()
    out = tmp_path / "cluster.parquet"
    with ray_cluster(2, tmp_path / "cluster", cpus_per_node=1, timeout_s=START_TIMEOUT_S) as cluster:
        argv = [sys.executable, "-m", "batch.cli", *local_run.argv, "--out", str(out), "--no-progress",
                "--ray-address", cluster.address]
        done = cluster.head.run(argv, timeout=600, env=cluster.env, cwd=ROOT)
        assert done.returncode == 0, f"{done.stderr[-4000:]}\n{cluster.logs()}"
    assert "over 2 CPUs" in done.stderr  # one actor per node: each node has one CPU, each actor takes one
    assert pq.read_table(out).to_pylist() == pq.read_table(local_run.out).to_pylist()
