"""The cluster route: the same rows as a Ray Data pipeline, on a local Ray instance (``--ray``) or a running
cluster (``--ray-address``):

    from_items(files)  ->  map_batches(RayLabeller)  ->  write_parquet(<out>.ray/)  ->  merged into --out

``RayLabeller`` is a callable class: ``__init__`` builds the service pipeline once per actor (the Labeller the
local route's workers use), ``__call__`` takes a batch of files, reads, decodes, detects and classifies them and
yields their rows, a video segment by segment (memory stays bounded for a long video). Reading happens in the
actors, so an unreadable file is a coded row, as on the local route, instead of a failed read task. Every node
needs this package installed (``pip install 'fer-service[batch,ray]'``) and the files under the same paths.
Not resumable: an interrupted Ray run starts again (the local route is the resumable one).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from batch import output, timeline
from batch.labeller import Labeller, LabelOptions, run_info, worker_settings
from batch.sources import find
from service.app import load_pipeline

if TYPE_CHECKING:
    from batch.job import Job

log = logging.getLogger(__name__)
BATCH_FILES = 8  # files per batch handed to an actor


class RayLabeller:
    """Ray Data's callable class: one Labeller per actor, built in __init__; a batch of files in, rows out."""

    def __init__(self, options: LabelOptions) -> None:
        self.labeller = Labeller(options)

    def __call__(self, batch: dict[str, Any]) -> Iterator[pa.Table]:
        info = self.labeller.info
        rows: list[dict[str, Any]] = []
        for path, kind in zip(batch["source"], batch["kind"], strict=True):
            if kind == "image":
                rows += self.labeller.image(str(path))
                continue
            if rows:
                yield info.table(rows)
                rows = []
            for segment, _ in self.labeller.video(str(path)):
                yield info.table(segment)
        if rows:
            yield info.table(rows)


def _init_ray(address: str | None, progress: bool) -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports from a batch job
    import ray

    # address None starts a local Ray instance, which ray.shutdown() stops again: never `ray stop`.
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output keeps the input's order, as the local route
    context.enable_progress_bars = progress
    return ray


def _cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run(job: Job, address: str | None) -> output.Totals:
    info = run_info(load_pipeline(worker_settings(job.options.settings)))  # a bad model fails here, before Ray starts
    sources = find(job.inputs)
    staging = job.out.with_name(job.out.name + ".ray")
    shutil.rmtree(staging, ignore_errors=True)
    ray = _init_ray(address, job.progress)
    try:
        cpus = _cluster_cpus(ray)
        log.info("Ray: %d files over %d CPUs", len(sources), cpus)
        items = [{"source": s.path, "kind": s.kind} for s in sources]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 4 * cpus)))
        dataset = dataset.map_batches(RayLabeller, fn_constructor_args=(job.options,), batch_size=BATCH_FILES,
                                      batch_format="numpy", num_cpus=1,
                                      compute=ray.data.ActorPoolStrategy(size=cpus))
        started = time.perf_counter()
        dataset.write_parquet(str(staging))  # runs the pipeline
        label_s = time.perf_counter() - started
    finally:
        ray.shutdown()
    parts = sorted(staging.glob("*.parquet"))  # Ray names them in block order: with preserve_order, input order
    totals = output.merge(parts, job.out, info)
    totals.label_s = label_s
    output.write_videos(_video_rows(staging, parts, [s.path for s in sources if s.kind == "video"], info),
                        job.out, info, totals)
    if not job.keep_parts:
        shutil.rmtree(staging)
    return totals


def _video_rows(staging: Path, parts: list[Path], videos: list[str], info: Any) -> Iterator[tuple[str, pa.Table]]:
    """Each video's rows, read back from Ray's Parquet files one video at a time."""
    if not parts:
        return
    dataset = pads.dataset([str(p) for p in parts], format="parquet")
    columns = timeline.columns(info.labels)
    for source in videos:
        yield source, dataset.to_table(columns=columns, filter=pads.field("source") == source)
