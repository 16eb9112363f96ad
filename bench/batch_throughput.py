"""Section 10: fer-batch throughput, images/s over one folder of photos, for every route on the same files:

- ``local``: ``fer-batch`` with one worker process per core (the default);
- ``ray_1_node``: ``fer-batch --ray``, a local Ray instance started by the run, all cores;
- ``ray_2_nodes``: ``fer-batch --ray-address``, two Ray nodes in two network namespaces (tests/cluster/
  ray_cluster.py), the cores split between them, the driver on the head;
- ``predict_loop``: what people write today: one POST /predict after another to one server process.

For each route: ``images_per_s`` over the whole run (start-up included: the CLI, the workers' model loads, Ray's
start or connection, the merge) and ``labelling_images_per_s`` over the labelling itself (fer-batch's own
measure, in its last log line: from starting the workers, or running the Ray Data pipeline, to the last part).
Peak PSS is the fer-batch process tree's: its workers; with ``--ray`` the local Ray instance it starts; with two
nodes only the driver (the nodes' raylets are not its children). The photos: 640x480 and 1280x720 frames with
1-3 real faces (bench/photos.py), as JPEG.
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
CLI = [sys.executable, "-m", "batch.cli"]


def write_photos(folder: Path, count: int) -> list[Path]:
    from bench.photos import jpeg, sized_photos

    photos = [jpeg(p.rgb) for p in sized_photos(None, sizes=((640, 480), (1280, 720)), counts=(1, 2, 3))]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo-{i:05d}.jpg"
        path.write_bytes(photos[i % len(photos)])
        paths.append(path)
    return paths


class PeakPss:
    """Samples the summed PSS of a process tree every 0.2 s until stopped."""

    def __init__(self, pid: int) -> None:
        from bench.process_memory import pss_mb, tree

        self.peak = 0.0
        self._stop = threading.Event()

        def one(p: int) -> float:
            try:
                return pss_mb(p)
            except ProcessLookupError:  # a worker that exited between listing and reading (ESRCH)
                return 0.0

        def sample() -> None:
            while not self._stop.wait(0.2):
                self.peak = max(self.peak, sum(one(p) for p in tree(pid)))

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak, 1)


LABELLED = re.compile(r"labelled (\d+) photos and video frames in ([0-9.]+) s")


def timed_cli(argv: Sequence[str], count: int, prefix: Sequence[str] = (),
              env: dict[str, str] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen([*prefix, *CLI, *argv, "--no-progress", "--overwrite"], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    memory = PeakPss(proc.pid)
    _, stderr = proc.communicate(timeout=1800)
    seconds = time.perf_counter() - started
    peak = memory.stop()
    found = LABELLED.search(stderr)
    if proc.returncode != 0 or found is None or int(found.group(1)) != count:
        raise RuntimeError(f"fer-batch {' '.join(argv)} exited {proc.returncode}: {stderr[-2000:]}")
    label_s = float(found.group(2))
    return {"seconds": round(seconds, 2), "labelling_seconds": label_s, "images_per_s": round(count / seconds, 2),
            "labelling_images_per_s": round(count / label_s, 2), "peak_pss_mb": peak}


def predict_loop(files: list[Path]) -> dict[str, Any]:
    import httpx

    from bench.server import serving

    with serving(1) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        client.post("/predict", files={"file": ("warm.jpg", files[0].read_bytes(), "image/jpeg")})
        started = time.perf_counter()
        for path in files:
            r = client.post("/predict", files={"file": (path.name, path.read_bytes(), "image/jpeg")})
            r.raise_for_status()
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "images_per_s": round(len(files) / seconds, 2),
            "labelling_images_per_s": round(len(files) / seconds, 2), "server_processes": 1}


def two_nodes(folder: Path, count: int, out: Path, work: Path, cores: int) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"available": False, "reason": "needs root (network namespaces)"}
    try:
        from tests.cluster.ray_cluster import ray_cluster
    except ImportError as exc:
        return {"available": False, "reason": f"tests/cluster not importable ({exc})"}
    per_node = max(1, cores // 2)
    with ray_cluster(2, work, cpus_per_node=per_node, timeout_s=240) as cluster:
        result = timed_cli([str(folder), "--out", str(out), "--ray-address", cluster.address], count,
                           prefix=cluster.head.command([]), env=cluster.env)
    return {"available": True, "cpus_per_node": per_node, **result}


def run(count: int = 240, workers: int | None = None,
        routes: Sequence[str] = ("local", "ray_1_node", "ray_2_nodes", "predict_loop")) -> dict[str, Any]:
    cores = workers or os.cpu_count() or 1
    results: dict[str, Any] = {"images": count, "cores": cores, "routes": {}}
    with tempfile.TemporaryDirectory(prefix="fer-batch-bench-") as tmp:
        work = Path(tmp)
        folder = work / "photos"
        files = write_photos(folder, count)
        out = work / "labels.parquet"
        for name in routes:
            log.info("fer-batch throughput: %s", name)
            try:
                if name == "local":
                    r = timed_cli([str(folder), "--out", str(out), "--workers", str(cores)], count)
                elif name == "ray_1_node":
                    r = timed_cli([str(folder), "--out", str(out), "--ray"], count)
                elif name == "ray_2_nodes":
                    r = two_nodes(folder, count, out, work / "cluster", cores)
                else:
                    r = predict_loop(files)
            except Exception as exc:  # one route failing must not lose the others
                log.exception("route %s failed", name)
                r = {"error": f"{type(exc).__name__}: {exc}"}
            results["routes"][name] = r
    return results


def write_collection(folder: Path, photos: int, video_frames: int) -> Path:
    """``photos`` small one-face photos (128x128) in folders of 1,000, and a 160x120 video at 10 fps of one face
    moving (``video_frames`` frames: 36,000 = an hour). Returns the video's path."""
    import cv2
    import numpy as np

    from bench.photos import astronaut, jpeg

    head = cv2.resize(astronaut()[30:230, 130:330], (80, 80), interpolation=cv2.INTER_AREA)
    canvas = np.full((128, 128, 3), 128, np.uint8)
    canvas[24:104, 24:104] = head
    data = jpeg(canvas)
    for i in range(photos):
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"p{i:05d}.jpg").write_bytes(data)
    clip = folder.with_name("video.mp4")
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 10, (160, 120))
    for i in range(video_frames):
        frame = np.full((120, 160, 3), 128, np.uint8)
        x = 10 + i % 70
        frame[20:100, x : x + 80] = head[..., ::-1]
        writer.write(frame)
    writer.release()
    return clip


