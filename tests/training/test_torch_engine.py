"""The PyTorch engine: its twin copies exactly into the Keras model, augmentation replays, runs resume exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.config import AUGMENT_PRESETS, TrainConfig
from training.model import build_model
from training.torch_augment import augment, batch_generator
from training.torch_fit import soft_cross_entropy
from training.torch_model import VggFer, build_torch_model, to_keras


def _randomise_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Trained-looking BatchNorm statistics, so the copy of running mean/var is really checked."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    last = [m for m in module.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.weight.data.mul_(200.0)  # confident outputs: an untrained model is nearly uniform


@pytest.mark.parametrize("n_classes", [7, 8])
def test_the_twin_copies_into_the_keras_model_exactly_on_real_faces(fer2013, n_classes):
    torch.manual_seed(0)
    twin = build_torch_model("vgg_fer", n_classes).eval()
    _randomise_batchnorm(twin)
    keras_model = to_keras(twin, build_model("vgg_fer", n_classes))
    assert sum(p.numel() for p in twin.parameters()) + sum(
        m.running_mean.numel() * 2 for m in twin.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ) == keras_model.count_params()
    faces = fer2013.images[:32]
    with torch.no_grad():
        expected = torch.softmax(twin(torch.from_numpy(faces)[:, None].float()), 1).numpy()
    got = keras_model.predict(faces[..., None].astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got, axis=0).max() > 1e-3  # the answers differ between faces: the comparison means something


def test_a_model_without_a_twin_is_a_clear_error():
    with pytest.raises(ValueError, match="no twin of architecture 'seed_cnn'"):
        build_torch_model("seed_cnn", 7)


def test_copying_into_a_different_architecture_is_refused():
    with pytest.raises(ValueError, match="do not have the same layers"):
        to_keras(VggFer(7), build_model("seed_cnn", 7))


def test_torch_augmentation_replays_from_its_seed_and_stays_in_range(fer2013):
    c = TrainConfig(data="x", **{**AUGMENT_PRESETS["strong"], "rotation": 10.0})
    x = torch.from_numpy(fer2013.images[:16])[:, None].float()
    a = augment(x, batch_generator(1, 3, 0), c)
    b = augment(x, batch_generator(1, 3, 0), c)
    other = augment(x, batch_generator(1, 3, 1), c)
    assert torch.equal(a, b) and not torch.allclose(a, other)
    assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 255.0 + 1e-3  # bilinear rounding


def test_torch_flip_only_mirrors_images(fer2013):
    c = TrainConfig(data="x", flip=True)
    x = torch.from_numpy(fer2013.images[:16])[:, None].float()
    out = augment(x, batch_generator(0, 0, 0), c)
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, x, strict=True)]
    assert all(torch.equal(o, i) or f for o, i, f in zip(out, x, flipped, strict=True))
    assert 0 < sum(flipped) < 16


def test_soft_cross_entropy_equals_the_usual_loss_on_one_hot_targets_and_smooths():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    labels = torch.tensor([0, 2])
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(soft_cross_entropy(logits, one_hot), torch.nn.functional.cross_entropy(logits, labels))
    assert torch.allclose(soft_cross_entropy(logits, one_hot, 0.1),
                          torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1))


def test_ema_needs_the_torch_engine():
    with pytest.raises(ValueError, match="needs --engine torch"):
        TrainConfig(data="x", ema=0.99)


@pytest.mark.slow
def test_an_interrupted_torch_run_resumes_to_the_same_result(fer2013_csv, tmp_path, monkeypatch):
    """One run straight through 2 epochs; another killed right after its epoch-1 checkpoint and resumed:
    same history, same weights average, same model."""
    from training import torch_fit
    from training.train import train

    config = TrainConfig(data=str(fer2013_csv), engine="torch", arch="vgg_fer", limit=640, epochs=2, batch_size=64,
                         lr=0.01, optimizer="sgd", weight_decay=5e-4, schedule="cosine", warmup_epochs=1,
                         label_smoothing=0.1, ema=0.99, balance="none", precision="fp32", seed=4,
                         **AUGMENT_PRESETS["strong"])
    straight = train(config, tmp_path / "straight")

    write_state = torch_fit._write_state

    def killed_after_checkpoint(ckpt_dir, state):
        write_state(ckpt_dir, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch_fit, "_write_state", killed_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "checkpoints" / "state.json").read_text())["epoch"] == 1
    monkeypatch.setattr(torch_fit, "_write_state", write_state)
    resumed = train(config, tmp_path / "resumed", resume=True)

    h1 = json.loads((tmp_path / "straight" / "history.json").read_text())
    h2 = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert set(h1) >= {"loss", "accuracy", "val_accuracy", "val_accuracy_raw", "lr"}
    assert h1 == h2
    assert straight["splits"]["PrivateTest"] == resumed["splits"]["PrivateTest"]
    assert straight["epochs_run"] == resumed["epochs_run"] == 2
