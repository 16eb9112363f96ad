"""Temperature scaling (Guo et al. 2017): one scalar T, fitted by NLL on the selection split."""

from __future__ import annotations

import numpy as np

from model_contract import OutputKind, to_probabilities


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None))))


def fit_temperature(outputs: np.ndarray, y_true: np.ndarray, kind: OutputKind) -> float:
    """The T > 0 minimising the negative log-likelihood of softmax(logits / T) on (outputs, y_true).

    Searched on log T in [1/20, 20]; argmax (and so accuracy) does not change with T.
    """
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: nll(to_probabilities(outputs, kind, float(np.exp(log_t))), y_true),
        bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4},
    )
    return round(float(np.exp(result.x)), 4)
