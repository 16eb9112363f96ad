"""Per video: emotion shares over time as a PNG (all faces, then each of the longest tracks) and a summary
table (one row for all faces, one per track). Pure functions of the video's rows; reads only the columns
it needs, one video at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from batch.rows import prob_column

MAX_BINS = 120
MAX_TRACK_PANELS = 6


def columns(labels: Sequence[str]) -> list[str]:
    return ["frame", "time_s", "track_id", "face_index", "emotion", *map(prob_column, labels)]


def _faces(rows: pa.Table) -> pa.Table:
    return rows.filter(pc.is_valid(rows["face_index"]))


def shares(times: np.ndarray, emotions: np.ndarray, labels: Sequence[str], edges: np.ndarray) -> np.ndarray:
    """(bins, labels): in each time bin, the fraction of faces whose top emotion is each label (0 without faces)."""
    counts = np.zeros((len(edges) - 1, len(labels)))
    if len(times):
        bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
        index = {label: i for i, label in enumerate(labels)}
        np.add.at(counts, (bins, np.array([index[e] for e in emotions], dtype=np.intp)), 1)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _edges(rows: pa.Table) -> np.ndarray:
    times = rows["time_s"].drop_null().to_numpy()
    start, end = (float(times.min()), float(times.max())) if len(times) else (0.0, 0.0)
    frames = len(pc.unique(rows["frame"].drop_null()))
    return np.linspace(start, max(end, start + 1e-3), max(1, min(MAX_BINS, frames)) + 1)


def _groups(faces: pa.Table) -> list[tuple[str, int | None, pa.Table]]:
    """("all faces", None, faces) and then the tracks with the most faces."""
    groups: list[tuple[str, int | None, pa.Table]] = [("all faces", None, faces)]
    tracks = faces["track_id"].drop_null()
    if len(tracks):
        counts = pc.value_counts(tracks).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], c["values"]))
        for c in counts:
            track = int(c["values"])
            groups.append((f"track {track}", track, faces.filter(pc.equal(faces["track_id"], track))))
    return groups


def figure(rows: pa.Table, labels: Sequence[str], title: str) -> Figure:
    """Stacked shares of each emotion over the video's time, one panel per group; white where no face was seen."""
    from matplotlib.figure import Figure  # imported when a video is drawn, not by every worker

    faces = _faces(rows)
    edges = _edges(rows)
    groups = _groups(faces)[: 1 + MAX_TRACK_PANELS]
    fig = Figure(figsize=(10, 1.2 + 1.9 * len(groups)))
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    colours = [f"C{i}" for i in range(len(labels))]
    centres = (edges[:-1] + edges[1:]) / 2
    for ax, (name, _, group) in zip(axes, groups, strict=True):
        share = shares(group["time_s"].to_numpy(), np.asarray(group["emotion"].to_pylist()), labels, edges)
        ax.stackplot(centres, share.T, labels=labels, colors=colours, step="mid")
        ax.set_ylim(0, 1)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylabel("share")
        ax.set_title(f"{name} ({group.num_rows} faces)", fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def summary(rows: pa.Table, labels: Sequence[str], source: str) -> pa.Table:
    """One row for all faces and one per track: time span, frames, faces, the dominant emotion, each emotion's
    share of the faces and mean probability."""
    faces = _faces(rows)
    sampled = len(pc.unique(rows["frame"].drop_null()))
    out = []
    for _, track, group in _groups(faces):
        emotions = group["emotion"].to_pylist()
        share = {label: emotions.count(label) / len(emotions) if emotions else 0.0 for label in labels}
        times = group["time_s"].to_numpy()
        row = {"source": source, "track_id": track, "frames_sampled": sampled,
               "frames_with_face": len(pc.unique(group["frame"])), "faces": group.num_rows,
               "first_s": float(times.min()) if len(times) else None,
               "last_s": float(times.max()) if len(times) else None,
               "dominant_emotion": max(share, key=lambda k: share[k]) if emotions else None}
        row |= {f"share_{label}": share[label] for label in labels}
        row |= {f"mean_p_{label}": (float(pc.mean(group[prob_column(label)]).as_py()) if emotions else None)
                for label in labels}
        out.append(row)
    return pa.Table.from_pylist(out)
