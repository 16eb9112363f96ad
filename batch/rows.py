"""The one row schema of fer-batch (every output format has these columns, in this order) and its writers.

One row per face; a photo or a video frame without a face is one row with empty face columns; a file
that cannot be labelled is one row with ``error_code`` (the service's error codes, see labeller.py).
Parquet and CSV are written by pyarrow, JSON lines from the same Arrow table (json.dumps keeps every
float exactly, as /predict's JSON does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = (".parquet", ".csv", ".jsonl")
_FACE = [("source", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("track_id", pa.int64()),
         ("face_index", pa.int64()), ("box_x", pa.int64()), ("box_y", pa.int64()), ("box_w", pa.int64()),
         ("box_h", pa.int64()), ("detector_score", pa.float64()), ("emotion", pa.string()),
         ("confidence", pa.float64())]
_TAIL = [("image_width", pa.int64()), ("image_height", pa.int64()), ("model", pa.string()),
         ("model_version", pa.string()), ("detector", pa.string()), ("error_code", pa.string()),
         ("error_detail", pa.string())]


def prob_column(label: str) -> str:
    return f"p_{label}"


def schema(labels: Sequence[str]) -> pa.Schema:
    return pa.schema(_FACE + [(prob_column(label), pa.float64()) for label in labels] + _TAIL)


@dataclass(frozen=True)
class RunInfo:
    """What every row of one run shares: the model's labels and names, the detector."""

    labels: tuple[str, ...]
    model: str
    model_version: str
    detector: str

    @property
    def schema(self) -> pa.Schema:
        return schema(self.labels)

    def _base(self, source: str, frame: int | None, time_s: float | None) -> dict[str, Any]:
        return {"source": source, "frame": frame, "time_s": time_s, "model": self.model,
                "model_version": self.model_version, "detector": self.detector}

    def face_rows(self, source: str, faces: list[dict[str, Any]], width: int, height: int,
                  frame: int | None = None, time_s: float | None = None,
                  track_ids: Sequence[int | None] | None = None) -> list[dict[str, Any]]:
        """Rows from the pipeline's faces (the dicts /predict returns), largest first; one row if there are none."""
        base = self._base(source, frame, time_s) | {"image_width": width, "image_height": height}
        if not faces:
            return [base]
        rows = []
        for index, face in enumerate(faces):
            box = face["box"]
            row = base | {"face_index": index, "box_x": box["x"], "box_y": box["y"], "box_w": box["w"],
                          "box_h": box["h"], "detector_score": face["detector"]["score"],
                          "emotion": face["emotion"], "confidence": face["confidence"],
                          "track_id": None if track_ids is None else track_ids[index]}
            row |= {prob_column(label): face["probabilities"][label] for label in self.labels}
            rows.append(row)
        return rows

    def error_row(self, source: str, code: str, detail: str, frame: int | None = None,
                  time_s: float | None = None) -> dict[str, Any]:
        return self._base(source, frame, time_s) | {"error_code": code, "error_detail": detail}

    def table(self, rows: list[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=self.schema)


class OutputFormatError(ValueError):
    """An output path whose extension names no format fer-batch writes."""


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputFormatError(f"{path}: the output format follows the extension; use one of {', '.join(FORMATS)}")
    return suffix


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def committed(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed to ``path`` only when the block succeeds, so a
    reader (or a resumed run) sees the whole file or none of it."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(table: pa.Table, path: Path) -> None:
    with committed(path) as tmp:
        pq.write_table(table, tmp)


class TableWriter:
    """One output file in the format of its extension, written table by table, committed on close()."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema, self.rows = path, schema, 0
        self.format = output_format(path)
        self._tmp = temporary_name(path)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._text: IO[str] | None = None
        if self.format == ".parquet":
            self._parquet = pq.ParquetWriter(self._tmp, schema)
        elif self.format == ".csv":
            self._csv = pacsv.CSVWriter(self._tmp, schema)
        else:
            self._text = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115  (closed in close/abort)

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        if self._parquet is not None:
            self._parquet.write_table(table)
        elif self._csv is not None:
            self._csv.write_table(table)
        elif self._text is not None:
            self._text.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist())
        self.rows += table.num_rows

    def _close_file(self) -> None:
        for f in (self._parquet, self._csv, self._text):
            if f is not None:
                f.close()

    def close(self) -> None:
        self._close_file()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._close_file()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_table(path: Path) -> pa.Table:
    """An output file back as Arrow (tests, timelines): Parquet, CSV or JSON lines."""
    fmt = output_format(path)
    if fmt == ".parquet":
        return pq.read_table(path)
    if fmt == ".csv":
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
    return pa.Table.from_pylist(rows)
