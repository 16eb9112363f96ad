"""One fer-batch run from inputs to the output file, on either route: find the files (or resume the run
directory's plan), label them, merge the parts into the output, draw each video's timeline."""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch import output
from batch.labeller import LabelOptions, run_info
from batch.parts import RunDir
from batch.rows import output_format
from batch.sources import find
from service.app import load_pipeline

log = logging.getLogger(__name__)

# Settings that change how fast or how a server runs, never what a row says: a resume may change them.
_OPERATIONAL = {"require_model", "ort_intra_threads", "ort_inter_threads", "tune_malloc", "opencv_threads",
                "max_upload_bytes", "max_multipart_parts", "workers_threads", "max_pending", "ws_max_message_bytes",
                "ws_max_connections", "ws_idle_timeout_s", "api_keys", "cors_origins", "log_level"}


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

    def fingerprint(self) -> dict[str, Any]:
        settings = self.options.settings
        model = Path(settings.model_path)
        return {"inputs": list(self.inputs), "chunk_size": self.chunk_size, "fps": self.options.fps,
                "segment_frames": self.options.segment_frames, "max_file_bytes": self.options.max_file_bytes,
                "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest() if model.is_file() else None,
                "settings": settings.model_dump(mode="json", exclude=_OPERATIONAL)}

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
    info = run_info(load_pipeline(job.options.settings))  # fails here, before any worker, on a bad model
    rundir = RunDir.open(job.parts_dir, job.fingerprint(), lambda: find(job.inputs), job.chunk_size)
    if rundir.resumed:
        done = sum(rundir.is_done(t) for t in rundir.tasks)
        log.info("resuming %s: %d of %d tasks already committed", rundir.root, done, len(rundir.tasks))
    local.run(rundir, job.options, workers, job.progress)
    totals = output.merge(rundir.all_parts(), job.out, info)
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
