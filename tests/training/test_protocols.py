"""Protocols: official never trains on a test row; seed reproduces the notebook's leak and counts it."""

from __future__ import annotations

import numpy as np

from training.data import load_fer2013
from training.protocols import make_splits


def test_official_oversamples_training_rows_only_and_shares_no_row_with_test(fer2013):
    splits = make_splits(fer2013, "official", seed=0)
    train_rows = fer2013.rows[splits.train]
    test_rows = np.concatenate([fer2013.rows[splits.select], fer2013.rows[splits.report]])
    assert not np.isin(train_rows, test_rows).any()
    assert set(fer2013.usage[splits.train]) == {0}  # Training only
    counts = np.bincount(fer2013.labels[splits.train], minlength=7)
    assert (counts == 7215).all() and len(splits.train) == 7 * 7215  # balanced up to the largest class
    assert len(np.unique(splits.train)) == 28_709  # every training row kept
    assert len(splits.select) == len(splits.report) == 3_589
    assert splits.leak["test_rows_with_same_source_row_in_train"] == 0


def test_official_without_balancing_is_the_training_split_as_is(fer2013):
    splits = make_splits(fer2013, "official", seed=0, balance="none")
    np.testing.assert_array_equal(np.sort(splits.train), fer2013.indices("Training"))


def test_seed_protocol_reproduces_the_notebook_sizes_and_reports_its_leak(fer2013):
    splits = make_splits(fer2013, "seed", seed=0)
    assert len(splits.train) + len(splits.report) == 62_923  # 7 x 8,989 after oversampling everything
    assert len(splits.report) == 6_293
    leak = splits.leak
    assert leak["test_rows"] == 6_293
    assert 0.5 < leak["fraction_identical_pixels"] < 0.8  # most test faces were trained on
    assert leak["test_rows_with_identical_pixels_in_train"] >= leak["test_rows_with_same_source_row_in_train"]


def test_leak_report_counts_copies_exactly(make_csv):
    # 7 classes x 3 splits x 2 rows; the seed protocol repeats minority rows until classes balance,
    # and the report must count test rows whose source row is also in training.
    data = load_fer2013(make_csv(n_per_class=2))
    splits = make_splits(data, "seed", seed=3)
    expected = sum(1 for r in data.rows[splits.report] if r in set(data.rows[splits.train]))
    assert splits.leak["test_rows_with_same_source_row_in_train"] == expected
