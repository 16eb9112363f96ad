"""``python -m bench``: every benchmark section in one run, then bench/results/<date>.json, docs/benchmarks.md
and docs/benchmarks.png.

    python -m bench [--quick] [--sections 1,2,...] [--skip-peer] [--data ../shared/data/fer2013.csv.gz]

Sections: 1 classifier ceiling + model latency, 2 pipeline in process, 3 the fer package on the same photos,
4 HTTP, 5 WebSocket, 6 memory, 7 training data load, 8 face detectors side by side, 9 the service as shipped
(one worker) over HTTP and WebSocket against fer and cv2.imdecode, 10 its memory,
11 fer-batch (photos/s: local processes, Ray on one and two nodes, a /predict loop), 12 one stream that
follows people (fps and recall with and without detection only when needed; tracks through crossings).

--merge adds the sections run to today's results (bench/results/<date>.json) instead of replacing them: a full
run in pieces of a few minutes each, every piece's load recorded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bench import machine, plot, report
from bench.photos import Photo, jpeg, privatetest_faces, sized_photos

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench")


@dataclass(frozen=True)
class Profile:
    """Durations and sizes: the full run, or --quick (seconds, to check that everything runs)."""

    ceiling_seconds: float = 10.0
    ceiling_rounds: int = 5
    latency_repeat: int = 100
    face_counts: tuple[int, ...] = (1, 2, 3, 4)
    pipeline_repeat: int = 5
    peer_repeat: int = 3
    http_seconds: float = 20.0
    ws_seconds: float = 20.0
    memory_requests: int = 10_000
    memory_every: int = 1_000
    parse_repeat: int = 3


QUICK = Profile(ceiling_seconds=0.4, ceiling_rounds=2, latency_repeat=10, face_counts=(1, 4), pipeline_repeat=1,
                peer_repeat=1, http_seconds=3.0, ws_seconds=3.0, memory_requests=500, memory_every=100, parse_repeat=1)


@dataclass
class Context:
    """What several sections share, made once and only when a section asks for it."""

    profile: Profile
    data: str
    workers: int
    skip_peer: bool
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)  # today's earlier pieces (--merge)

    @cached_property
    def faces(self) -> np.ndarray:
        faces = privatetest_faces(self.data)
        if faces is None:
            raise FileNotFoundError(f"FER2013 not found at {self.data} (--data)")
        return faces

    @cached_property
    def photos(self) -> list[Photo]:
        # Only the hand-annotated heads (astronaut, Grace Hopper): every detector, ours and fer's, is judged
        # against boxes drawn the same way. Pasted FER2013 crops, whose box is the whole crop, are scored in
        # the detection section, where that convention is explained.
        return sized_photos(None, counts=self.profile.face_counts)

    @cached_property
    def one_face_jpeg(self) -> bytes:
        """The 640x480 one-face photo of the pipeline set, as the HTTP and WebSocket sections send it."""
        return jpeg(next(p for p in self.photos if p.name == "640x480-1face").rgb)


def _ceiling(c: Context) -> dict[str, Any]:
    from bench import classifier_ceiling

    return classifier_ceiling.run(c.faces, seconds=c.profile.ceiling_seconds, rounds=c.profile.ceiling_rounds)


def _latency(c: Context) -> dict[str, Any]:
    from bench import model_latency

    return model_latency.run(c.faces, repeat=c.profile.latency_repeat)


def _pipeline(c: Context) -> dict[str, Any]:
    from bench import pipeline_speed

    return pipeline_speed.run(c.photos, repeat=c.profile.pipeline_repeat)


def _peer(c: Context) -> dict[str, Any]:
    from bench import peer_fer, pipeline_speed

    if c.skip_peer:
        return {"available": False, "reason": "skipped (--skip-peer)"}
    ours = c.results.get("pipeline") or c.previous.get("pipeline")
    if not ours or "error" in ours:
        ours = pipeline_speed.run(c.photos, ("yunet",), repeat=c.profile.pipeline_repeat, with_stages=False)
    return peer_fer.run(c.photos, ours, repeat=c.profile.peer_repeat)


def _http(c: Context) -> dict[str, Any]:
    from bench import http_load

    return http_load.run(c.one_face_jpeg, seconds=c.profile.http_seconds, workers=c.workers)


def _websocket(c: Context) -> dict[str, Any]:
    from bench import websocket_streams

    return websocket_streams.run(c.one_face_jpeg, seconds=c.profile.ws_seconds, workers=c.workers)


def _memory(c: Context) -> dict[str, Any]:
    from bench import memory

    return memory.run([jpeg(p.rgb) for p in c.photos], total=c.profile.memory_requests,
                      every=c.profile.memory_every, workers=c.workers)


def _parse(c: Context) -> dict[str, Any]:
    from bench import parse_fer2013

    return dict(parse_fer2013.run(c.data, repeat=c.profile.parse_repeat))


def _speed(c: Context) -> dict[str, Any]:
    from bench import speed_targets

    peer = c.results.get("peer") or c.previous.get("peer")
    return speed_targets.run(c.photos, peer, repeat=20 if c.profile is QUICK else 200,
                             seconds=c.profile.http_seconds / 2)


def _memory_shipped(c: Context) -> dict[str, Any]:
    from bench import speed_targets

    return speed_targets.run_memory(c.photos, total=c.profile.memory_requests, every=c.profile.memory_every)


def _detectors(c: Context) -> dict[str, Any]:
    from bench import detection_eval

    return detection_eval.run(c.data, c.faces if Path(c.data).is_file() else None)


def _batch(c: Context) -> dict[str, Any]:
    from bench import batch_throughput

    return batch_throughput.run(count=24 if c.profile is QUICK else 240, workers=c.workers)


def _tracking(c: Context) -> dict[str, Any]:
    from bench import stream_tracking

    quick = c.profile is QUICK
    return stream_tracking.run(c.data, c.workers, every=(1, 5) if quick else stream_tracking.EVERY,
                               frames=60 if quick else stream_tracking.FRAMES, rounds=1 if quick else 3)


SECTIONS: dict[int, list[tuple[str, Callable[[Context], dict[str, Any]]]]] = {
    1: [("classifier_ceiling", _ceiling), ("model_latency", _latency)],
    2: [("pipeline", _pipeline)],
    3: [("peer", _peer)],
    4: [("http", _http)],
    5: [("websocket", _websocket)],
    6: [("memory", _memory)],
    7: [("parse", _parse)],
    8: [("detectors", _detectors)],
    11: [("batch", _batch)],
    9: [("speed", _speed)],
    10: [("memory_shipped", _memory_shipped)],
    12: [("tracking", _tracking)],
}


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+changes" if dirty else "")


def parse_sections(text: str) -> list[int]:
    chosen = sorted({int(s) for s in text.split(",") if s.strip()})
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section(s) {unknown}; choose from {sorted(SECTIONS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short durations and few photos (a smoke test)")
    p.add_argument("--sections", type=parse_sections, default=sorted(SECTIONS), help="e.g. 1,2,4 (default: all)")
    p.add_argument("--skip-peer", action="store_true", help="do not install or run the fer package (section 3)")
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", str(ROOT.parent / "shared/data/fer2013.csv.gz")))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes (default: cores)")
    p.add_argument("--merge", action="store_true", help="add these sections to today's results instead of a new run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    from service.allocator import tune_allocator
    from service.config import Settings

    if Settings().tune_malloc:  # in-process sections measure under the service's own allocator settings
        tune_allocator()
    info = machine.describe()
    load_start = machine.load_1min()
    busy_start = machine.cpu_busy_cores()
    others = machine.OthersCpu()
    date = datetime.now().strftime("%Y-%m-%d")
    json_path = ROOT / "bench" / "results" / f"{date}{'-quick' if args.quick else ''}.json"
    earlier = json.loads(json_path.read_text()) if args.merge and json_path.is_file() else None
    context = Context(QUICK if args.quick else Profile(), args.data, args.workers, args.skip_peer,
                      previous=dict(earlier["sections"]) if earlier else {})
    timings: dict[str, float] = {}
    for number in args.sections:
        for key, fn in SECTIONS[number]:
            log.info("section %d: %s", number, key)
            started = time.monotonic()
            try:
                context.results[key] = fn(context)
            except Exception as exc:  # one failed section must not lose the others
                traceback.print_exc()
                context.results[key] = {"error": f"{type(exc).__name__}: {exc}"}
            timings[key] = round(time.monotonic() - started, 1)
            print(report.section(key, context.results[key]), flush=True)
    load_end = machine.load_1min()
    others_cores = others.cores()

    plot_path = ROOT / "docs" / "benchmarks.png"
    piece = {"sections": [str(n) for n in args.sections], "commit": commit(),
             "load_1min": {"start": load_start, "end": load_end}, "cpu_busy_cores_at_start": busy_start,
             "other_processes_cores": others_cores,
             "busy_note": machine.busy_note(busy_start, others_cores, info["cores"]), "section_seconds": timings}
    pieces = [*(earlier.get("pieces", []) if earlier else []), piece]
    sections = {**context.previous, **context.results}
    order = [key for n in sorted(SECTIONS) for key, _ in SECTIONS[n] if key in sections]
    results = {
        "date": date, "quick": args.quick, "commit": piece["commit"], "machine": info,
        "load_1min": piece["load_1min"], "cpu_busy_cores_at_start": busy_start,
        "other_processes_cores": {", ".join(x["sections"]): x.get("other_processes_cores") for x in pieces},
        "busy_note": "; ".join(f"sections {', '.join(x['sections'])}: {x['busy_note']}" for x in pieces
                               if x["busy_note"]) or None,
        "sections_run": [n for x in pieces for n in x["sections"]], "section_seconds": timings, "pieces": pieces,
        "json": json_path.relative_to(ROOT).as_posix(), "plot": None, "sections": {k: sections[k] for k in order},
    }
    title = f"{info['cpu']}, {info['cores']} cores" + (" (quick mode)" if args.quick else "")
    if plot.plot(results["sections"], plot_path, title):
        results["plot"] = plot_path.name
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    (ROOT / "docs" / "benchmarks.md").write_text(report.document(results))
    print(f"wrote {json_path.relative_to(ROOT)}, docs/benchmarks.md" + (", docs/benchmarks.png" if results["plot"]
                                                                         else ""))
    if piece["busy_note"]:
        print(f"note: {piece['busy_note']}")
    return 1 if any("error" in r for r in context.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
