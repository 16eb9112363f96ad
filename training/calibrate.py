"""Temperature scaling (Guo et al. 2017): one scalar T, fitted on the selection split (PublicTest).

Why T minimises the expected calibration error of the top label rather than the negative log-likelihood:
FER2013's labels are noisy (one annotator per face; people agree with them about 65% of the time). A wrong
label on a face the model gets right costs the NLL dearly, so the NLL-optimal T softens every answer until
the reported confidence falls below the accuracy. Measured on the seed CNN (PublicTest): the NLL-optimal
T = 1.24 leaves the model under-confident on the very split it was fitted on (mean confidence 0.632 at 65.45%
accuracy, ECE 0.030, against 0.024 at T = 1.1), and more so on PrivateTest (ECE 0.047). The same happens on
synthetic logits with 25% of the labels replaced at random (tests/training/test_calibrate.py). The service
reports the top label's probability as its confidence, so that is what T is fitted to.

One temperature cannot fix a miscalibration that differs by confidence level, and on held-out faces a binning
method does better: the top label's probability mapped by isotonic regression (``fit_confidence_map``, stored in
the contract as a ConfidenceMap). Chosen by 2-fold cross-validation inside PublicTest (bench/calibration_cv.py),
one method for every model by the lowest mean held-out ECE over the four FER2013 models: isotonic 0.0298,
histogram binning 0.0304, per-class biases then T 0.0378, one temperature 0.0444.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model_contract import ConfidenceMap, OutputKind, to_probabilities
from training.evaluate import ECE_BINS, expected_calibration_error

OBJECTIVES = ("ece", "nll")
METHODS = ("temperature", "isotonic")  # what fer-train export/amend/quantize --calibration fit
_COARSE = np.linspace(np.log(0.05), np.log(20.0), 121)  # T from 0.05 to 20 in steps of 5%, then 0.1% steps


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None))))


def fit_temperature(outputs: np.ndarray, y_true: np.ndarray, kind: OutputKind, objective: str = "ece") -> float:
    """The T > 0 minimising ``objective`` (ECE with 15 bins, or NLL) of softmax(logits / T) on (outputs, y_true).

    A grid over log T in [1/20, 20], refined around its best point (ECE is piecewise constant in T, so no
    gradient method); ties go to the T closest to 1. Argmax, and so accuracy, does not change with T.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"calibration objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
    loss = expected_calibration_error if objective == "ece" else nll

    def best_of(grid: np.ndarray) -> float:
        values = np.array([loss(to_probabilities(outputs, kind, float(np.exp(t))), y_true) for t in grid])
        ties = np.flatnonzero(values <= values.min() + 1e-12)
        return float(grid[ties[np.argmin(np.abs(grid[ties]))]])

    coarse = best_of(_COARSE)
    step = _COARSE[1] - _COARSE[0]
    return round(float(np.exp(best_of(np.linspace(coarse - step, coarse + step, 101)))), 4)


def fit_confidence_map(probs: np.ndarray, y_true: np.ndarray) -> ConfidenceMap:
    """Isotonic regression of "the top label is right" on the top label's probability: the knots of the
    non-decreasing piecewise-linear map (flat beyond them) that ConfidenceMap applies."""
    from sklearn.isotonic import IsotonicRegression

    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(confidence, correct)
    return ConfidenceMap(tuple(round(float(v), 6) for v in fit.X_thresholds_),
                         tuple(round(float(v), 6) for v in fit.y_thresholds_))


def calibrate(method: str, outputs: np.ndarray, y_true: np.ndarray, kind: OutputKind, split: str
              ) -> tuple[float, ConfidenceMap | None, dict[str, Any]]:
    """(temperature, confidence map, the contract's record of it) fitted on the selection split ``split``."""
    if method == "temperature":
        return (fit_temperature(outputs, y_true, kind), None,
                {"method": "temperature", "objective": "ece", "bins": ECE_BINS, "split": split})
    if method == "isotonic":
        return (1.0, fit_confidence_map(to_probabilities(outputs, kind), y_true),
                {"method": "top_label_isotonic", "objective": "squared_error", "split": split,
                 "chosen_by": "2-fold cross-validation inside PublicTest (python -m bench.calibration_cv)"})
    raise ValueError(f"calibration method must be one of {', '.join(METHODS)}; got {method!r}")
