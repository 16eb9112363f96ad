"""The FER+ majority rule (Microsoft's 'majority' mode) on hand-made vote rows."""

import numpy as np
import pytest

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


def test_vote_shares_drop_single_votes_and_sum_to_one():
    from training.ferplus import LABEL_SETS, vote_shares

    names = LABEL_SETS["ferplus8"]
    shares = vote_shares(np.concatenate([votes(happiness=6, surprise=3, anger=1), votes(contempt=4, neutral=4, NF=2)]),
                         names)
    assert shares.shape == (2, 8)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-6)
    assert shares[0, names.index("happiness")] == pytest.approx(6 / 9)  # the single anger vote is dropped
    assert shares[0, names.index("anger")] == 0.0
    assert shares[1, names.index("contempt")] == shares[1, names.index("neutral")] == pytest.approx(0.5)


def test_real_ferplus_private_test_faces_scored_and_dropped_by_reason(ferplus_csv):
    from training.data import USAGES
    from training.ferplus import drop_reasons, load_votes

    votes, usage = load_votes(str(ferplus_csv), 35_887)
    reasons = drop_reasons(votes, usage, "ferplus8")
    private = reasons["PrivateTest"]
    assert sum(private.values()) == int((usage == USAGES.index("PrivateTest")).sum()) == 3_589
    assert private["contempt_without_a_class"] == 0 and private["not_a_face"] > 0 and private["no_majority"] > 0
    assert private["scored"] == int((majority_labels(votes[usage == USAGES.index("PrivateTest")]) >= 0).sum()
                                    - private["unknown"] - private["not_a_face"])
    assert drop_reasons(votes, usage, "ferplus")["PrivateTest"]["contempt_without_a_class"] > 0


def test_vote_targets_need_ferplus_labels_and_the_torch_engine():
    from training.config import TrainConfig

    with pytest.raises(ValueError, match="--targets votes"):
        TrainConfig(data="x", targets="votes", engine="torch")
    TrainConfig(data="x", targets="votes", engine="torch", labels="ferplus8", ferplus_csv="y")
