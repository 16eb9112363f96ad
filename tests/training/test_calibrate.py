"""Temperature scaling and expected calibration error."""

import numpy as np
import pytest

from model_contract import to_probabilities
from training.calibrate import fit_temperature
from training.evaluate import compute_metrics, expected_calibration_error


def overconfident(n: int = 20_000, true_t: float = 2.5, seed: int = 0):
    """Logits z; labels drawn from softmax(z / true_t): softmax(z) itself is overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, size=(n, 7))
    p_true = to_probabilities(z, "logits", true_t)
    y = np.array([rng.choice(7, p=p) for p in p_true])
    return z, y


def test_fit_temperature_recovers_the_true_temperature():
    z, y = overconfident()
    for objective in ("ece", "nll"):
        assert abs(fit_temperature(z, y, "logits", objective) - 2.5) < 0.15, objective


def test_with_noisy_labels_the_nll_temperature_is_under_confident_and_the_ece_one_is_not():
    """FER2013's situation: a quarter of the labels replaced at random. NLL softens too far; ECE does not."""
    z, y = overconfident(true_t=2.0)
    rng = np.random.default_rng(1)
    noisy = rng.random(len(y)) < 0.25
    y = np.where(noisy, rng.integers(0, 7, len(y)), y)
    accuracy = float((z.argmax(1) == y).mean())
    by_nll = to_probabilities(z, "logits", fit_temperature(z, y, "logits", "nll"))
    by_ece = to_probabilities(z, "logits", fit_temperature(z, y, "logits", "ece"))
    assert by_nll.max(1).mean() < accuracy - 0.02  # under-confident
    assert abs(by_ece.max(1).mean() - accuracy) < 0.01
    assert expected_calibration_error(by_ece, y) < 0.5 * expected_calibration_error(by_nll, y)


def test_an_unknown_objective_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="must be one of ece, nll"):
        fit_temperature(np.zeros((2, 3)), np.array([0, 1]), "logits", "brier")


def test_temperature_fitted_on_probabilities_equals_on_logits():
    z, y = overconfident(n=5_000)
    from_probs = fit_temperature(to_probabilities(z, "logits"), y, "probabilities")
    assert abs(from_probs - fit_temperature(z, y, "logits")) < 1e-3


def test_calibration_lowers_ece_and_keeps_predictions():
    z, y = overconfident()
    before = to_probabilities(z, "logits")
    after = to_probabilities(z, "logits", fit_temperature(z, y, "logits"))
    assert expected_calibration_error(after, y) < 0.5 * expected_calibration_error(before, y)
    np.testing.assert_array_equal(before.argmax(1), after.argmax(1))


def test_ece_is_zero_for_a_perfectly_calibrated_toy_and_large_for_a_liar():
    y = np.array([0, 0, 1, 1])
    honest = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])  # 50% confident, 50% right
    assert expected_calibration_error(honest, y) == 0.0
    liar = np.array([[0.99, 0.01]] * 4)  # 99% confident, 50% right
    assert abs(expected_calibration_error(liar, y) - 0.49) < 1e-9


def test_compute_metrics_on_a_known_confusion():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 0]]
    m = compute_metrics(probs, y, ("a", "b", "c"), "toy")
    assert m["accuracy"] == 0.6
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert abs(m["macro_f1"] - (0.5 + 0.8 + 0.0) / 3) < 1e-12


def test_an_isotonic_map_calibrates_held_out_faces_an_overconfident_model_got_wrong_by_level():
    from training.calibrate import calibrate, fit_confidence_map

    rng = np.random.default_rng(3)
    z = rng.normal(0, 2.0, (4000, 5))
    y = np.array([rng.choice(5, p=np.exp(r) / np.exp(r).sum()) for r in z / 2.5])  # truth is softer than z
    fit, held = slice(0, 2000), slice(2000, None)
    probs = to_probabilities(z, "logits")
    mapping = fit_confidence_map(probs[fit], y[fit])
    assert list(mapping.x) == sorted(mapping.x) and list(mapping.y) == sorted(mapping.y)
    before = expected_calibration_error(probs[held], y[held])
    after = expected_calibration_error(mapping.apply(probs[held]), y[held])
    assert after < before / 2 and (mapping.apply(probs[held]).argmax(1) == probs[held].argmax(1)).all()
    temperature, found, record = calibrate("isotonic", z[fit], y[fit], "logits", "PublicTest")
    assert temperature == 1.0 and found == mapping and record["method"] == "top_label_isotonic"
    with pytest.raises(ValueError, match="calibration method"):
        calibrate("platt", z, y, "logits", "PublicTest")
