"""--init-from: a torch run starts from a shipped ONNX model's weights, exactly, with a new head where labels differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training.card import _parent_lines
from training.config import TrainConfig
from training.errors import TrainingError
from training.torch_model import VggFer
from training.warm_start import warm_start

MODELS = Path(__file__).resolve().parents[2] / "models"
VGG = MODELS / "fer2013_vgg.onnx"


def _faces(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def _onnx_probabilities(faces: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(VGG), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: faces[..., None].astype(np.float32)})[0]


def test_the_twin_started_from_the_shipped_vgg_computes_what_the_onnx_file_does():
    model = VggFer(7)
    assert warm_start(model, VGG, _faces(128), same_labels=True) == 22  # 8 convs, 8 norms, 3 dense x 2
    faces = _faces(32, seed=1)
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(faces).float()[:, None]
        mine = (torch.softmax(model(x), 1) + torch.softmax(model(torch.flip(x, dims=[3])), 1)) / 2  # its flip TTA
    assert np.abs(mine.numpy() - _onnx_probabilities(faces)).max() < 1e-4


def test_batchnorm_statistics_are_measured_so_train_mode_normalises_like_eval_mode():
    model = VggFer(7)
    faces = _faces(256)
    warm_start(model, VGG, faces, same_labels=True)
    x = torch.from_numpy(faces[:128]).float()[:, None] / 255.0
    with torch.no_grad():
        model.eval()
        evaluated = model.features(x)
        model.train()  # batch statistics instead of the running ones: close when these match the faces'
        trained = model.features(x)
    assert torch.allclose(evaluated, trained, atol=0.05 * float(evaluated.abs().max()))


def test_other_labels_keep_the_features_and_get_a_new_head():
    fresh = VggFer(8)
    head_before = fresh.head[-1].weight.detach().clone()
    assert warm_start(fresh, VGG, _faces(16), same_labels=False) == 20
    assert torch.equal(fresh.head[-1].weight, head_before)
    same = VggFer(7)
    warm_start(same, VGG, _faces(16), same_labels=True)
    assert torch.equal(fresh.features[0].weight, same.features[0].weight)
    assert torch.equal(fresh.head[0].weight, same.head[0].weight)


def test_a_model_of_another_architecture_is_refused_with_what_is_missing():
    with pytest.raises(TrainingError, match="not an exported VggFer"):
        warm_start(VggFer(7), MODELS / "fer2013_seed_cnn.onnx", _faces(8), same_labels=True)


def test_init_from_needs_the_torch_engine():
    with pytest.raises(ValueError, match="--init-from"):
        TrainConfig(data="x.csv", init_from=str(VGG))


def test_the_card_names_the_starting_model_and_the_time_in_all():
    t = {"train_seconds": 3600.0, "init_from": {"path": "models/fer2013_vgg.onnx", "sha256": "ab" * 32,
                                                "train_seconds": 7200.0, "epochs_run": 30, "hardware": "a CPU"}}
    (line,) = _parent_lines(t)
    assert "`models/fer2013_vgg.onnx` (sha256 `abababababab`)" in line
    assert "2 h 00 min for 30 epochs on a CPU; in all 3 h 00 min" in line
    assert _parent_lines({"train_seconds": 1.0}) == []


def test_a_run_starts_from_the_file_with_its_head_only_for_the_same_labels(tmp_path):
    from training.data import FER2013_LABELS
    from training.warm_start import file_sha256, start_from

    copied, sha = start_from(VGG, VggFer(8), _faces(16), (*FER2013_LABELS, "contempt"))
    assert copied == 20 and sha == file_sha256(VGG) and len(sha) == 64
    assert start_from(VGG, VggFer(7), _faces(16), FER2013_LABELS)[0] == 22
    with pytest.raises(TrainingError, match="no such file"):
        start_from(tmp_path / "missing.onnx", VggFer(7), _faces(4), FER2013_LABELS)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(TrainingError, match="not a readable ONNX file"):
        start_from(junk, VggFer(7), _faces(4), FER2013_LABELS)
