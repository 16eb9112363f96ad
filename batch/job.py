"""One fer-batch run from inputs to the output file, on either route: find the files (or resume the run
directory's plan), label them, merge the parts into the output, draw each video's timeline."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch import output
from batch.labeller import LabelOptions, pipeline_identity, run_info, worker_settings
from batch.parts import RunDir
from batch.rows import output_format
from batch.sources import find
from service.app import load_pipeline
from service.pipeline import Pipeline

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Job:
    inputs: tuple[str, ...]
    out: Path
    options: LabelOptions
    chunk_size: int = 64
    overwrite: bool = False
    keep_parts: bool = False
    progress: bool = True

    @property
    def parts_dir(self) -> Path:
        return self.out.with_name(self.out.name + ".parts")

    def fingerprint(self, pipeline: Pipeline) -> dict[str, Any]:
        """The inputs and everything that decides the rows: a resume must match it."""
        return {"inputs": list(self.inputs), "chunk_size": self.chunk_size, "fps": self.options.fps,
                "segment_frames": self.options.segment_frames, "max_file_bytes": self.options.max_file_bytes,
                "pipeline": pipeline_identity(pipeline, self.options.settings)}

    def prepare(self) -> None:
        """Check the output path; with ``overwrite``, forget an earlier or interrupted run."""
        output_format(self.out)
        if self.overwrite:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
            self.out.unlink(missing_ok=True)
        elif self.out.exists() and not self.parts_dir.exists():
            raise FileExistsError(f"{self.out} exists; pass --overwrite to replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)


def run_local(job: Job, workers: int) -> output.Totals:
    from batch import local

    job.prepare()
    pipeline = load_pipeline(worker_settings(job.options.settings))  # fails here, before any worker, on a bad model
    info = run_info(pipeline)
    rundir = RunDir.open(job.parts_dir, job.fingerprint(pipeline), lambda: find(job.inputs), job.chunk_size)
    if rundir.resumed:
        done = sum(rundir.is_done(t) for t in rundir.tasks)
        log.info("resuming %s: %d of %d tasks already committed", rundir.root, done, len(rundir.tasks))
    started = time.perf_counter()
    local.run(rundir, job.options, workers, job.progress)
    label_s = time.perf_counter() - started
    totals = output.merge(rundir.all_parts(), job.out, info)
    totals.label_s = label_s if not rundir.resumed else None  # a resumed run's rate would count earlier work
    videos = [t for t in rundir.tasks if t.kind == "video"]
    output.write_videos(((t.paths[0], output.video_rows(rundir.parts(t), info)) for t in videos), job.out, info,
                        totals)
    if not job.keep_parts:
        rundir.remove()
    return totals


def run_ray(job: Job, address: str | None) -> output.Totals:
    from batch import ray_job

    job.prepare()
    return ray_job.run(job, address)
