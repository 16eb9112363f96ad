"""The local route: the run's pending tasks over worker processes (one per core by default), each building its
Labeller once; every task commits its own parts, so the main process holds no rows. A tqdm bar counts photos
and sampled video frames, with rate and ETA.

At most two tasks per worker are queued at a time (memory stays flat however many files there are); videos go
first, longest first, so a long video does not start last and leave the other cores idle at the end.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tqdm import tqdm

from batch import video
from batch.labeller import Labeller, LabelOptions
from batch.parts import RunDir, Task

log = logging.getLogger(__name__)
QUEUED_PER_WORKER = 2

# Set in each worker process by _start_worker (a worker's pipeline is built once, not per task).
_labeller: Labeller | None = None
_progress: Any = None


class _Ticks:
    """Items done in a worker, sent to the main process's bar at most every 0.2 s."""

    def __init__(self) -> None:
        self.count, self.sent = 0, time.monotonic()

    def __call__(self, n: int = 1) -> None:
        self.count += n
        if time.monotonic() - self.sent > 0.2:
            self.flush()

    def flush(self) -> None:
        if self.count and _progress is not None:
            _progress.put(self.count)
        self.count, self.sent = 0, time.monotonic()


def _start_worker(options: LabelOptions, progress: Any) -> None:
    global _labeller, _progress
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s [worker] %(message)s")
    _labeller, _progress = Labeller(options), progress


def run_task(labeller: Labeller, rundir: RunDir, task: Task, tick: Any = lambda n=1: None) -> None:
    """Label one task and commit its parts (a video segment by segment, continuing a partial one)."""
    if task.kind == "image":
        rows = []
        for path in task.paths:
            rows += labeller.image(path)
            tick()
        rundir.commit_images(task, labeller.info.table(rows))
        return
    state = rundir.video_state(task)
    if state is not None and state.done:
        return
    for rows, after in labeller.video(task.paths[0], state, on_frame=tick):
        rundir.commit_segment(task, after.segment - 1, labeller.info.table(rows), after)


def _worker_task(root: Path, task: Task) -> None:
    assert _labeller is not None, "worker not started"
    ticks = _Ticks()
    try:
        run_task(_labeller, RunDir(root, [], resumed=True), task, ticks)
    finally:
        ticks.flush()


def _expected_items(task: Task, fps: float | None) -> int:
    if task.kind == "image":
        return len(task.paths)
    return video.expected_samples(video.probe(task.paths[0]), fps) or 0


def run(rundir: RunDir, options: LabelOptions, workers: int, progress: bool = True) -> None:
    pending = [t for t in rundir.tasks if not rundir.is_done(t)]
    sizes = {t.id: _expected_items(t, options.fps) for t in pending}
    pending.sort(key=lambda t: (t.kind != "video", -sizes[t.id], t.id))
    if not pending:
        return
    workers = max(1, min(workers, len(pending)))
    context = multiprocessing.get_context("spawn")  # fresh workers: no forked onnxruntime or OpenCV threads
    ticks = context.Queue()
    bar = tqdm(total=sum(sizes.values()), unit="frame", desc="labelling", disable=not progress, smoothing=0.1,
               dynamic_ncols=True)
    todo = iter(pending)
    in_flight: set[Future[None]] = set()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(options, ticks))
    try:
        while True:
            while len(in_flight) < QUEUED_PER_WORKER * workers and (task := next(todo, None)) is not None:
                in_flight.add(pool.submit(_worker_task, rundir.root, task))
            if not in_flight:
                break
            done, in_flight = wait(in_flight, timeout=0.25, return_when=FIRST_COMPLETED)
            _drain(ticks, bar)
            for future in done:
                future.result()  # a worker's exception stops the run; what was committed stays for a resume
        pool.shutdown()
        _drain(ticks, bar)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        bar.close()


def _drain(ticks: Any, bar: tqdm) -> None:
    while True:
        try:
            bar.update(ticks.get_nowait())
        except queue.Empty:
            return
