"""``fer-batch INPUT... --out FILE``: label photos and videos into one table (Parquet, CSV or JSON lines).

    fer-batch photos/ --out labels.parquet                      # a folder, recursively, on every core
    fer-batch 'shoot/**/*.jpg' session.mp4 --out labels.csv --fps 5
    fer-batch photos/ --out labels.parquet --ray                 # a Ray Data pipeline on a local Ray instance
    fer-batch photos/ --out labels.parquet --ray-address 198.18.0.1:6379

Model, detector and limits are the service's settings (FER_* environment variables, or the options below).
An interrupted run continues where it stopped when the same command is run again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.config import Settings

# The local route's workers start by importing this module again (multiprocessing's spawn): it imports only
# what argv needs; the job's modules are imported in main().

log = logging.getLogger("batch")


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, videos, folders (recursive) or glob patterns")
    p.add_argument("--out", required=True, type=Path, help="output table: .parquet, .csv or .jsonl")
    p.add_argument("--fps", type=_positive(float), help="video frames per second of video time (default: every frame)")
    p.add_argument("--model", help="a model's name (in FER_MODELS_DIR) or an ONNX file (default: the service's "
                                   "default model)")
    p.add_argument("--detector", help="face detector, as FER_DETECTOR (default: the service's)")
    p.add_argument("--max-faces", type=_positive(int), help="faces per photo or frame, largest first")
    p.add_argument("--min-face-size", type=_positive(int), help="ignore smaller faces, in pixels")
    p.add_argument("--workers", type=_positive(int), default=os.cpu_count() or 1,
                   help="worker processes of the local route (default: one per core)")
    p.add_argument("--chunk-size", type=_positive(int), default=64, help="photos per committed part")
    p.add_argument("--segment-frames", type=_positive(int), default=500, help="video frames per committed part")
    p.add_argument("--overwrite", action="store_true", help="replace the output and forget an interrupted run")
    p.add_argument("--keep-parts", action="store_true", help="keep the run directory (<out>.parts) after merging")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    ray = p.add_mutually_exclusive_group()
    ray.add_argument("--ray", action="store_true", help="run as a Ray Data pipeline on a local Ray instance")
    ray.add_argument("--ray-address", metavar="ADDR", help="run on the Ray cluster at ADDR (host:port)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    # --model as FER_MODELS reads it (a name in FER_MODELS_DIR, or a path): that model alone is loaded
    overrides = {"models": args.model and [args.model], "detector": args.detector,
                 "max_faces": args.max_faces, "min_face_size": args.min_face_size}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    from batch.job import Job, run_local, run_ray
    from batch.labeller import LabelOptions
    from batch.parts import RunMismatch
    from batch.rows import OutputFormatError
    from service.classifier import ModelLoadError

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        options = LabelOptions(settings=settings_from(args), fps=args.fps, segment_frames=args.segment_frames)
        job = Job(tuple(args.inputs), args.out, options, chunk_size=args.chunk_size, overwrite=args.overwrite,
                  keep_parts=args.keep_parts, progress=not args.no_progress)
        totals = run_ray(job, args.ray_address) if args.ray or args.ray_address else run_local(job, args.workers)
    except (FileExistsError, RunMismatch, ModelLoadError, OutputFormatError, ValidationError) as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted: run the same command again to continue where it stopped")
        return 130
    log.info("wrote %s: %s", job.out, totals.describe())
    for png in totals.videos:
        log.info("video timeline: %s", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
