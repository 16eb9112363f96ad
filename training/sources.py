"""Label sources: FER2013's own labels or FER+ majority votes, and loading a dataset with them."""

from __future__ import annotations

import json
from pathlib import Path

from training.data import FER2013_LABELS, FerData, load_fer2013
from training.ferplus import LABEL_SETS, relabel


def label_names(source: str) -> tuple[str, ...]:
    if source == "fer2013":
        return FER2013_LABELS
    if source in LABEL_SETS:
        return LABEL_SETS[source]
    raise ValueError(f"unknown label source {source!r}; choose from fer2013, {', '.join(sorted(LABEL_SETS))}")


def load_dataset(data: str, labels: str = "fer2013", ferplus_csv: str | None = None) -> FerData:
    """FER2013 from ``data``, relabelled with FER+ votes when ``labels`` is a FER+ label set."""
    label_names(labels)  # fail on an unknown source before the slow read
    dataset = load_fer2013(data)
    if labels == "fer2013":
        return dataset
    if not ferplus_csv:
        raise ValueError(f"labels {labels!r} need the FER+ file (fer2013new.csv)")
    return relabel(dataset, ferplus_csv, labels)


def run_label_names(run_dir: Path, n_outputs: int) -> tuple[str, ...]:
    """Label names of a model saved in a run directory (from its config.json), else FER2013's."""
    config = run_dir / "config.json"
    source = json.loads(config.read_text()).get("labels", "fer2013") if config.is_file() else "fer2013"
    names = label_names(source)
    if len(names) != n_outputs:
        raise ValueError(f"{run_dir}: the model has {n_outputs} outputs but label source {source!r} has {len(names)}")
    return names
