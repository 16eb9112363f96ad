"""The model card's honest table: which row it tells users to quote, and what it marks pending."""

from __future__ import annotations

import json
from pathlib import Path

from training.card import _seed_table


def _run(tmp_path: Path, name: str, report_split: str, accuracy: float, n: int, dup: int) -> Path:
    run = tmp_path / name
    run.mkdir()
    metrics = {"report_split": report_split, "train_seconds": 8_970.6, "epochs_run": 35, "selected_epoch": 30,
               "splits": {report_split: {"n": n, "accuracy": accuracy, "macro_f1": accuracy - 0.02}},
               "leak": {"test_rows_with_identical_pixels_in_train": dup, "fraction_identical_pixels": dup / n}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_seed_run_alone_marks_the_official_row_pending_and_quotes_nothing(tmp_path):
    seed = _run(tmp_path, "seed", "seed_test", 0.8123, 6_293, 3_980)
    text = "\n".join(_seed_table(seed, None))
    assert "| `seed` (reproduced) | 10% split after oversampling (n=6,293) | 81.23% | 0.7923 | 3,980 (63.24%) |" in text
    assert "**Pending:** the same recipe under the `official` protocol" in text
    assert "number to quote" not in text
    assert "Training time on the hardware below: `seed` 2 h 29 min for 35 epochs." in text


def test_both_runs_give_the_official_row_as_the_number_to_quote(tmp_path):
    seed = _run(tmp_path, "seed", "seed_test", 0.8123, 6_293, 3_980)
    official = _run(tmp_path, "official", "PrivateTest", 0.6012, 3_589, 12)
    lines = _seed_table(seed, official)
    rows = [line for line in lines if line.startswith("| `")]
    assert rows[-1].startswith("| `official` | PrivateTest (n=3,589) | 60.12% | 0.5812 | 0 rows shared; 12 (0.33%)")
    assert "The last row is the number to quote for the notebook's model." in lines
    assert not any("Pending" in line for line in lines)
    assert ("Training time on the hardware below: `seed` 2 h 29 min for 35 epochs; `official` 2 h 29 min for "
            "35 epochs (selected epoch 30 on PublicTest).") in lines


def test_a_ferplus_card_states_the_label_rule_and_the_faces_scored_and_dropped(ferplus_csv):
    from training.card import _label_lines
    from training.ferplus import label_report

    report = label_report(str(ferplus_csv), "ferplus8")
    text = "\n".join(_label_lines({"labels": report}))
    private = report["splits"]["PrivateTest"]
    assert "single votes are dropped as outliers" in text and "more than half" in text
    assert (f"| PrivateTest | {private['scored']:,} | {private['no_majority']:,} | {private['unknown']:,} | "
            f"{private['not_a_face']:,} |") in text
    assert private["scored"] == 3_153  # what the FER+ majority rule scores of the 3,589 PrivateTest faces


def test_the_card_says_when_the_crop_rule_was_chosen_for_another_model():
    from model_contract import CropSpec, ModelContract
    from training.card import results_section
    from training.data import FER2013_LABELS

    metrics = {"PublicTest": {"n": 10, "accuracy": 0.5, "macro_f1": 0.4, "ece_uncalibrated": 0.1, "ece": 0.05}}
    contract = ModelContract(name="m", version="1", labels=FER2013_LABELS, crop=CropSpec(shape="square"),
                             training={"crop_chosen_for": "fer2013_seed_cnn"})
    text = "\n".join(results_section(contract, metrics))
    assert "chose for `fer2013_seed_cnn` on PublicTest faces in frames, not re-measured for this model" in text
    own = "\n".join(results_section(contract.with_updates(training={}), metrics))
    assert "(chosen on PublicTest faces in frames: `python -m bench.crop_eval`)" in own
