"""The learning-rate schedule both engines share (training/train.py scheduled_lr)."""

from __future__ import annotations

import itertools
import json

import pytest

from training.config import TrainConfig
from training.train import scheduled_lr

STEPS = 50  # batches per epoch


def per_batch(config: TrainConfig, epochs: int) -> list[float]:
    """The rate of every update as the torch engine sets it (once a batch)."""
    return [scheduled_lr(config, epoch + batch / STEPS, 1 / STEPS) for epoch in range(epochs) for batch in range(STEPS)]


def cosine(ramp: str, warmup: int = 2) -> TrainConfig:
    return TrainConfig(data="x.csv", lr=0.01, min_lr=0.0, schedule="cosine", warmup_epochs=warmup, epochs=10,
                       warmup_ramp=ramp)


@pytest.mark.parametrize("warmup", [1, 2])
def test_a_linear_warm_up_climbs_to_the_peak_and_never_above_it(warmup):
    rates = per_batch(cosine("linear", warmup), 10)
    ramp = rates[:warmup * STEPS]
    assert all(a < b for a, b in itertools.pairwise(ramp))  # strictly rising
    assert ramp[-1] == pytest.approx(0.01)  # the last warm-up update is at the peak
    assert ramp[0] == pytest.approx(0.01 / (warmup * STEPS))
    assert max(rates) == pytest.approx(0.01)
    after = rates[warmup * STEPS:]
    assert after[0] == pytest.approx(0.01)  # the cosine starts where the warm-up ended: no jump
    assert all(a >= b for a, b in itertools.pairwise(after))


@pytest.mark.parametrize(("warmup", "peak"), [(1, 2.0), (2, 1.5)])
def test_the_overshoot_ramp_reproduces_the_old_torch_warm_up(warmup, peak):
    """What the shipped VGGs were trained with: lr * (epoch + 1) / warm-up epochs at a fractional epoch."""
    config = cosine("overshoot", warmup)
    rates = per_batch(config, warmup)
    expected = [0.01 * (epoch + batch / STEPS + 1) / warmup for epoch in range(warmup) for batch in range(STEPS)]
    assert rates == pytest.approx(expected)
    assert max(rates) == pytest.approx(0.01 * peak, rel=0.02)


def test_once_an_epoch_both_ramps_give_the_keras_staircase():
    for ramp in ("linear", "overshoot"):
        config = cosine(ramp, warmup=2)
        assert [scheduled_lr(config, e) for e in range(2)] == pytest.approx([0.005, 0.01])


def test_a_run_saved_before_the_ramp_existed_resumes_with_its_own_warm_up(tmp_path):
    path = tmp_path / "config.json"
    old = json.loads(cosine("linear").to_json())
    del old["warmup_ramp"]
    path.write_text(json.dumps(old))
    assert TrainConfig.load(path).warmup_ramp == "overshoot"
    cosine("linear").save(path)
    assert TrainConfig.load(path).warmup_ramp == "linear"


def test_an_unknown_ramp_is_refused():
    with pytest.raises(ValueError, match="warmup_ramp"):
        cosine("sideways")
