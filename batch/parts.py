"""The resumable run directory beside the output (``labels.parquet.parts/``): the plan and the committed parts.

    plan.json                 the options and the files found, fixed by the first run (a resume reuses them)
    000012.parquet            the rows of task 12 (a chunk of consecutive photos)
    000013-00004.parquet      segment 4 of task 13 (a video), and 000013-00004.state, the video's state after it

Every file is written under a temporary name and renamed when complete, a segment's state before its rows,
so a part that exists is whole and a killed run leaves nothing half-written that a resume would count. A
resumed run skips what is committed and redoes only the tasks that were in flight.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from batch.rows import committed, write_parquet
from batch.sources import Kind, Source

PLAN = "plan.json"
PLAN_VERSION = 1


class RunMismatch(ValueError):
    """The run directory belongs to a run with other inputs or options."""


@dataclass(frozen=True)
class Task:
    id: int
    kind: Kind
    paths: tuple[str, ...]  # a chunk of photos, or one video


def plan_tasks(sources: list[Source], chunk_size: int) -> list[Task]:
    """Consecutive photos in chunks of ``chunk_size``; each video a task of its own; ids in input order."""
    tasks: list[Task] = []
    chunk: list[str] = []

    def flush() -> None:
        if chunk:
            tasks.append(Task(len(tasks), "image", tuple(chunk)))
            chunk.clear()

    for source in sources:
        if source.kind == "video":
            flush()
            tasks.append(Task(len(tasks), "video", (source.path,)))
        else:
            chunk.append(source.path)
            if len(chunk) == chunk_size:
                flush()
    flush()
    return tasks


class RunDir:
    def __init__(self, root: Path, tasks: list[Task], resumed: bool) -> None:
        self.root, self.tasks, self.resumed = root, tasks, resumed

    @classmethod
    def open(cls, root: Path, fingerprint: dict[str, Any], find: Callable[[], list[Source]],
             chunk_size: int) -> RunDir:
        """Resume the run in ``root`` (same fingerprint required) or start one there with the sources ``find``
        returns now."""
        fingerprint = json.loads(json.dumps(fingerprint))
        plan_path = root / PLAN
        if plan_path.is_file():
            plan = json.loads(plan_path.read_text())
            if plan.get("version") != PLAN_VERSION or plan.get("fingerprint") != fingerprint:
                raise RunMismatch(f"{root} holds an interrupted run with other inputs or options; run it again "
                                  "with those, or pass --overwrite to start this one afresh")
            for tmp in root.glob(".*.tmp"):
                tmp.unlink()
            tasks = [Task(t["id"], t["kind"], tuple(t["paths"])) for t in plan["tasks"]]
            return cls(root, tasks, resumed=True)
        tasks = plan_tasks(find(), chunk_size)
        root.mkdir(parents=True, exist_ok=True)
        plan = {"version": PLAN_VERSION, "fingerprint": fingerprint,
                "tasks": [{"id": t.id, "kind": t.kind, "paths": list(t.paths)} for t in tasks]}
        with committed(plan_path) as tmp:
            tmp.write_text(json.dumps(plan, indent=1))
        return cls(root, tasks, resumed=False)

    # photos
    def image_part(self, task: Task) -> Path:
        return self.root / f"{task.id:06d}.parquet"

    def commit_images(self, task: Task, table: pa.Table) -> None:
        write_parquet(table, self.image_part(task))

    # videos
    def segment_part(self, task: Task, segment: int) -> Path:
        return self.root / f"{task.id:06d}-{segment:05d}.parquet"

    def commit_segment(self, task: Task, segment: int, table: pa.Table, state: Any) -> None:
        part = self.segment_part(task, segment)
        with committed(part.with_suffix(".state")) as tmp:
            tmp.write_bytes(pickle.dumps(state))
        write_parquet(table, part)

    def segments(self, task: Task) -> list[Path]:
        return sorted(self.root.glob(f"{task.id:06d}-[0-9][0-9][0-9][0-9][0-9].parquet"))

    def video_state(self, task: Task) -> Any | None:
        """The state after the video's last committed segment (None: not started)."""
        segments = self.segments(task)
        if not segments:
            return None
        return pickle.loads(segments[-1].with_suffix(".state").read_bytes())  # our own file, written by commit_segment

    # both
    def is_done(self, task: Task) -> bool:
        if task.kind == "image":
            return self.image_part(task).is_file()
        state = self.video_state(task)
        return bool(state is not None and state.done)

    def parts(self, task: Task) -> list[Path]:
        return [self.image_part(task)] if task.kind == "image" else self.segments(task)

    def all_parts(self) -> Iterator[Path]:
        for task in self.tasks:
            yield from self.parts(task)

    def remove(self) -> None:
        shutil.rmtree(self.root)
