"""Load and validate FER2013 in the Kaggle CSV format (``emotion,pixels,Usage``; plain or .gz).

Every row is validated; a bad file raises one DataError naming the row and the fault. Pixels are
parsed with vectorised numpy over the whole column (no Python loop per row or per pixel).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.errors import DataError

log = logging.getLogger(__name__)

FER2013_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
SIDE = 48
N_PIXELS = SIDE * SIDE


def _row(i: int) -> str:
    # Data row i is file line i + 2 (line 1 is the header): give both, people look for either.
    return f"row {i} (line {i + 2})"


@dataclass(frozen=True)
class FerData:
    """FER2013 in memory: images (N, 48, 48) uint8, labels (N,) int64, usage codes (N,) into USAGES."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    rows: np.ndarray  # index of each row in the original file (kept through subsetting / relabelling)
    label_names: tuple[str, ...]
    sha256: str  # of the uncompressed CSV bytes, so .csv and .csv.gz of the same data agree
    source: str
    votes: np.ndarray | None = None  # (N, n_labels) share of the crowd's votes per label (FER+), else None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def indices(self, usage: str) -> np.ndarray:
        """Positions (into this object's arrays) of the rows of one Usage split."""
        return np.flatnonzero(self.usage == USAGES.index(usage))

    def subset(self, positions: np.ndarray) -> FerData:
        return FerData(
            images=self.images[positions],
            labels=self.labels[positions],
            usage=self.usage[positions],
            rows=self.rows[positions],
            label_names=self.label_names,
            sha256=self.sha256,
            source=self.source,
            votes=None if self.votes is None else self.votes[positions],
        )

    def counts(self) -> dict[str, list[int]]:
        """Rows per class for each Usage split, plus the totals."""
        n = len(self.label_names)
        out = {u: np.bincount(self.labels[self.usage == k], minlength=n).tolist() for k, u in enumerate(USAGES)}
        out["total"] = np.bincount(self.labels, minlength=n).tolist()
        return out


