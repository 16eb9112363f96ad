"""Evaluation protocols: which rows train, which select the model, which report the result.

- ``official``: train on Training (oversampled: Training rows only), select on PublicTest, report on
  PrivateTest. The leak-free number.
- ``seed``: the thesis notebook, reproduced to compare with its 81.31%: oversample ALL rows, then
  ``train_test_split(test_size=0.1, random_state=45)``. Copies of test faces land in training; the
  leak report counts them so both numbers can be read side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from training.data import FerData

Protocol = Literal["official", "seed"]
PROTOCOLS: tuple[str, ...] = ("official", "seed")
SEED_SPLIT_RANDOM_STATE = 45  # the notebook's train_test_split(random_state=45)
SEED_TEST_SIZE = 0.1


@dataclass(frozen=True)
class Splits:
    """Positions into a FerData: train (possibly repeated by oversampling), select, report."""

    train: np.ndarray
    select: np.ndarray
    report: np.ndarray
    select_name: str
    report_name: str
    leak: dict[str, float | int] | None = None


def oversample(positions: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """imbalanced-learn RandomOverSampler over positions: every class repeated up to the largest."""
    from imblearn.over_sampling import RandomOverSampler

    sampler = RandomOverSampler(random_state=seed)
    sampler.fit_resample(positions.reshape(-1, 1), labels)
    return positions[sampler.sample_indices_]


def make_splits(data: FerData, protocol: str, seed: int, balance: str = "oversample") -> Splits:
    if protocol == "official":
        train = data.indices("Training")
        if balance == "oversample":
            train = oversample(train, data.labels[train], seed)
        select, report = data.indices("PublicTest"), data.indices("PrivateTest")
        # No row is shared; identical pixels can still occur: FER2013 itself holds duplicate images.
        return Splits(train, select, report, "PublicTest", "PrivateTest", leak=leak_report(data, train, report))
    if protocol == "seed":
        return _seed_splits(data, seed)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")


def _seed_splits(data: FerData, seed: int) -> Splits:
    from sklearn.model_selection import train_test_split

    everything = oversample(np.arange(len(data)), data.labels, seed)
    # Splitting positions is the same split as the notebook's split of the arrays: without
    # stratification, train_test_split's permutation depends only on the length and random_state.
    train_pos, test_pos = train_test_split(
        np.arange(len(everything)), test_size=SEED_TEST_SIZE, random_state=SEED_SPLIT_RANDOM_STATE
    )
    train, test = everything[train_pos], everything[test_pos]
    # The notebook validated on its test split each epoch and kept the last epoch's model.
    return Splits(train, test, test, "seed_test", "seed_test", leak=leak_report(data, train, test))


def leak_report(data: FerData, train: np.ndarray, test: np.ndarray) -> dict[str, float | int]:
    """How many test rows have an identical copy in training: same source row, or same pixels."""
    same_row = np.isin(data.rows[test], data.rows[train])
    train_hashes = {_digest(data.images[i]) for i in np.unique(train)}
    same_pixels = np.fromiter((_digest(data.images[i]) in train_hashes for i in test), dtype=bool, count=len(test))
    n = len(test)
    return {
        "test_rows": n,
        "test_rows_with_same_source_row_in_train": int(same_row.sum()),
        "test_rows_with_identical_pixels_in_train": int(same_pixels.sum()),
        "fraction_identical_pixels": float(same_pixels.mean()) if n else 0.0,
        "fraction_same_source_row": float(same_row.mean()) if n else 0.0,
    }


def _digest(image: np.ndarray) -> bytes:
    return image.tobytes()  # 2,304 bytes: exact-copy detection without a hash collision risk
