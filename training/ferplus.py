"""FER+ relabelling (Microsoft's ``fer2013new.csv``): crowd votes per row -> one majority label.

The rule is Microsoft's own "majority" mode (FERPlus ``ferplus.py``): drop single votes as outliers,
keep the top emotion only if it has more than half of the remaining votes, and drop the row when
no emotion does, or when the winner is ``unknown`` or ``NF`` (not a face).

Two label sets:
- ``ferplus``: the 7 FER2013 classes in FER2013's order; rows won by ``contempt`` are dropped
  (contempt has no FER2013 class).
- ``ferplus8``: the 7 FER2013 classes plus ``contempt`` as class 7.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from training.data import FER2013_LABELS, USAGES, DataError, FerData, read_bytes

VOTE_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "ferplus": FER2013_LABELS,
    "ferplus8": (*FER2013_LABELS, "contempt"),
}


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """Winning column index per row of (N, 10) vote counts, or -1 where there is no clear majority."""
    v = np.where(votes <= 1, 0, votes)  # single votes are outliers
    total = v.sum(axis=1)
    winner = v.argmax(axis=1)
    top = v.max(axis=1)
    return np.where((total > 0) & (top > 0.5 * total), winner, -1)


def load_votes(path: str, n_rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(votes (N, 10) int, usage codes (N,)) from fer2013new.csv, checked against the FER2013 file's row count
    (``None``: not checked)."""
    frame = pd.read_csv(io.BytesIO(read_bytes(path)), keep_default_na=False)
    missing = [c for c in ("Usage", *VOTE_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: not a FER+ label file, missing columns {missing}")
    if n_rows is not None and len(frame) != n_rows:
        raise DataError(f"{path}: has {len(frame)} rows but the FER2013 file has {n_rows}; they must align row by row")
    try:
        votes = frame[list(VOTE_COLUMNS)].to_numpy(dtype=np.int64)
    except ValueError:
        raise DataError(f"{path}: vote columns must hold integers") from None
    usage = frame["Usage"].map({u: k for k, u in enumerate(USAGES)})
    if usage.isna().any():
        i = int(np.flatnonzero(usage.isna().to_numpy())[0])
        raise DataError(f"{path}: row {i} has an unknown Usage {frame['Usage'].iloc[i]!r}")
    return votes, usage.to_numpy(dtype=np.int8)


def relabel(data: FerData, ferplus_csv: str, label_set: str = "ferplus") -> FerData:
    """FER2013 images with FER+ majority labels; rows without a usable label are dropped."""
    if label_set not in LABEL_SETS:
        raise DataError(f"unknown FER+ label set {label_set!r}; choose from {sorted(LABEL_SETS)}")
    names = LABEL_SETS[label_set]
    votes, usage = load_votes(ferplus_csv, n_rows=len(data))  # relabel the whole file, before any --limit
    votes, usage = votes[data.rows], usage[data.rows]
    if not np.array_equal(usage, data.usage):
        i = int(np.flatnonzero(usage != data.usage)[0])
        raise DataError(f"{ferplus_csv}: Usage of row {int(data.rows[i])} differs from the FER2013 file")
    winner = majority_labels(votes)
    # FER+ column index -> index in the label set (-1: dropped)
    mapping = np.array([names.index(c) if c in names else -1 for c in VOTE_COLUMNS])
    new = np.where(winner >= 0, mapping[winner], -1)
    keep = np.flatnonzero(new >= 0)
    out = data.subset(keep)
    return FerData(
        images=out.images, labels=new[keep], usage=out.usage, rows=out.rows,
        label_names=names, sha256=data.sha256, source=f"{data.source} + {ferplus_csv} ({label_set})",
        votes=vote_shares(votes[keep], names),
    )


def vote_shares(votes: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(N, len(names)) float32: each row's votes for the label set's emotions, single votes dropped as outliers
    (as the majority rule does), as shares summing to 1 (FER+'s "probability" training target)."""
    v = np.where(votes <= 1, 0, votes)[:, [VOTE_COLUMNS.index(n) for n in names]].astype(np.float32)
    return v / np.maximum(v.sum(axis=1, keepdims=True), 1e-9)


MAJORITY_RULE = ("FER+ majority labels (Microsoft's 'majority' mode): single votes are dropped as outliers; a face "
                 "counts when one emotion holds more than half of the remaining votes; faces won by 'unknown' or "
                 "'NF' (not a face), and faces without such a majority, are not scored")


def label_report(ferplus_csv: str, label_set: str) -> dict[str, object]:
    """The label rule and, per split, how many faces it scores and drops and why (for the contract and card)."""
    votes, usage = load_votes(ferplus_csv, None)
    return {"rule": MAJORITY_RULE, "label_set": label_set, "splits": drop_reasons(votes, usage, label_set)}


def drop_reasons(votes: np.ndarray, usage: np.ndarray, label_set: str) -> dict[str, dict[str, int]]:
    """Per Usage split: faces scored, and faces dropped by the majority rule, by reason."""
    names = LABEL_SETS[label_set]
    winner = majority_labels(votes)
    won = np.where(winner >= 0, np.array(VOTE_COLUMNS, dtype=object)[np.maximum(winner, 0)], None)
    out = {}
    for k, split in enumerate(USAGES):
        w = won[usage == k]
        out[split] = {"scored": int(sum(x in names for x in w)),
                      "no_majority": int(sum(x is None for x in w)),
                      "unknown": int(sum(x == "unknown" for x in w)),
                      "not_a_face": int(sum(x == "NF" for x in w)),
                      "contempt_without_a_class": int(sum(x == "contempt" and x not in names for x in w))}
    return out