def read_bytes(path: str | Path) -> bytes:
    """The uncompressed bytes of a CSV file (gzip detected by its magic number, not its name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip file ({exc})") from None
    return raw


def load_fer2013(path: str | Path) -> FerData:
    """Read and fully validate a Kaggle-format FER2013 CSV (``.csv`` or ``.csv.gz``)."""
    raw = read_bytes(path)
    sha = hashlib.sha256(raw).hexdigest()
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a valid CSV: {exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file") from None
    columns = [str(c).strip() for c in frame.columns]
    if sorted(columns) != sorted(COLUMNS):
        raise DataError(f"{path}: expected the columns {list(COLUMNS)}, found {columns}")
    frame.columns = columns
    if len(frame) == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    labels = _parse_labels(frame["emotion"].to_numpy(), len(FER2013_LABELS))
    usage = _parse_usage(frame["Usage"].to_numpy())
    images = parse_pixels(frame["pixels"].tolist()).reshape(-1, SIDE, SIDE)
    log.info("loaded %d rows from %s (sha256 %s)", len(labels), path, sha[:12])
    return FerData(
        images=images,
        labels=labels,
        usage=usage,
        rows=np.arange(len(labels)),
        label_names=FER2013_LABELS,
        sha256=sha,
        source=str(path),
    )


def _parse_labels(values: np.ndarray, n_classes: int) -> np.ndarray:
    stripped = np.char.strip(values.astype(str))
    is_int = np.char.isdigit(stripped)
    if not is_int.all():
        i = int(np.flatnonzero(~is_int)[0])
        raise DataError(f"{_row(i)}: emotion {values[i]!r} is not an integer label 0-{n_classes - 1}")
    labels = stripped.astype(np.int64)
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{_row(i)}: emotion label {labels[i]} is not in 0-{n_classes - 1}")
    return labels


def _parse_usage(values: np.ndarray) -> np.ndarray:
    codes = np.full(len(values), -1, dtype=np.int8)
    for k, name in enumerate(USAGES):
        codes[values == name] = k
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise DataError(f"{_row(i)}: Usage {values[i]!r} is not one of {', '.join(USAGES)}")
    return codes


def parse_pixels(strings: list[str], n_values: int = N_PIXELS, chunk_rows: int = 64) -> np.ndarray:
    """Parse space-separated 0-255 integers, ``n_values`` per string, into an (N, n_values) uint8 array.

    Vectorised: a chunk of rows is joined into one byte buffer and every token in it is decoded at
    once from the positions of its separators. Chunks keep the index arrays small (the whole file
    at once needs several GB of them and is slower). The first bad row is reported by DataError.
    """
    out = np.empty((len(strings), n_values), dtype=np.uint8)
    for first in range(0, len(strings), chunk_rows):
        chunk = strings[first : first + chunk_rows]
        out[first : first + len(chunk)] = _parse_chunk(chunk, n_values, first)
    return out


def _parse_chunk(strings: list[str], n_values: int, first_row: int) -> np.ndarray:
    def where(i: int) -> str:  # rows are numbered in the whole file, not in the chunk
        return _row(first_row + i)

    empty = [i for i, s in enumerate(strings) if not s]
    if empty:
        raise DataError(f"{where(empty[0])}: the pixels field is empty")
    try:
        blob = "\n".join(strings).encode("ascii")
    except UnicodeEncodeError:
        i = next(k for k, s in enumerate(strings) if not s.isascii())
        raise DataError(f"{where(i)}: pixels contain a non-ASCII character") from None
    buf = np.frombuffer(blob, dtype=np.uint8)
    is_newline = buf == ord("\n")
    is_sep = is_newline | (buf == ord(" "))
    is_digit = (buf >= ord("0")) & (buf <= ord("9"))
    row_starts = np.r_[0, np.flatnonzero(is_newline) + 1]

    def row_of(pos: int) -> int:
        return int(np.searchsorted(row_starts, pos, side="right") - 1)

    invalid = ~(is_sep | is_digit)
    if invalid.any():
        pos = int(np.flatnonzero(invalid)[0])
        raise DataError(
            f"{where(row_of(pos))}: pixels must be space-separated integers 0-255, found {chr(buf[pos])!r}"
        )
    sep_pos = np.flatnonzero(is_sep)
    starts = np.r_[0, sep_pos + 1]
    ends = np.r_[sep_pos, len(buf)]
    lengths = ends - starts
    token_row = np.r_[0, np.cumsum(is_newline[sep_pos])]
    if lengths.min() == 0:
        i = int(token_row[np.flatnonzero(lengths == 0)[0]])
        raise DataError(f"{where(i)}: pixels contain an empty value (a doubled, leading or trailing space)")
    counts = np.bincount(token_row, minlength=len(strings))
    wrong = np.flatnonzero(counts != n_values)
    if wrong.size:
        i = int(wrong[0])
        raise DataError(f"{where(i)}: expected {n_values} pixel values, found {counts[i]}")
    long = lengths > 3
    if long.any():
        k = int(np.flatnonzero(long)[0])
        raise DataError(
            f"{where(int(token_row[k]))}: pixel value {blob[starts[k]:ends[k]].decode()} is outside 0-255"
        )
    digits = buf.astype(np.int16) - ord("0")
    values = digits[ends - 1]
    two = lengths >= 2
    values[two] += 10 * digits[ends[two] - 2]
    three = lengths == 3
    values[three] += 100 * digits[ends[three] - 3]
    over = values > 255
    if over.any():
        k = int(np.flatnonzero(over)[0])
        raise DataError(f"{where(int(token_row[k]))}: pixel value {values[k]} is outside 0-255")
    return values.astype(np.uint8).reshape(len(strings), n_values)


def stratified_limit(data: FerData, limit: int, seed: int) -> FerData:
    """A stratified subset of about ``limit`` rows: same share of every (Usage, class) group."""
    if limit >= len(data):
        return data
    if limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    rng = np.random.default_rng(seed)
    groups = data.usage.astype(np.int64) * 100 + data.labels
    keep: list[np.ndarray] = []
    fraction = limit / len(data)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        take = max(1, round(len(members) * fraction))
        keep.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return data.subset(np.sort(np.concatenate(keep)))
