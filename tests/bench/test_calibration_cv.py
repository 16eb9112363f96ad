"""bench.calibration_cv: held-out halves tell a method that fixes miscalibration from one that does not."""

from __future__ import annotations

import numpy as np
import pytest

from bench.calibration_cv import METHODS, compare, cross_validated_ece, softmax


def sampled(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Labels drawn from softmax(logits): the logits are calibrated by construction."""
    p = softmax(logits)
    return (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)


def test_an_overconfident_model_is_fixed_by_a_temperature_on_held_out_halves():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (1200, 5))
    y = sampled(z, rng)
    overconfident = 3 * z
    none = cross_validated_ece(overconfident, y, METHODS["none"], repeats=3)
    fixed = cross_validated_ece(overconfident, y, METHODS["temperature_ece"], repeats=3)
    assert none > 0.1 and fixed < none / 2


def test_a_shifted_class_prior_is_fixed_by_a_bias_and_chosen_on_publictest_only():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, (1600, 4))
    y = sampled(z, rng)
    shifted = z + np.array([2.0, 0.0, 0.0, -1.0])  # the model over-predicts class 0
    public, private = (shifted[:800], y[:800]), (shifted[800:], y[800:])
    result = compare(public, private)
    by = {r["method"]: r for r in result["rows"]}
    assert set(by) == set(METHODS)
    assert by["vector_scaling_nll"]["publictest_cv_ece"] < by["temperature_ece"]["publictest_cv_ece"]
    assert result["chosen_on_publictest"] == min(by, key=lambda m: by[m]["publictest_cv_ece"])
    assert result["chosen_on_publictest"] in {"vector_scaling_nll", "bias_nll_then_temperature_ece"}


def test_one_method_for_every_model_is_the_lowest_mean_of_their_held_out_eces():
    from bench.calibration_cv import across_models

    rows = [{"method": name, "publictest_cv_ece": 0.03} for name in METHODS]
    a = {"rows": [{**r, "publictest_cv_ece": 0.02} if r["method"] == "none" else r for r in rows]}
    b = {"rows": [{**r, "publictest_cv_ece": 0.05} if r["method"] == "none" else r for r in rows]}
    mean = across_models([a, b])
    assert set(mean) == set(METHODS)
    assert mean["none"] == pytest.approx(0.035) and mean["top_label_isotonic"] == pytest.approx(0.03)
