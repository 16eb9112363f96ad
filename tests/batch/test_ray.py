"""The Ray route (a Ray Data pipeline) gives the same rows, in the same order, as the local route: on a local
Ray instance here, on two Ray nodes in two network namespaces in tests/batch/test_ray_cluster.py."""

from __future__ import annotations

import pyarrow.parquet as pq

from batch.output import video_stem, videos_dir
from tests.batch.conftest import LocalRun


def test_ray_route_gives_the_same_rows_as_the_local_route(local_run: LocalRun, tmp_path, fer_batch):
    ray = tmp_path / "ray.parquet"
    assert fer_batch(*local_run.argv, "--out", ray, "--ray") == 0
    local_rows, ray_rows = pq.read_table(local_run.out), pq.read_table(ray)
    assert ray_rows.schema == local_rows.schema
    assert ray_rows.to_pylist() == local_rows.to_pylist()  # the same rows in the same order
    assert (videos_dir(ray) / f"{video_stem(str(local_run.clip))}.timeline.png").is_file()
    assert not (tmp_path / "ray.parquet.ray").exists()
