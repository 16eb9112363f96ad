"""The FER+ majority rule (Microsoft's 'majority' mode) on hand-made vote rows."""

import numpy as np

from training.ferplus import VOTE_COLUMNS, majority_labels


def votes(**counts: int) -> np.ndarray:
    return np.array([[counts.get(c, 0) for c in VOTE_COLUMNS]])


def test_clear_majority_wins():
    assert majority_labels(votes(happiness=8, neutral=2))[0] == VOTE_COLUMNS.index("happiness")


def test_single_votes_are_outliers_and_do_not_count():
    # 5 of 9 raw votes is a majority only after the three single votes are dropped: 5 of 6.
    assert majority_labels(votes(sadness=5, anger=1, fear=1, disgust=1, neutral=1))[0] == VOTE_COLUMNS.index("sadness")


def test_no_majority_is_dropped():
    assert majority_labels(votes(anger=5, disgust=5))[0] == -1
    assert majority_labels(votes(neutral=1, happiness=1))[0] == -1  # all single votes


def test_unknown_and_not_a_face_win_like_any_column():
    # The winner index points at unknown/NF; relabel() maps those to "dropped".
    assert VOTE_COLUMNS[majority_labels(votes(NF=10))[0]] == "NF"
    assert VOTE_COLUMNS[majority_labels(votes(unknown=6, neutral=4))[0]] == "unknown"
