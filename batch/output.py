"""The end of a run: the committed parts merged, in input order, into the one output file (one part in
memory at a time), and each video's timeline PNG and summary table beside it in ``<out>_videos/``."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from batch import timeline
from batch.rows import RunInfo, TableWriter, committed

log = logging.getLogger(__name__)


@dataclass
class Totals:
    rows: int = 0
    faces: int = 0
    items: int = 0  # photos and video frames (each has one row without a face index or with index 0)
    errors: Counter[str] = field(default_factory=Counter)
    videos: list[Path] = field(default_factory=list)  # timeline PNGs written
    label_s: float | None = None  # the labelling itself: workers' start, reading, detecting, classifying, parts

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        self.faces += table.num_rows - table["face_index"].null_count
        first = pc.fill_null(pc.equal(table["face_index"], 0), True)
        self.items += pc.sum(first.cast("int64")).as_py() or 0
        codes = table["error_code"].drop_null().to_pylist()
        self.errors.update(codes)

    def describe(self) -> str:
        errors = ", ".join(f"{code} {n}" for code, n in sorted(self.errors.items())) or "none"
        text = f"{self.rows} rows, {self.faces} faces, errors: {errors}"
        if self.label_s:
            text += f"; labelled {self.items} photos and video frames in {self.label_s:.1f} s " \
                    f"({self.items / self.label_s:.1f}/s)"
        return text


def videos_dir(out: Path) -> Path:
    return out.with_name(out.stem + "_videos")


def video_stem(source: str) -> str:
    """A file name for a video's artefacts: its own name and a short hash of its path (two clips may share a name)."""
    digest = hashlib.sha1(source.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{Path(source).stem}-{digest}"


def merge(parts: Iterable[Path], out: Path, info: RunInfo) -> Totals:
    totals = Totals()
    with TableWriter(out, info.schema) as writer:
        for part in parts:
            table = pq.read_table(part)
            writer.write(table)
            totals.add(table)
    return totals


def write_video(source: str, rows: pa.Table, info: RunInfo, folder: Path, fmt: str) -> Path:
    """The timeline PNG and the summary table of one video (rows: its rows, timeline.columns at least)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = video_stem(source)
    png = folder / f"{stem}.timeline.png"
    with committed(png) as tmp:
        timeline.figure(rows, info.labels, source).savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    table = timeline.summary(rows, info.labels, source)
    with TableWriter(folder / f"{stem}.summary{fmt}", table.schema) as writer:
        writer.write(table)
    return png


def video_rows(parts: Iterable[Path], info: RunInfo) -> pa.Table:
    columns = timeline.columns(info.labels)
    tables = [pq.read_table(p, columns=columns) for p in parts]
    return pa.concat_tables(tables) if tables else info.schema.empty_table().select(columns)


def write_videos(videos: Iterable[tuple[str, pa.Table]], out: Path, info: RunInfo, totals: Totals) -> None:
    """Artefacts for each (source, rows) of a video that was read (a video that failed has its error row only)."""
    for source, rows in videos:
        if rows["frame"].null_count == rows.num_rows:
            continue
        totals.videos.append(write_video(source, rows, info, videos_dir(out), out.suffix.lower()))