def memory(photos: int = 10_000, video_frames: int = 36_000, fps: float = 5.0) -> dict[str, Any]:
    """Peak PSS of the local route's process tree over a large collection (default: 10,000 photos and an hour
    of video sampled at 5 frames per second), against the same run on a tenth of it: flat means bounded."""
    results: dict[str, Any] = {"fps": fps, "runs": []}
    for scale in (10, 1):
        with tempfile.TemporaryDirectory(prefix="fer-batch-memory-") as tmp:
            folder = Path(tmp) / "photos"
            clip = write_collection(folder, photos // scale, video_frames // scale)
            count = photos // scale + math.ceil(video_frames // scale / 10 * fps)
            r = timed_cli([str(folder), str(clip), "--out", str(Path(tmp) / "labels.parquet"), "--fps", str(fps)],
                          count)
            results["runs"].append({"photos": photos // scale, "video_frames": video_frames // scale, **r})
    return results


def render(r: dict[str, Any]) -> str:
    from bench.report import fmt, table

    rows = []
    for name, x in r["routes"].items():
        if "error" in x or x.get("available") is False:
            rows.append([name, x.get("error") or x.get("reason", "-"), "-", "-", "-"])
            continue
        rows.append([name, fmt(x.get("labelling_images_per_s"), 1), fmt(x.get("images_per_s"), 1),
                     fmt(x.get("seconds"), 1), fmt(x.get("peak_pss_mb"), 0)])
    head = ["route", "photos/s labelling", "photos/s whole run", "whole run, s", "peak PSS, MB"]
    return f"{r['images']} photos, {r['cores']} cores.\n\n" + table(head, rows)


if __name__ == "__main__":  # python -m bench.batch_throughput memory [photos video_frames]
    import json

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if sys.argv[1:2] == ["memory"]:
        sizes = [int(a) for a in sys.argv[2:4]]
        print(json.dumps(memory(*sizes), indent=1))
    else:
        print(render(run()))
